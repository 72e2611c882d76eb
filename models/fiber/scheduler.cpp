#include "models/fiber/scheduler.hpp"

#include <fmt/format.h>
#include <sys/epoll.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "harness/cell/errors.hpp"
#include "harness/cell/probe.hpp"
#include "models/fiber/invariant.hpp"
#include "models/fiber/offload.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define CMBENCH_FIBER_ASAN 1
#endif

// ThreadSanitizer keeps a shadow call stack and a vector clock per thread of
// execution; a stack switch it is not told about makes it mix up two fibers'
// histories and report races (or crash) in perfectly sequential code. So in
// a TSan build every fiber gets a TSan fiber context, and every switch says
// where it goes. The switches synchronise (flags 0): the fibers of one
// thread run one at a time, each switch a happens-before edge, as they
// truly are; in M:N mode a fiber moves between threads only through the run
// queue's lock, which TSan sees. None of this exists in other builds.
//
// Where the switch is announced matters, because TSan's shadow stack is
// pushed on entry to every instrumented function and popped on its exit:
// a frame entered under one context and left under another unbalances both
// (an underflow makes TSan itself crash at its next stack trace). The rule
// kept here: announce a switch only where no instrumented frame will return
// before the jump. In switch_to() that holds (Boost's resume_with is inlined
// into it and the helpers below are always inlined), so it announces the
// switch just before the jump. finish() does not: after it returns, the
// finished fiber's entry(), its lambda and Boost's record still return
// before the jump. So finish() announces nothing; the next fiber announces
// the switch itself when it lands (tsan_landed(), in switch_to() after the
// jump), and a next fiber that has never run, which lands in Boost's entry
// code and pushes its first frames on the finished fiber's context, simply
// keeps that context as its own.
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define CMBENCH_FIBER_TSAN 1
// The instrumentation's own entry point (not in tsan_interface.h); start()
// needs it to balance an entry that Boost.Context's fiber creation leaves.
extern "C" void __tsan_func_exit(void);
#endif

namespace cmbench::fiber {

#if defined(CMBENCH_FIBER_TSAN)
namespace {
// The context of a fiber that finished, still TSan's current one until the
// fiber that runs after it lands (tsan_landed()), which switches to its own
// and destroys this one.
thread_local void* tsan_finished = nullptr;

// Called by `self` just after it was resumed: if a finished fiber resumed
// it, TSan still runs that fiber's context; switch to self's and destroy it.
[[gnu::always_inline]] inline void tsan_landed(ControlBlock* self) noexcept {
  if (void* dead = std::exchange(tsan_finished, nullptr)) {
    __tsan_switch_to_fiber(self->tsan_fiber, 0);
    __tsan_destroy_fiber(dead);
  }
}

// Tells TSan that the thread is about to switch from `prev` to `next`.
[[gnu::always_inline]] inline void tsan_switch(ControlBlock* prev, ControlBlock* next,
                                               ControlBlock* main) noexcept {
  // The thread's own context, learnt each time it leaves it (run() may be
  // called from different threads over the scheduler's life).
  if (prev == main) main->tsan_fiber = __tsan_get_current_fiber();
  if (!next->tsan_fiber) next->tsan_fiber = __tsan_create_fiber(0);
  __tsan_switch_to_fiber(next->tsan_fiber, 0);
}
}  // namespace
#endif

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
  if (multi_) {
    // Made up front, so that no worker ever reads epfd_ while another sets
    // it; the eventfd lets any thread wake the worker blocked in epoll.
    ensure_epoll();
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) throw_errno("eventfd");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wake_fd_;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) throw_errno("epoll_ctl(eventfd)");
  }
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
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (epfd_ >= 0) ::close(epfd_);
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
  return fmt::format("guard page for the first {} stacks, canary beyond", pool_.guard_budget());
}

