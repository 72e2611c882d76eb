#include "models/fiber/scheduler.hpp"

#include <fmt/format.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "harness/errors.hpp"
#include "harness/probe.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define CMBENCH_FIBER_ASAN 1
#endif

// ThreadSanitizer keeps a shadow call stack and a vector clock per thread of
// execution; a stack switch it is not told about makes it mix up two fibers'
// histories and report races (or crash) in perfectly sequential code. So in
// a TSan build every fiber gets a TSan fiber context, and every switch says
// where it goes. The switches synchronise (flags 0): fibers of one
// scheduler run one at a time, each switch a happens-before edge, as they
// truly are. None of this exists in other builds.
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

Scheduler::Scheduler(std::size_t stack_size) : pool_(stack_size) {}

Scheduler::~Scheduler() {
  if (live_ > 0) {
    Scheduler* outer = current_scheduler_;
    current_scheduler_ = this;
    shutdown();
    current_scheduler_ = outer;
  }
  if (epfd_ >= 0) ::close(epfd_);
}

std::string Scheduler::stack_protection() const {
  return fmt::format("guard page for the first {} stacks, canary beyond", pool_.guard_budget());
}

void Scheduler::run() {
  if (current_scheduler_ != nullptr)
    throw std::logic_error("cmbench::fiber::Scheduler::run() called inside a running scheduler");
  current_scheduler_ = this;
  struct Reset {
    ~Reset() { current_scheduler_ = nullptr; }
  } reset;

  // The thread only ever resumes here when no fiber is runnable, every fiber
  // has finished, a fiber failed, or a fiber asked for on_thread_stack().
  // With nothing runnable it waits in the reactor for a descriptor or the
  // nearest timer; with nothing to wait for either, the fibers left are
  // deadlocked.
  while (live_ > 0 && !error_) {
    ControlBlock* next = runq_.pop();
    if (!next) {
      if (!has_waiters()) break;
      poll(true);
      continue;
    }
    switch_to(next);
    while (thread_call_) run_thread_call();
  }
  const std::size_t stuck = error_ ? 0 : live_;
  if (live_ > 0) shutdown();
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  if (stuck > 0)
    throw FiberDeadlock(fmt::format(
        "cmbench::fiber: deadlock: {} fibers were parked and none could run; they were unwound",
        stuck));
}

void Scheduler::yield() {
  ControlBlock* self = current_;
  if (self == &main_) return;
  if (self->cancelled) throw FiberCancelled{};
  // A fiber that yields in a loop while it waits for I/O or a timer must let
  // the reactor see them even when it is the only runnable fiber.
  if (runq_.empty() && has_waiters()) poll(false);
  if (runq_.empty()) return;  // nothing else can run: carry on
  runq_.push(self);
  switch_to(next_to_run());
  if (self->cancelled) throw FiberCancelled{};
}

void Scheduler::park() {
  ControlBlock* self = current_;
  if (self == &main_)
    throw std::logic_error(
        "cmbench::fiber: a blocking operation was called outside a fiber (it would park the "
        "thread that runs the scheduler)");
  if (self->cancelled) throw FiberCancelled{};
  switch_to(next_to_run());
  if (self->cancelled) throw FiberCancelled{};
}

// The polling policy lives here: with descriptors or timers pending, every
// `round_` switches (the run queue's length at the last poll, at least
// kPollRound) one zero-timeout poll lets them in. Otherwise this is a pop.
ControlBlock* Scheduler::next_to_run() noexcept {
  if (stopping_) return &main_;
  if (has_waiters() && ++since_poll_ >= round_) poll(false);
  ControlBlock* next = runq_.pop();
  return next ? next : &main_;
}

