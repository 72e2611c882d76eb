// The scheduler's core: construction, run(), the switch, park and yield, a
// fiber's start and finish, failure and shutdown. The M:N workers are in
// scheduler_mn.cpp, the reactor, timers and offload glue in scheduler_io.cpp.
#include "models/fiber/scheduler.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>

#include "models/fiber/invariant.hpp"
#include "models/fiber/sanitizers.hpp"

namespace cmbench::fiber {

namespace {
unsigned resolve_threads(unsigned threads) noexcept {
  if (threads == 0) threads = std::thread::hardware_concurrency();
  return threads == 0 ? 1 : threads;
}
}  // namespace

Scheduler::Scheduler(std::size_t stack_size, unsigned threads)
    : pool_(stack_size), threads_(resolve_threads(threads)), multi_(threads_ > 1) {
  w0_.sched = this;
  pool_.set_shared(multi_);
  set_running_unit_probe(&Scheduler::running_unit);
  // M:N: made up front, so that no worker ever reads the epoll descriptor
  // while another makes it; the eventfd lets any thread wake the worker
  // blocked in epoll.
  if (multi_) reactor_.open_wake();
}

Scheduler::~Scheduler() {
  if (live_ > 0) {
    Scheduler* outer = current_scheduler_;
    Worker* outer_worker = current_worker_;
    current_scheduler_ = this;
    current_worker_ = &w0_;
    shutdown();
    current_scheduler_ = outer;
    current_worker_ = outer_worker;
  }
}

// Not inlined, so that the thread-local is read afresh after every switch:
// a fiber may resume on another thread than the one it parked on, and a
// compiler may otherwise keep the thread-pointer-based address it computed
// before the switch.
[[gnu::noinline]] Scheduler::Worker& Scheduler::multi_here() noexcept {
  Worker* w = current_worker_;
  return w && w->sched == this ? *w : w0_;
}

std::string Scheduler::stack_protection() const {
  return fmt::format("guard page ({}) for the first {} stacks, canary beyond",
                     pool_.guards() == StackPool::Guards::regions ? "a guard region, MADV_GUARD_INSTALL"
                                                                  : "mprotect",
                     pool_.guard_budget());
}

std::string Scheduler::threading() const {
  if (!multi_)
    return "one thread; Go's run-queue order: a fiber just spawned or made ready runs next, "
           "then a local FIFO of 256 that spills into a global FIFO (models/fiber/run_queue.hpp)";
  return fmt::format(
      "M:N on {} threads in Go's shape: each with a runnext slot, a queue of 256 that idle threads "
      "steal half of, and a stock of finished fibers' stacks; a global queue under a lock; wait "
      "queues handed over locked and unlocked after the parked context is saved (resume_with), "
      "idle threads sleep on a futex",
      threads_);
}

void Scheduler::run() {
  if (current_scheduler_ != nullptr)
    throw std::logic_error("cmbench::fiber::Scheduler::run() called inside a running scheduler");
  current_scheduler_ = this;
  current_worker_ = &w0_;
  struct Reset {
    ~Reset() {
      current_scheduler_ = nullptr;
      current_worker_ = nullptr;
    }
  } reset;

  std::size_t stuck = 0;
  if (!multi_) {
    // The thread only ever resumes here when no fiber is runnable, every
    // fiber has finished, a fiber failed, or a fiber asked for
    // on_thread_stack(). With nothing runnable it waits in the reactor for a
    // descriptor, the nearest timer or an offload; with nothing to wait for
    // either, the fibers left are deadlocked.
    Worker& w = w0_;
    while (live_ > 0 && !error_) {
      ControlBlock* next = runq_.pick_next();
      if (!next) {
        if (!has_waiters()) break;
        poll(w, true);
        continue;
      }
      switch_to(next);
      while (w.thread_call) run_thread_call(w);
    }
    stuck = error_ ? 0 : live_;
  } else {
    run_threads();
    stuck = deadlocked_ && !error_ ? live_ : 0;
  }
  if (live_ > 0) shutdown();
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  if (stuck > 0)
    throw FiberDeadlock(fmt::format(
        "cmbench::fiber: deadlock: {} fibers were parked and none could run; they were unwound",
        stuck));
}

void Scheduler::yield() {
  Worker& w = here();
  ControlBlock* self = w.current;
  if (self == &w.main) return;
  if (self->cancelled) throw FiberCancelled{};
  if (!multi_) {
    // A fiber that yields in a loop while it waits for I/O or a timer must
    // let the reactor see them even when it is the only runnable fiber.
    if (!runq_.has_ready_fibers() && has_waiters()) poll(w, false);
    if (!runq_.has_ready_fibers()) return;  // nothing else can run: carry on
    // Picked before this fiber is queued: the pick may serve the global
    // queue, where this fiber must not find itself.
    ControlBlock* next = next_to_run();
    runq_.yielded(self);  // Go's Gosched: the global queue's tail
    switch_to(next);
  } else {
    ControlBlock* next = next_to_run_shared(w);
    if (next == &w.main && !stopping_.load(std::memory_order_relaxed)) {
      if (!has_waiters()) return;
      poll_round_shared(w);
      next = next_to_run_shared(w);
      if (next == &w.main && !stopping_.load(std::memory_order_relaxed)) return;
    }
    // Back on the run queue only once this fiber's context is saved.
    switch_publish(next, nullptr, true);
  }
  if (self->cancelled) throw FiberCancelled{};
}

void Scheduler::park() {
  Worker& w = here();
  ControlBlock* self = w.current;
  if (self == &w.main)
    throw std::logic_error(
        "cmbench::fiber: a blocking operation was called outside a fiber (it would park the "
        "thread that runs the scheduler)");
  if (self->cancelled) throw FiberCancelled{};
  if (!multi_) {
    // The round poll that next_to_run() may make can ready this very fiber
    // (its descriptor came ready, or its timer fell due): it is then the
    // next to run, already running, and simply carries on. Switching to it
    // would start it a second time on a second stack (the echo/fiber crash).
    ControlBlock* next = next_to_run();
    if (next != self) switch_to(next);
  } else {
    // In M:N mode a parking fiber holds its wait queue's lock across the
    // switch (park(SpinLock*)), so no poll can ready it before it has left.
    switch_publish(next_to_run_shared(w), nullptr, false);
  }
  if (self->cancelled) throw FiberCancelled{};
}

void Scheduler::park(SpinLock* held) {
  if (!multi_) {
    // Locked only because an M:N scheduler runs elsewhere in the process:
    // nothing on another thread can reach this one's fibers.
    if (held) held->unlock();
    park();
    return;
  }
  if (!held) {
    park();
    return;
  }
  Worker& w = here();
  ControlBlock* self = w.current;
  if (self == &w.main || self->cancelled) {
    held->unlock();
    if (self == &w.main) park();  // throws the logic_error
    throw FiberCancelled{};
  }
  ControlBlock* next;
  if (held == &lock_) {
    // The caller holds the scheduler's lock (reactor, timers): take the next
    // fiber under it, without a poll (a worker's own queue is locked inside
    // lock_, never the other way round).
    next = nullptr;
    if (!stopping_.load(std::memory_order_relaxed)) {
      if (w.batch_since != 0) share_batch(w, true);
      next = std::exchange(w.runnext, nullptr);
      if (!next) next = w.local.pop();
      if (!next) next = runq_.pick_next();
    }
    if (!next) next = &w.main;
  } else {
    next = next_to_run_shared(w);
  }
  switch_publish(next, held, false);
  if (self->cancelled) throw FiberCancelled{};
}

// The polling policy lives here: with descriptors, timers or offloads
// pending, every `round` switches (the run queue's length at the last poll,
// at least kPollRound) one zero-timeout poll lets them in. Otherwise this is
// the policy's pick.
ControlBlock* Scheduler::next_to_run() noexcept {
  Worker& w = w0_;
  if (stopping_.load(std::memory_order_relaxed)) return &w.main;
  if (has_waiters() && ++w.since_poll >= w.round) poll(w, false);
  ControlBlock* next = runq_.pick_next();
  return next ? next : &w.main;
}

// A fiber's first run. Its only context so far is a control block with its
// function; here it gets the stack spawn() reserved, and Boost.Context
// builds the fiber there. Boost's constructor jumps onto the new stack to
// set up its record and back, so the stack's top page becomes resident now,
// just before the first switch to it — not at spawn, where in skynet most
// fibers would have waited with a resident page they had not yet used.
void Scheduler::start(ControlBlock* cb) noexcept {
  CMBENCH_FIBER_INVARIANT(cb != here().current, "a fiber is started once: never while it runs");
  // M:N: a block from a worker's stock (StackPool::Cache) has its stack.
  if (!cb->stack_bottom) pool_.attach_stack(cb);
  // The context function receives the fiber that resumed it; that is always
  // empty here, because switch_to() saves the switching fiber's context on
  // the way in (resume_with) instead of passing it along.
  cb->ctx = boost::context::fiber(std::allocator_arg, pool_.preallocated(cb),
                                  PoolStackAllocator(pool_, cb),
                                  [this, cb](boost::context::fiber&&) { return entry(cb); });
  sanitizers::built();
}

boost::context::fiber Scheduler::entry(ControlBlock* self) noexcept {
  {
    Worker& w = here();
    sanitizers::entered(w.switched_from, &w.main);
  }
  // The stored function is moved onto this fiber's stack and destroyed here,
  // before finish(); a fiber unwound before it ran only destroys it. Nothing
  // may switch away from inside a catch block (Boost.Context's rule), so the
  // handlers only record; finish() switches afterwards.
  try {
    self->run(self, !self->cancelled);
  } catch (const FiberCancelled&) {
  } catch (...) {
    fail(std::current_exception());
  }
  return finish(self);
}

// One context switch. The fiber being left is saved by a function that
// Boost.Context runs on top of the fiber being entered, before that fiber
// continues: prev->ctx is therefore set before anything else can run, with
// no scheduler loop in between and no allocation (the lambda is copied onto
// the target's stack). Whoever later resumes `prev` does it the same way, so
// what resume_with() returns here is always an empty fiber.
void Scheduler::switch_to(ControlBlock* next) {
  Worker& w = here();
  ControlBlock* prev = w.current;
  CMBENCH_FIBER_INVARIANT(next != prev, "a fiber is never switched to while it runs");
  if (prev != &w.main) check_stack(prev);
  if (!next->ctx) [[unlikely]] start(next);
  w.current = next;
  if constexpr (sanitizers::kAddress) w.switched_from = prev;
  sanitizers::leaving(prev, next, &w.main);
  [[maybe_unused]] boost::context::fiber none =
      std::move(next->ctx).resume_with([prev](boost::context::fiber&& from) {
        prev->ctx = std::move(from);
        return boost::context::fiber{};
      });
  after_switch(here(), prev);
}

// The M:N switch away from a fiber that parks or yields. Until its context
// is saved no other worker may resume it, so whatever would let one do so —
// unlocking the wait queue it is in, putting it on the run queue — happens
// in the function resume_with() runs on the next context, after the save
// (Boost.Fiber's protocol).
void Scheduler::switch_publish(ControlBlock* next, SpinLock* unlock, bool requeue) {
  Worker& w = here();
  ControlBlock* prev = w.current;
  CMBENCH_FIBER_INVARIANT(next != prev, "a fiber is never switched to while it runs");
  check_stack(prev);
  if (!next->ctx) [[unlikely]] {
    if (unlock && !next->stack_bottom) {
      // Starting a fiber that has no stack yet takes the stack pool's lock
      // and, for a fresh slot, touches a fresh page (a page fault, about
      // 1.3 us): not while `unlock`, a lock another worker may be spinning
      // on, is held. This worker's loop starts it instead, once the lock is
      // released on its context: two switches more. (A block from the
      // worker's stock has a resident stack, and starts here.) The loop
      // runs runnext first, which is free here: each pick of the next fiber
      // above leaves it empty.
      CMBENCH_FIBER_INVARIANT(!w.runnext, "runnext is empty when a parking fiber's successor is picked");
      w.runnext = next;
      next = &w.main;
      deferred_starts_.fetch_add(1, std::memory_order_relaxed);
    } else {
      start(next);
    }
  }
  w.current = next;
  if constexpr (sanitizers::kAddress) w.switched_from = prev;
  sanitizers::leaving(prev, next, &w.main);
  [[maybe_unused]] boost::context::fiber none = std::move(next->ctx).resume_with(
      [this, prev, unlock, requeue](boost::context::fiber&& from) {
        prev->ctx = std::move(from);
        if (unlock) unlock->unlock();
        if (requeue) ready_shared(prev, /*yielded=*/true);
        return boost::context::fiber{};
      });
  after_switch(multi_here(), prev);  // possibly another thread's worker now
}

[[gnu::always_inline]] inline void Scheduler::after_switch(
    [[maybe_unused]] Worker& w, [[maybe_unused]] ControlBlock* self) noexcept {
  // `self` is this frame's fiber, the one that now runs again.
  sanitizers::resumed(self, w.switched_from, &w.main);
}

// Called by a fiber's entry once its function has returned. The fiber it
// returns is resumed by Boost.Context, which then, on top of that fiber,
// destroys this fiber's record and hands the stack back to the pool.
boost::context::fiber Scheduler::finish(ControlBlock* self) noexcept {
  check_stack(self);
  Worker& w = here();
  ControlBlock* next;
  if (!multi_) {
    self->generation.store(self->generation.load(std::memory_order_relaxed) + 1,
                           std::memory_order_relaxed);
    while (ControlBlock* joiner = self->joiners.pop()) runq_.awakened(joiner);
    unlink_live(self);
    next = next_to_run();
    // When thousands of fibers end in a row (spawn's release, skynet's
    // fan-in), each resumes onto a stack gone cold: the one after `next`
    // gets its stack prefetched now, with `next`'s run to arrive in, and the
    // one after that its control block, which the next finish reads for it.
    if (ControlBlock* after = runq_.peek_next()) {
      StackPool::prefetch_resume(after);
      if (ControlBlock* later = runq_.peek_next(1)) StackPool::prefetch_control(later);
    }
  } else {
    {
      MaybeLock guard(self->join_lock, true);
      self->generation.store(self->generation.load(std::memory_order_relaxed) + 1,
                             std::memory_order_release);
      while (ControlBlock* joiner = self->joiners.pop()) ready_shared(joiner);
    }
    lock_.lock();
    unlink_live(self);
    const bool last = live_ == 0;
    lock_.unlock();
    next = nullptr;
    if (!stopping_.load(std::memory_order_relaxed)) {
      if (w.batch_since != 0) share_batch(w, false);
      next = std::exchange(w.runnext, nullptr);
      if (!next) next = pick_queued(w);
    }
    if (!next) next = &w.main;
    if (last) {
      // run() ends: wake the workers asleep and the one in epoll.
      wake_all();
      reactor_.kick();
    }
  }
  if (!next->ctx) [[unlikely]] start(next);
  w.current = next;
  if constexpr (sanitizers::kAddress) w.switched_from = self;
  sanitizers::leaving_for_good(self, next);
  return std::move(next->ctx);
}

void Scheduler::fail(std::exception_ptr error) noexcept {
  if (!multi_) {
    if (!error_) error_ = std::move(error);
    stopping_.store(true, std::memory_order_relaxed);
    return;
  }
  lock_.lock();
  if (!error_) error_ = std::move(error);
  stopping_.store(true, std::memory_order_relaxed);
  lock_.unlock();
  wake_all();
  reactor_.kick();
}

// Unwinds every fiber that has not finished: each is marked cancelled and
// resumed, its park() or yield() throws FiberCancelled, its destructors run,
// its entry returns, and control comes back here. A fiber that never started
// skips its function altogether. In M:N mode only the thread that called
// run() (or the destructor) gets here, after the other workers have ended.
void Scheduler::shutdown() {
  stopping_.store(true, std::memory_order_relaxed);
  // A fiber parked in offload() cannot be unwound while a pool thread still
  // runs its function, which may use the fiber's stack: wait for them all.
  wait_offloads();
  drop_waiters();
  while (ControlBlock* cb = live_list_) {
    cb->cancelled = true;
    switch_to(cb);
  }
  runq_.clear();
  w0_.runnext = nullptr;  // the other workers' are gone with them
  w0_.local.clear();
  stopping_.store(false, std::memory_order_relaxed);
}

void Scheduler::link_live(ControlBlock* cb) noexcept {
  cb->live_prev = nullptr;
  cb->live_next = live_list_;
  if (live_list_) live_list_->live_prev = cb;
  live_list_ = cb;
  ++live_;
}

void Scheduler::unlink_live(ControlBlock* cb) noexcept {
  (cb->live_prev ? cb->live_prev->live_next : live_list_) = cb->live_next;
  if (cb->live_next) cb->live_next->live_prev = cb->live_prev;
  cb->live_prev = cb->live_next = nullptr;
  --live_;
}

void Scheduler::run_thread_call(Worker& w) {
  void (*call)(void*) = std::exchange(w.thread_call, nullptr);
  ControlBlock* caller = std::exchange(w.thread_caller, nullptr);
  try {
    call(w.thread_call_arg);
  } catch (...) {
    w.thread_call_error = std::current_exception();
  }
  switch_to(caller);
}

// --- stack overflow --------------------------------------------------------

// Called on the stack of the fiber being left, so this frame's address is
// (nearly) that fiber's stack pointer: within kCanaryBytes of the bottom
// means the fiber is overflowing right now; a written canary (just below the
// stack, models/fiber/stack_pool.hpp) means it did earlier. A guarded
// stack's canary is not read: the guard page below it already stops an
// overflow, and reading 256 bytes at every switch was 41% of a pingpong
// round trip in perf record (cmbench-perfref fiber-pingpong).
void Scheduler::check_stack(const ControlBlock* cb) const noexcept {
  const char* sp = static_cast<const char*>(__builtin_frame_address(0));
  const char* low = static_cast<const char*>(cb->stack_bottom) + StackPool::kCanaryBytes;
  if (sp < low || (!cb->guarded && !StackPool::canary_intact(cb))) [[unlikely]]
    stack_overflow(cb);
}

void Scheduler::stack_overflow(const ControlBlock* cb) const noexcept {
  std::fprintf(stderr,
               "cmbench::fiber: stack overflow: a fiber wrote into the canary at the bottom of "
               "its %zu-byte %s stack (or its stack pointer came within it); memory beyond it may be corrupt, so the process aborts. "
               "Raise the stack_size parameter.\n",
               cb->stack_size, cb->guarded ? "guarded" : "unguarded");
  std::abort();
}

void JoinHandle::join() {
  if (done()) return;
  Scheduler* s = cb_->sched;
  ControlBlock* self = s->running();
  if (!self)
    throw std::logic_error("cmbench::fiber::JoinHandle::join() must be called from a fiber");
  if (self == cb_) throw std::logic_error("cmbench::fiber: a fiber cannot join itself");
  MaybeLock guard(cb_->join_lock, any_multi());
  if (done()) return;  // finished on another thread meanwhile
  cb_->joiners.push(self);
  try {
    s->park(guard.release());  // unlocked once this fiber's context is saved
  } catch (...) {
    MaybeLock again(cb_->join_lock, any_multi());
    cb_->joiners.remove(self);
    throw;
  }
}

}  // namespace cmbench::fiber