std::string Scheduler::threading() const {
  if (!multi_)
    return "one thread; Go's run-queue order: a fiber just spawned or made ready runs next, "
           "then a local FIFO of 256 that spills into a global FIFO (models/fiber/run_queue.hpp)";
  return fmt::format(
      "M:N on {} threads sharing one run queue in Go's order, under a lock (no work stealing: "
      "simpler, and correct by construction); wait queues handed over locked and unlocked after the parked context is "
      "saved (resume_with), idle workers sleep on a futex",
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
    // descriptor or the nearest timer; with nothing to wait for either, the
    // fibers left are deadlocked.
    Worker& w = w0_;
    while (live_ > 0 && !error_) {
      ControlBlock* next = runq_.pop();
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
    // M:N: this thread is worker 0; threads_ - 1 more run the same loop.
    // They are joined before anything else happens, so that shutdown and the
    // errors below see the fibers' state from one thread again.
    deadlocked_ = false;
    multi_running.fetch_add(1, std::memory_order_relaxed);
    struct Running {
      ~Running() { multi_running.fetch_sub(1, std::memory_order_relaxed); }
    } running;
    std::vector<std::unique_ptr<Worker>> workers;
    std::vector<std::thread> threads;
    try {
      for (unsigned i = 1; i < threads_; ++i) {
        workers.push_back(std::make_unique<Worker>());
        Worker* w = workers.back().get();
        w->sched = this;
        threads.emplace_back([this, w] {
          current_scheduler_ = this;
          current_worker_ = w;
          run_worker(*w);
          current_scheduler_ = nullptr;
          current_worker_ = nullptr;
        });
      }
    } catch (...) {
      fail(std::current_exception());  // e.g. std::system_error (EAGAIN): stop the others
    }
    run_worker(w0_);
    for (std::thread& t : threads) t.join();
    stuck = deadlocked_ && !error_ ? live_ : 0;
  }
  if (live_ > 0) shutdown();
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  if (stuck > 0)
    throw FiberDeadlock(fmt::format(
        "cmbench::fiber: deadlock: {} fibers were parked and none could run; they were unwound",
        stuck));
}

// One worker's loop in M:N mode: run what the shared queue holds; with
// nothing to run, block in epoll if descriptors or timers are waited for and
// no other worker does already, else sleep until ready() or the end wakes it.
void Scheduler::run_worker(Worker& w) {
  lock_.lock();
  for (;;) {
    if (live_ == 0 || error_ || deadlocked_) break;
    if (ControlBlock* next = runq_.pop()) {
      lock_.unlock();
      switch_to(next);
      while (w.thread_call) run_thread_call(w);
      lock_.lock();
      continue;
    }
    if (has_waiters() && !poller_) {
      poller_ = true;
      ++blocking_polls_;
      int64_t timeout_ns = -1;
      poller_deadline_ = INT64_MAX;
      if (!timers_.empty()) {
        poller_deadline_ = timers_.front().deadline;
        timeout_ns = std::max<int64_t>(0, poller_deadline_ - now_ns());
      }
      lock_.unlock();
      const int n = epoll_once(w, timeout_ns);
      lock_.lock();
      poller_ = false;
      handle_events(w, n);
      fire_timers();
      // More became runnable than this worker will take: wake the others.
      if (idle_ > 0 && runq_.size() > 1) {
        lock_.unlock();
        wake_all();
        lock_.lock();
      }
      continue;
    }
    if (!poller_ && !has_waiters() && idle_ + 1 == threads_) {
      // Every other worker sleeps, nothing is runnable and nothing can make
      // a fiber runnable: the live fibers are deadlocked.
      deadlocked_ = true;
      lock_.unlock();
      wake_all();
      return;
    }
    ++idle_;
    const uint32_t seen = wake_seq_.load(std::memory_order_acquire);
    lock_.unlock();
    // A futex wait; any wake after `seen` was read (under the lock) returns
    // at once, so no wake-up is lost between the unlock and the wait.
    wake_seq_.wait(seen, std::memory_order_acquire);
    lock_.lock();
    --idle_;
  }
  lock_.unlock();
}

void Scheduler::wake_one() noexcept {
  wake_seq_.fetch_add(1, std::memory_order_release);
  wake_seq_.notify_one();
}

void Scheduler::wake_all() noexcept {
  wake_seq_.fetch_add(1, std::memory_order_release);
  wake_seq_.notify_all();
}

// Wakes the worker blocked in epoll (M:N mode).
void Scheduler::kick() noexcept {
  const uint64_t one = 1;
  if (::write(wake_fd_, &one, sizeof one) < 0) {
    // EAGAIN: the counter is full, so the poller is being woken anyway.
  }
}

void Scheduler::ready_shared(ControlBlock* cb, bool yielded) noexcept {
  lock_.lock();
  if (yielded)
    runq_.push_global(cb);
  else
    runq_.push_next(cb);
  const bool wake = idle_ > 0;
  lock_.unlock();
  if (wake) wake_one();
}

void Scheduler::reserve_queue() {
  MaybeLock guard(lock_, multi_);
  try {
    // + threads_: the spawns that other workers may have under way.
    runq_.reserve(live_ + threads_);
  } catch (const std::bad_alloc&) {
    throw LimitError("cmbench::fiber: the run queue could not grow", ENOMEM);
  }
}

void Scheduler::enqueue_spawned(ControlBlock* cb, bool from_fiber) {
  lock_.lock();
  link_live(cb);
  if (from_fiber)
    runq_.push_next(cb);
  else
    runq_.push(cb);
  const bool wake = idle_ > 0;
  lock_.unlock();
  if (wake) wake_one();
}

// After fibers were made runnable under the lock (reactor, timers): let a
// sleeping worker take them.
void Scheduler::notify_idle() noexcept {
  if (!multi_) return;
  lock_.lock();
  const bool wake = idle_ > 0 && !runq_.empty();
  lock_.unlock();
  if (wake) wake_all();
}

void Scheduler::yield() {
  Worker& w = here();
  ControlBlock* self = w.current;
  if (self == &w.main) return;
  if (self->cancelled) throw FiberCancelled{};
  if (!multi_) {
    // A fiber that yields in a loop while it waits for I/O or a timer must
    // let the reactor see them even when it is the only runnable fiber.
    if (runq_.empty() && has_waiters()) poll(w, false);
    if (runq_.empty()) return;  // nothing else can run: carry on
    // Picked before this fiber is queued: the pick may serve the global
    // queue, where this fiber must not find itself.
    ControlBlock* next = next_to_run();
    runq_.push_global(self);  // Go's Gosched: the global queue's tail
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
    // fiber under it, without a poll.
    next = stopping_.load(std::memory_order_relaxed) ? nullptr : runq_.pop();
    if (!next) next = &w.main;
  } else {
    next = next_to_run_shared(w);
  }
  switch_publish(next, held, false);
  if (self->cancelled) throw FiberCancelled{};
}

// The polling policy lives here: with descriptors or timers pending, every
// `round` switches (the run queue's length at the last poll, at least
// kPollRound) one zero-timeout poll lets them in. Otherwise this is a pop.
ControlBlock* Scheduler::next_to_run() noexcept {
  Worker& w = w0_;
  if (stopping_.load(std::memory_order_relaxed)) return &w.main;
  if (has_waiters() && ++w.since_poll >= w.round) poll(w, false);
  ControlBlock* next = runq_.pop();
  return next ? next : &w.main;
}

ControlBlock* Scheduler::next_to_run_shared(Worker& w) noexcept {
  if (stopping_.load(std::memory_order_relaxed)) return &w.main;
  if (has_waiters() && ++w.since_poll >= w.round) poll_round_shared(w);
  lock_.lock();
  ControlBlock* next = runq_.pop();
  lock_.unlock();
  return next ? next : &w.main;
}

// A fiber's first run. Its only context so far is a control block with its
// function; here it gets the stack spawn() reserved, and Boost.Context
// builds the fiber there. Boost's constructor jumps onto the new stack to
// set up its record and back, so the stack's top page becomes resident now,
// just before the first switch to it — not at spawn, where in skynet most
// fibers would have waited with a resident page they had not yet used.
void Scheduler::start(ControlBlock* cb) noexcept {
  CMBENCH_FIBER_INVARIANT(cb->stack_bottom == nullptr,
                          "a fiber is started once: it has no stack before its first switch");
  pool_.attach_stack(cb);
  // The context function receives the fiber that resumed it; that is always
  // empty here, because switch_to() saves the switching fiber's context on
  // the way in (resume_with) instead of passing it along.
  cb->ctx = boost::context::fiber(std::allocator_arg, pool_.preallocated(cb),
                                  PoolStackAllocator(pool_, cb),
                                  [this, cb](boost::context::fiber&&) { return entry(cb); });
#if defined(CMBENCH_FIBER_TSAN)
  // The constructor jumped onto the new stack, entered its fiber_entry there
  // and jumped back without leaving it, so ThreadSanitizer counted one
  // function entry on this context that no exit will match. Pop it, or each
  // start leaves a frame behind and a context that starts 65,536 fibers
  // overflows TSan's shadow stack. (TSan builds only.)
  __tsan_func_exit();
#endif
}

boost::context::fiber Scheduler::entry(ControlBlock* self) noexcept {
  asan_entered();
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
#if defined(CMBENCH_FIBER_ASAN)
  w.switched_from = prev;
  __sanitizer_start_switch_fiber(&prev->asan_fake_stack, next->stack_bottom, next->stack_size);
#endif
#if defined(CMBENCH_FIBER_TSAN)
  tsan_switch(prev, next, &w.main);
#endif
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
  if (!next->ctx) [[unlikely]] start(next);
  w.current = next;
#if defined(CMBENCH_FIBER_ASAN)
  w.switched_from = prev;
  __sanitizer_start_switch_fiber(&prev->asan_fake_stack, next->stack_bottom, next->stack_size);
#endif
#if defined(CMBENCH_FIBER_TSAN)
  tsan_switch(prev, next, &w.main);
#endif
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
#if defined(CMBENCH_FIBER_ASAN)
  asan_resumed(w, self->asan_fake_stack);
#endif
#if defined(CMBENCH_FIBER_TSAN)
  tsan_landed(self);  // `self` is this frame's fiber, the one that now runs again
#endif
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
    while (ControlBlock* joiner = self->joiners.pop()) runq_.push_next(joiner);
    unlink_live(self);
    next = next_to_run();
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
    next = stopping_.load(std::memory_order_relaxed) ? nullptr : runq_.pop();
    lock_.unlock();
    if (!next) next = &w.main;
    if (last) {
      // run() ends: wake the workers asleep and the one in epoll.
      wake_all();
      kick();
    }
  }
  if (!next->ctx) [[unlikely]] start(next);
  w.current = next;
#if defined(CMBENCH_FIBER_ASAN)
  w.switched_from = self;
  // A null save slot tells ASan this stack is finished: free its fake stack.
  __sanitizer_start_switch_fiber(nullptr, next->stack_bottom, next->stack_size);
#endif
#if defined(CMBENCH_FIBER_TSAN)
  // No switch announced here (see the top of this file): a next fiber that
  // never ran inherits this context; one that did switches to its own when
  // it lands, and destroys this one.
  if (!next->tsan_fiber)
    next->tsan_fiber = std::exchange(self->tsan_fiber, nullptr);
  else
    tsan_finished = std::exchange(self->tsan_fiber, nullptr);
#endif
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
  kick();
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

// AddressSanitizer must be told about every stack switch, or it takes the
// fiber's stack for a huge frame of the thread's and reports false errors
// when an exception unwinds it. Boost.Context's fcontext switches are not
// annotated (only its ucontext build is), so the runtime annotates its own.
void Scheduler::asan_entered() noexcept {
#if defined(CMBENCH_FIBER_ASAN)
  asan_resumed(here(), nullptr);
#endif
}

void Scheduler::asan_resumed([[maybe_unused]] Worker& w,
                             [[maybe_unused]] void* fake_stack) noexcept {
#if defined(CMBENCH_FIBER_ASAN)
  const void* from_bottom = nullptr;
  std::size_t from_size = 0;
  __sanitizer_finish_switch_fiber(fake_stack, &from_bottom, &from_size);
  // The thread's own stack bounds are learnt the first time it switches away.
  if (w.switched_from == &w.main) {
    w.main.stack_bottom = from_bottom;
    w.main.stack_size = from_size;
  }
#endif
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

// --- the reactor and timers ------------------------------------------------

namespace {

// Orders the timer heap as a min-heap on (deadline, seq).
struct Later {
  template <typename T>
  bool operator()(const T& a, const T& b) const noexcept {
    return a.deadline != b.deadline ? a.deadline > b.deadline : a.seq > b.seq;
  }
};

[[noreturn]] void reactor_failure(const char* call, int err) noexcept {
  std::fprintf(stderr, "cmbench::fiber: %s failed: %s (errno %d)\n", call, std::strerror(err), err);
  std::abort();
}

}  // namespace

void Scheduler::ensure_epoll() {
  if (epfd_ >= 0) return;
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) throw_errno("epoll_create1");
}

bool Scheduler::wait_io(int fd, bool write) {
  ControlBlock* self = running();
  if (!self)
    throw std::logic_error("cmbench::fiber: wait_readable/wait_writable must be called from a fiber");
  if (fd < 0) throw std::logic_error("cmbench::fiber: wait on a negative descriptor");
  const auto index = static_cast<std::size_t>(fd);
  MaybeLock guard(lock_, multi_);
  if (index >= fds_.size()) fds_.resize(std::max(index + 1, 2 * fds_.size()));
  if (!fds_[index].registered) {
    ensure_epoll();
    // Both directions at once, so that a descriptor is added once in its
    // lifetime; an edge in a direction nobody waits for only sets a flag.
    // EPOLLRDHUP: a peer's shutdown wakes a reader (which then reads EOF).
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.fd = fd;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) throw_errno("epoll_ctl(EPOLL_CTL_ADD)");
    fds_[index].registered = true;
  }
  FdState& st = fds_[index];
  bool& ready = write ? st.write_ready : st.read_ready;
  if (ready) {
    ready = false;
    return true;
  }
  IoWaiter*& slot = write ? st.writer : st.reader;
  if (slot)
    throw std::logic_error(fmt::format(
        "cmbench::fiber: two fibers wait to {} descriptor {}", write ? "write" : "read", fd));
  IoWaiter w{self, false};
  slot = &w;
  ++io_waiters_;
  add_pending(1);
  try {
    park(guard.release());  // woken by poll() when epoll reports the edge, or by forget()
  } catch (...) {
    // Unwound while waiting. Shutdown has normally dropped every waiter
    // already; the slot is looked up again because fds_ may have grown.
    MaybeLock again(lock_, multi_);
    FdState& now = fds_[index];
    IoWaiter*& mine = write ? now.writer : now.reader;
    if (mine == &w) {
      mine = nullptr;
      --io_waiters_;
      add_pending(-1);
    }
    throw;
  }
  return !w.forgotten;
}