// One context switch. The fiber being left is saved by a function that
// Boost.Context runs on top of the fiber being entered, before that fiber
// continues: prev->ctx is therefore set before anything else can run, with
// no scheduler loop in between and no allocation (the lambda is copied onto
// the target's stack). Whoever later resumes `prev` does it the same way, so
// what resume_with() returns here is always an empty fiber.
void Scheduler::switch_to(ControlBlock* next) {
  ControlBlock* prev = current_;
  if (prev != &main_) check_stack(prev);
  current_ = next;
#if defined(CMBENCH_FIBER_ASAN)
  switched_from_ = prev;
  __sanitizer_start_switch_fiber(&prev->asan_fake_stack, next->stack_bottom, next->stack_size);
#endif
#if defined(CMBENCH_FIBER_TSAN)
  tsan_switch(prev, next, &main_);
#endif
  [[maybe_unused]] boost::context::fiber none =
      std::move(next->ctx).resume_with([prev](boost::context::fiber&& from) {
        prev->ctx = std::move(from);
        return boost::context::fiber{};
      });
#if defined(CMBENCH_FIBER_ASAN)
  asan_resumed(prev->asan_fake_stack);
#endif
#if defined(CMBENCH_FIBER_TSAN)
  tsan_landed(prev);  // `prev` is this frame's fiber, the one that now runs again
#endif
}

// Called by a fiber's entry once its function has returned. The fiber it
// returns is resumed by Boost.Context, which then, on top of that fiber,
// destroys this fiber's record and hands the stack back to the pool.
boost::context::fiber Scheduler::finish(ControlBlock* self) noexcept {
  check_stack(self);
  ++self->generation;
  while (ControlBlock* joiner = self->joiners.pop()) runq_.push(joiner);
  unlink_live(self);
  ControlBlock* next = next_to_run();
  current_ = next;
#if defined(CMBENCH_FIBER_ASAN)
  switched_from_ = self;
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
  if (!error_) error_ = std::move(error);
  stopping_ = true;
}

// Unwinds every fiber that has not finished: each is marked cancelled and
// resumed, its park() or yield() throws FiberCancelled, its destructors run,
// its entry returns, and control comes back here. A fiber that never started
// skips its function altogether.
void Scheduler::shutdown() {
  stopping_ = true;
  drop_waiters();
  while (ControlBlock* cb = live_list_) {
    cb->cancelled = true;
    switch_to(cb);
  }
  runq_.clear();
  stopping_ = false;
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
  asan_resumed(nullptr);
#endif
}

void Scheduler::asan_resumed([[maybe_unused]] void* fake_stack) noexcept {
#if defined(CMBENCH_FIBER_ASAN)
  const void* from_bottom = nullptr;
  std::size_t from_size = 0;
  __sanitizer_finish_switch_fiber(fake_stack, &from_bottom, &from_size);
  // The thread's own stack bounds are learnt the first time it switches away.
  if (switched_from_ == &main_) {
    main_.stack_bottom = from_bottom;
    main_.stack_size = from_size;
  }
#endif
}

// --- stack overflow --------------------------------------------------------

// Called on the stack of the fiber being left, so this frame's address is
// (nearly) that fiber's stack pointer: past the canary means the fiber is
// overflowing right now; a written canary means it did earlier.
void Scheduler::check_stack(const ControlBlock* cb) const noexcept {
  const char* sp = static_cast<const char*>(__builtin_frame_address(0));
  const char* low = static_cast<const char*>(cb->stack_bottom) + StackPool::kCanaryBytes;
  if (sp < low || !StackPool::canary_intact(cb)) [[unlikely]]
    stack_overflow(cb);
}

void Scheduler::stack_overflow(const ControlBlock* cb) const noexcept {
  std::fprintf(stderr,
               "cmbench::fiber: stack overflow: a fiber wrote into the canary at the bottom of "
               "its %zu-byte %s stack; memory beyond it may be corrupt, so the process aborts. "
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
  events_.resize(128);
}

bool Scheduler::wait_io(int fd, bool write) {
  ControlBlock* self = running();
  if (!self)
    throw std::logic_error("cmbench::fiber: wait_readable/wait_writable must be called from a fiber");
  if (fd < 0) throw std::logic_error("cmbench::fiber: wait on a negative descriptor");
  const auto index = static_cast<std::size_t>(fd);
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
  try {
    park();  // woken by poll() when epoll reports the edge, or by forget()
  } catch (...) {
    // Unwound while waiting. Shutdown has normally dropped every waiter
    // already; the slot is looked up again because fds_ may have grown.
    FdState& now = fds_[index];
    IoWaiter*& mine = write ? now.writer : now.reader;
    if (mine == &w) {
      mine = nullptr;
      --io_waiters_;
    }
    throw;
  }
  return !w.forgotten;
}

void Scheduler::forget(int fd) {
  if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return;
  FdState& st = fds_[static_cast<std::size_t>(fd)];
  if (!st.registered) return;
  // ENOENT/EBADF: the descriptor was closed already (which removed it).
  if (epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr) != 0 && errno != ENOENT && errno != EBADF)
    throw_errno("epoll_ctl(EPOLL_CTL_DEL)");
  for (IoWaiter* w : {st.reader, st.writer}) {
    if (!w) continue;
    w->forgotten = true;
    ready(w->fiber);
    --io_waiters_;
  }
  st = FdState{};
}