void Scheduler::forget(int fd) {
  {
    MaybeLock guard(lock_, multi_);
    if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return;
    FdState& st = fds_[static_cast<std::size_t>(fd)];
    if (!st.registered) return;
    // ENOENT/EBADF: the descriptor was closed already (which removed it).
    if (epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr) != 0 && errno != ENOENT && errno != EBADF)
      throw_errno("epoll_ctl(EPOLL_CTL_DEL)");
    for (IoWaiter* w : {st.reader, st.writer}) {
      if (!w) continue;
      w->forgotten = true;
      runq_.push(w->fiber);
      --io_waiters_;
      add_pending(-1);
    }
    st = FdState{};
    // The worker in epoll may now wait for nothing: let it look again (and
    // find a deadlock if that is what is left).
    if (multi_ && poller_) kick();
  }
  notify_idle();
}

void Scheduler::sleep_until(int64_t deadline_ns) {
  ControlBlock* self = running();
  if (!self) throw std::logic_error("cmbench::fiber: sleep_until must be called from a fiber");
  if (deadline_ns <= now_ns()) return;
  MaybeLock guard(lock_, multi_);
  // The heap's vector keeps its capacity: once it has held as many timers as
  // fibers sleep at once, a sleep allocates nothing.
  timers_.push_back(Timer{deadline_ns, timer_seq_++, self});
  std::push_heap(timers_.begin(), timers_.end(), Later{});
  add_pending(1);
  // A worker blocked in epoll until a later deadline must wake for this one.
  if (multi_ && poller_ && deadline_ns < poller_deadline_) kick();
  park(guard.release());  // woken by fire_timers() once the deadline has passed
}

// Under the lock in M:N mode.
void Scheduler::fire_timers() noexcept {
  if (timers_.empty()) return;
  const int64_t now = now_ns();
  while (!timers_.empty() && timers_.front().deadline <= now) {
    std::pop_heap(timers_.begin(), timers_.end(), Later{});
    runq_.push(timers_.back().fiber);
    timers_.pop_back();
    add_pending(-1);
  }
}

// One epoll wait of up to timeout_ns (< 0: no timeout); the events land in
// the worker's own buffer. Returns how many.
int Scheduler::epoll_once(Worker& w, int64_t timeout_ns) noexcept {
  if (w.events.empty()) w.events.resize(128);
  int n = 0;
  bool pwait2 = have_pwait2_.load(std::memory_order_relaxed);
  if (pwait2) {
    timespec ts{static_cast<time_t>(timeout_ns / 1'000'000'000),
                static_cast<long>(timeout_ns % 1'000'000'000)};
    n = epoll_pwait2(epfd_, w.events.data(), static_cast<int>(w.events.size()),
                     timeout_ns < 0 ? nullptr : &ts, nullptr);
    if (n < 0 && errno == ENOSYS) {
      pwait2 = false;
      have_pwait2_.store(false, std::memory_order_relaxed);
    }
  }
  if (!pwait2) {
    // Milliseconds, rounded up so that a sleeper is never woken early.
    const int ms = timeout_ns < 0 ? -1 : static_cast<int>((timeout_ns + 999'999) / 1'000'000);
    n = epoll_wait(epfd_, w.events.data(), static_cast<int>(w.events.size()), ms);
  }
  if (n < 0) {
    if (errno != EINTR) reactor_failure(pwait2 ? "epoll_pwait2" : "epoll_wait", errno);
    n = 0;
  }
  return n;
}

// Readies the waiters of the descriptors epoll reported (under the lock in
// M:N mode).
void Scheduler::handle_events(Worker& w, int n) noexcept {
  for (int i = 0; i < n; ++i) {
    const epoll_event& e = w.events[static_cast<std::size_t>(i)];
    if (e.data.fd == wake_fd_ && wake_fd_ >= 0) {
      uint64_t count = 0;
      if (::read(wake_fd_, &count, sizeof count) < 0) {
        // EAGAIN: another worker drained it already.
      }
      drain_inbox();
      continue;
    }
    const uint32_t ev = e.events;
    FdState& st = fds_[static_cast<std::size_t>(e.data.fd)];
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
      if (IoWaiter* waiter = std::exchange(st.reader, nullptr)) {
        runq_.push(waiter->fiber);
        --io_waiters_;
        add_pending(-1);
      } else {
        st.read_ready = true;
      }
    }
    if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
      if (IoWaiter* waiter = std::exchange(st.writer, nullptr)) {
        runq_.push(waiter->fiber);
        --io_waiters_;
        add_pending(-1);
      } else {
        st.write_ready = true;
      }
    }
  }
}

// The one-thread mode's poll.
void Scheduler::poll(Worker& w, bool block) {
  int64_t timeout_ns = 0;  // < 0: wait until a descriptor is ready
  if (block) {
    ++blocking_polls_;
    timeout_ns = timers_.empty() ? -1 : std::max<int64_t>(0, timers_.front().deadline - now_ns());
  } else {
    ++round_polls_;
  }
  // epoll itself only when a fiber waits for a descriptor, or to sleep until
  // a deadline that has not come yet.
  if (io_waiters_ > 0 || timeout_ns != 0) {
    try {
      ensure_epoll();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "cmbench::fiber: %s\n", e.what());
      std::abort();
    }
    handle_events(w, epoll_once(w, timeout_ns));
  } else if (offloads_ > 0) {
    drain_inbox();  // a round poll with only offloads pending: no system call
  }
  fire_timers();
  w.since_poll = 0;
  w.round = std::max(runq_.size(), kPollRound);
}

// M:N mode's zero-timeout poll between rounds: epoll outside the lock (the
// epoll set is made in the constructor), the tables under it.
void Scheduler::poll_round_shared(Worker& w) noexcept {
  const int n = epoll_once(w, 0);
  lock_.lock();
  ++round_polls_;
  handle_events(w, n);
  fire_timers();
  w.since_poll = 0;
  w.round = std::max(runq_.size(), kPollRound);
  const bool wake = idle_ > 0 && runq_.size() > 1;
  lock_.unlock();
  if (wake) wake_all();
}

// At shutdown every parked fiber is unwound: none may stay in the timer heap
// or as a descriptor's waiter.
void Scheduler::drop_waiters() noexcept {
  timers_.clear();
  for (FdState& st : fds_) st.reader = st.writer = nullptr;
  io_waiters_ = 0;
  pending_.store(0, std::memory_order_relaxed);
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

// --- offload ---------------------------------------------------------------

void Scheduler::ensure_inbox() {
  if (wake_fd_ >= 0) return;  // M:N mode makes it in the constructor
  ensure_epoll();
  const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) throw_errno("eventfd");
  // Level-triggered: it is reported at every poll until a poll reads it.
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    const int err = errno;
    ::close(fd);
    throw_errno("epoll_ctl(eventfd)", err);
  }
  wake_fd_ = fd;
}

void Scheduler::offload(OffloadJob& job) {
  Worker& w = here();
  ControlBlock* self = w.current;
  if (self == &w.main)
    throw std::logic_error("cmbench::fiber::Scheduler::offload must be called from a fiber");
  // Checked before the job leaves: once the pool has it, this frame must
  // live until the pool is done with it.
  if (self->cancelled) throw FiberCancelled{};
  ensure_inbox();
  job.sched = this;
  job.fiber = self;
  job.done = false;
  {
    MaybeLock guard(lock_, multi_);
    ++offloads_;
    add_pending(1);  // a waiter: no deadlock while the call runs
  }
  // M:N: held until this fiber's context is saved (park(SpinLock*)); the
  // pool thread takes it before the job can reach the inbox.
  if (multi_) job.parked.lock();
  try {
    detail::offload_submit(&job);
  } catch (...) {
    if (multi_) job.parked.unlock();
    MaybeLock guard(lock_, multi_);
    --offloads_;
    add_pending(-1);
    throw;
  }
  try {
    park(multi_ ? &job.parked : nullptr);  // readied by drain_inbox()
  } catch (...) {
    // FiberCancelled: shutdown() waited for every offload first.
    CMBENCH_FIBER_INVARIANT(job.done, "an offloading fiber is unwound only after its call returned");
    throw;
  }
  CMBENCH_FIBER_INVARIANT(job.done, "an offloading fiber resumes only once its job is back");
}

void Scheduler::complete_offload(OffloadJob* job) noexcept {
  // Wait until the fiber has left (M:N: it holds `parked` across its switch).
  job->parked.lock();
  job->parked.unlock();
  inbox_lock_.lock();
  job->next = nullptr;
  OffloadJob* head = inbox_head_.load(std::memory_order_relaxed);
  if (head)
    inbox_tail_->next = job;
  else
    inbox_head_.store(job, std::memory_order_relaxed);
  inbox_tail_ = job;
  // The eventfd is written while the lock is held: the scheduler cannot take
  // the job, finish and close the descriptor before the write is done. Only
  // the first job of a batch writes; the scheduler reads the eventfd before
  // it takes the batch, so a later job either joins the batch or writes again.
  if (!head) {
    const uint64_t one = 1;
    if (::write(wake_fd_, &one, sizeof one) < 0) {
      // EAGAIN: the counter is full, so the scheduler is being woken anyway.
    }
  }
  inbox_lock_.unlock();
}

// Makes the fibers of the finished offloads runnable (under lock_ in M:N
// mode). Each job is read before its fiber is queued: the fiber may then
// run and end the frame the job lives in.
void Scheduler::drain_inbox() noexcept {
  if (!inbox_head_.load(std::memory_order_relaxed)) return;
  inbox_lock_.lock();
  OffloadJob* job = inbox_head_.exchange(nullptr, std::memory_order_relaxed);
  inbox_tail_ = nullptr;
  inbox_lock_.unlock();
  while (job) {
    OffloadJob* next = job->next;
    ControlBlock* fiber = job->fiber;
    job->done = true;
    CMBENCH_FIBER_INVARIANT(offloads_ > 0, "a job comes back once");
    --offloads_;
    add_pending(-1);
    runq_.push(fiber);
    job = next;
  }
}

// At shutdown, with no worker left running: blocks on the eventfd until
// every offload in flight is back.
void Scheduler::wait_offloads() noexcept {
  for (;;) {
    {
      MaybeLock guard(lock_, multi_);
      drain_inbox();
      if (offloads_ == 0) return;
    }
    pollfd p{wake_fd_, POLLIN, 0};
    if (::poll(&p, 1, -1) < 0 && errno != EINTR) reactor_failure("poll(eventfd)", errno);
    uint64_t count = 0;
    if (::read(wake_fd_, &count, sizeof count) < 0) {
      // EAGAIN: read already (a spurious wake); look at the inbox again.
    }
  }
}

namespace this_fiber {
void sleep_until(int64_t deadline_ns) {
  Scheduler* s = Scheduler::current();
  if (!s) throw std::logic_error("cmbench::fiber::this_fiber::sleep_until outside a scheduler");
  s->sleep_until(deadline_ns);
}
}  // namespace this_fiber

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