void Scheduler::sleep_until(int64_t deadline_ns) {
  ControlBlock* self = running();
  if (!self) throw std::logic_error("cmbench::fiber: sleep_until must be called from a fiber");
  if (deadline_ns <= now_ns()) return;
  // The heap's vector keeps its capacity: once it has held as many timers as
  // fibers sleep at once, a sleep allocates nothing.
  timers_.push_back(Timer{deadline_ns, timer_seq_++, self});
  std::push_heap(timers_.begin(), timers_.end(), Later{});
  park();  // woken by fire_timers() once the deadline has passed
}

void Scheduler::fire_timers() noexcept {
  if (timers_.empty()) return;
  const int64_t now = now_ns();
  while (!timers_.empty() && timers_.front().deadline <= now) {
    std::pop_heap(timers_.begin(), timers_.end(), Later{});
    ready(timers_.back().fiber);
    timers_.pop_back();
  }
}

void Scheduler::poll(bool block) {
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
    int n = 0;
    if (have_pwait2_) {
      timespec ts{static_cast<time_t>(timeout_ns / 1'000'000'000),
                  static_cast<long>(timeout_ns % 1'000'000'000)};
      n = epoll_pwait2(epfd_, events_.data(), static_cast<int>(events_.size()),
                       timeout_ns < 0 ? nullptr : &ts, nullptr);
      if (n < 0 && errno == ENOSYS) have_pwait2_ = false;
    }
    if (!have_pwait2_) {
      // Milliseconds, rounded up so that a sleeper is never woken early.
      const int ms = timeout_ns < 0 ? -1 : static_cast<int>((timeout_ns + 999'999) / 1'000'000);
      n = epoll_wait(epfd_, events_.data(), static_cast<int>(events_.size()), ms);
    }
    if (n < 0) {
      if (errno != EINTR) reactor_failure(have_pwait2_ ? "epoll_pwait2" : "epoll_wait", errno);
      n = 0;
    }
    for (int i = 0; i < n; ++i) {
      const uint32_t ev = events_[static_cast<std::size_t>(i)].events;
      FdState& st = fds_[static_cast<std::size_t>(events_[static_cast<std::size_t>(i)].data.fd)];
      if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        if (IoWaiter* w = std::exchange(st.reader, nullptr)) {
          ready(w->fiber);
          --io_waiters_;
        } else {
          st.read_ready = true;
        }
      }
      if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
        if (IoWaiter* w = std::exchange(st.writer, nullptr)) {
          ready(w->fiber);
          --io_waiters_;
        } else {
          st.write_ready = true;
        }
      }
    }
  }
  fire_timers();
  since_poll_ = 0;
  round_ = std::max(runq_.size(), kPollRound);
}

// At shutdown every parked fiber is unwound: none may stay in the timer heap
// or as a descriptor's waiter.
void Scheduler::drop_waiters() noexcept {
  timers_.clear();
  for (FdState& st : fds_) st.reader = st.writer = nullptr;
  io_waiters_ = 0;
}

void Scheduler::run_thread_call() {
  void (*call)(void*) = std::exchange(thread_call_, nullptr);
  ControlBlock* caller = std::exchange(thread_caller_, nullptr);
  try {
    call(thread_call_arg_);
  } catch (...) {
    thread_call_error_ = std::current_exception();
  }
  switch_to(caller);
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
  cb_->joiners.push(self);
  try {
    s->park();
  } catch (...) {
    cb_->joiners.remove(self);
    throw;
  }
}

}  // namespace cmbench::fiber
