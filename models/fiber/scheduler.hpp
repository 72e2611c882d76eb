#pragma once
// cmbench's own goroutine-style runtime: fibers (stackful coroutines on
// Boost.Context) scheduled cooperatively from a FIFO run queue.
//
// The notes the project starts from say that where a language has no
// coroutines the program brings its own scheduler; this is that scheduler,
// kept small enough to read in one sitting:
//   - spawn(fn) puts a new fiber at the tail of the run queue and returns a
//     JoinHandle; run() runs fibers until every one has finished;
//   - a fiber runs until it yields or parks (on a Mutex, a Channel or a join);
//     it then switches directly to the fiber at the head of the run queue —
//     one boost::context::fiber::resume_with, no trip through a scheduler
//     loop — and back to the thread that called run() only when nothing is
//     runnable;
//   - a switch reads no clock, takes no lock and allocates nothing: the run
//     queue and the wait queues are intrusive lists of control blocks and of
//     waiter records on the parked fibers' own stacks;
//   - stacks come from a StackPool (fixed size, carved from large mappings,
//     a guard page while the mapping budget lasts and a canary beyond it,
//     reused); the canary is checked at every switch away from a fiber.
//
// A reactor and timers make blocking I/O and sleeping synchronous-looking,
// as Go's netpoller does:
//   - wait_readable(fd) / wait_writable(fd) park the calling fiber until
//     epoll reports the descriptor ready; models/fiber/net.hpp builds
//     read/write/accept on them that retry on EAGAIN by parking;
//   - sleep_until(t) parks the fiber in a timer min-heap;
//   - when no fiber is runnable the thread that called run() waits in
//     epoll_pwait2() for descriptors, with the nearest deadline as its
//     timeout (nanoseconds; epoll_wait's milliseconds, rounded up, only where
//     the kernel lacks epoll_pwait2);
//   - while fibers are runnable nothing is polled, except that once every
//     round of the run queue (as many switches as fibers were queued at the
//     last poll, and at least kPollRound) a fiber about to switch polls with
//     a zero timeout and fires due timers, so a busy run queue cannot starve
//     I/O and timers. With no descriptor waited for and no timer pending
//     there is no poll at all: a pure channel program never enters epoll and
//     never reads the clock.
// Descriptors are registered edge-triggered (EPOLLET), once, at the first
// wait: a connection costs one epoll_ctl(ADD) for its lifetime rather than a
// MOD per wait (level-triggered with one-shot would need one per wait, plain
// level-triggered would report a ready descriptor on every poll until someone
// drains it). Edges are not lost: an edge that arrives while no fiber waits
// in that direction is remembered as a ready flag, which the next wait
// consumes by returning at once, so the caller retries its operation (at
// worst one spurious retry, as in Go).
//
// One thread for now. Everything the runtime keeps is in the Scheduler
// object, and running code reaches it through one thread-local pointer
// (Scheduler::current()), so an M:N mode can later give each worker thread a
// scheduler of its own and move control blocks between their run queues.
//
// Errors: an exception escaping a fiber's function stops the runtime — like
// an unrecovered panic in Go — and run() rethrows the first one after it has
// unwound every other fiber. If fibers remain but none is runnable, run()
// unwinds them and throws FiberDeadlock (Go: "all goroutines are asleep").
// Unwinding a fiber throws FiberCancelled from the park or yield it is
// suspended in, so its destructors run; code that catches every exception
// inside a fiber must rethrow FiberCancelled.
#include <boost/context/fiber.hpp>
#include <sys/epoll.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "models/fiber/intrusive.hpp"
#include "models/fiber/stack_pool.hpp"

#if defined(__SANITIZE_THREAD__)
// The instrumentation's own entry point (not in tsan_interface.h); spawn()
// needs it to balance an entry that Boost.Context's fiber creation leaves.
extern "C" void __tsan_func_exit(void);
#endif

namespace cmbench::fiber {

inline constexpr std::size_t kDefaultStackSize = 16384;

// Thrown inside a fiber to unwind it when the runtime shuts down. Not an
// std::exception, so that `catch (const std::exception&)` does not swallow it.
struct FiberCancelled {};

class FiberDeadlock : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Scheduler;

// Refers to one spawned fiber. Cheap to copy; valid as long as its Scheduler.
class JoinHandle {
 public:
  JoinHandle() = default;
  // True once the fiber's function has returned (or it was unwound).
  bool done() const noexcept { return !cb_ || cb_->generation != generation_; }
  // Parks the calling fiber until this fiber has finished. Must be called
  // from another fiber of the same scheduler.
  void join();

 private:
  friend class Scheduler;
  JoinHandle(ControlBlock* cb, uint64_t generation) : cb_(cb), generation_(generation) {}
  ControlBlock* cb_ = nullptr;
  uint64_t generation_ = 0;
};

class Scheduler {
 public:
  explicit Scheduler(std::size_t stack_size = kDefaultStackSize);
  // Unwinds fibers that never finished (spawned but never run, say).
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Creates a fiber that will run fn() and queues it at the tail of the run
  // queue. Callable from the thread before run() and from fibers. Allocates
  // nothing once the pool has a free stack: fn is moved into the fiber's
  // record, which Boost.Context places on the fiber's own stack.
  template <typename F>
  JoinHandle spawn(F&& fn);

  // Runs fibers until all have finished. Rethrows the first exception that
  // escaped a fiber; throws FiberDeadlock if fibers remain but none can run.
  void run();

  // The scheduler running on this thread (inside run()), or null.
  static Scheduler* current() noexcept { return current_scheduler_; }

  // Moves the running fiber to the tail of the run queue and runs the head.
  void yield();

  // --- the reactor and timers (calling fiber only) ---
  // Park the calling fiber until epoll reports `fd` readable (or hung up, or
  // in error) / writable. The first wait registers `fd` (edge-triggered);
  // call forget() before closing it. Returns false when forget(fd) was
  // called while the fiber waited (Go's "use of closed network connection").
  // One fiber at a time may wait in each direction of a descriptor.
  bool wait_readable(int fd) { return wait_io(fd, false); }
  bool wait_writable(int fd) { return wait_io(fd, true); }
  // Deregisters `fd` (epoll_ctl DEL) and wakes its waiters, whose waits then
  // return false. Call it before closing a descriptor the reactor knows, so
  // that a later descriptor with the same number starts fresh.
  void forget(int fd);
  // Parks the calling fiber until now_ns() >= deadline_ns (never earlier);
  // returns at once if that time has passed.
  void sleep_until(int64_t deadline_ns);

  // Runs fn() on the stack of the thread that called run(), the calling
  // fiber suspended meanwhile (Go's systemstack): for work too deep for a
  // small fiber stack, like reading /proc for the memory probe. Rethrows what
  // fn throws. Outside a fiber it just calls fn().
  template <typename F>
  void on_thread_stack(F&& fn);

  // --- for the runtime's primitives (Mutex, Channel, JoinHandle) ---
  // The running fiber, or null when called from the thread outside a fiber.
  ControlBlock* running() const noexcept { return current_ == &main_ ? nullptr : current_; }
  // Suspends the running fiber until someone calls ready() on it; the caller
  // has already put it in some wait queue. Throws FiberCancelled when the
  // runtime is shutting down (the caller must then unlink itself).
  void park();
  // Makes a parked fiber runnable (tail of the run queue).
  void ready(ControlBlock* cb) noexcept { runq_.push(cb); }

  // --- introspection, for tests and notes ---
  std::size_t stack_size() const noexcept { return pool_.stack_size(); }
  std::size_t guard_size() const noexcept { return pool_.guard_size(); }
  std::size_t stacks_mapped() const noexcept { return pool_.mapped(); }
  std::size_t stacks_free() const noexcept { return pool_.free_count(); }
  std::size_t live() const noexcept { return live_; }
  std::size_t guard_budget() const noexcept { return pool_.guard_budget(); }
  std::size_t stacks_guarded() const noexcept { return pool_.guarded(); }
  std::size_t stack_slabs() const noexcept { return pool_.slabs(); }
  // "guard page for the first N stacks, canary beyond", for the results.
  std::string stack_protection() const;
  // Polls made: blocking (nothing runnable) and zero-timeout (between rounds).
  uint64_t blocking_polls() const noexcept { return blocking_polls_; }
  uint64_t round_polls() const noexcept { return round_polls_; }
  bool precise_timeouts() const noexcept { return have_pwait2_; }

  // The minimum number of switches between two zero-timeout polls.
  static constexpr std::size_t kPollRound = 64;

 private:
  template <typename F>
  boost::context::fiber entry(ControlBlock* self, F& fn) noexcept;
  void switch_to(ControlBlock* next);
  ControlBlock* next_to_run() noexcept;
  boost::context::fiber finish(ControlBlock* self) noexcept;
  void fail(std::exception_ptr error) noexcept;
  void link_live(ControlBlock* cb) noexcept;
  void unlink_live(ControlBlock* cb) noexcept;
  void shutdown();
  void asan_entered() noexcept;
  void asan_resumed(void* fake_stack) noexcept;
  void check_stack(const ControlBlock* cb) const noexcept;
  [[noreturn]] void stack_overflow(const ControlBlock* cb) const noexcept;

  // The reactor. A waiter record lives on the parked fiber's stack.
  struct IoWaiter {
    ControlBlock* fiber;
    bool forgotten;
  };
  struct FdState {
    IoWaiter* reader = nullptr;
    IoWaiter* writer = nullptr;
    bool registered = false;
    bool read_ready = false;   // an edge came while nobody waited to read
    bool write_ready = false;  // the same for writing
  };
  struct Timer {
    int64_t deadline;
    uint64_t seq;  // FIFO among equal deadlines
    ControlBlock* fiber;
  };
  bool wait_io(int fd, bool write);
  void ensure_epoll();
  bool has_waiters() const noexcept { return io_waiters_ != 0 || !timers_.empty(); }
  // Polls epoll (blocking until the nearest deadline when `block`), readies
  // the fibers whose descriptors or deadlines are due, and starts a new round.
  void poll(bool block);
  void fire_timers() noexcept;
  void drop_waiters() noexcept;
  void run_thread_call();

  static inline thread_local Scheduler* current_scheduler_ = nullptr;

  StackPool pool_;  // first member: destroyed last, after every fiber is gone
  // The thread that called run(): its context while a fiber runs.
  ControlBlock main_;
  ControlBlock* current_ = &main_;
  ControlBlock* switched_from_ = nullptr;  // for the AddressSanitizer annotations
  IntrusiveQueue<ControlBlock> runq_;
  ControlBlock* live_list_ = nullptr;
  std::size_t live_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;

  int epfd_ = -1;
  bool have_pwait2_ = true;  // until the kernel says ENOSYS
  std::vector<FdState> fds_;  // indexed by descriptor
  std::size_t io_waiters_ = 0;
  std::vector<Timer> timers_;  // a min-heap on (deadline, seq)
  uint64_t timer_seq_ = 0;
  std::size_t since_poll_ = 0;  // switches since the last poll
  std::size_t round_ = kPollRound;
  uint64_t blocking_polls_ = 0;
  uint64_t round_polls_ = 0;
  std::vector<epoll_event> events_;

  // on_thread_stack(): the call the thread is asked to make, and for whom.
  void (*thread_call_)(void*) = nullptr;
  void* thread_call_arg_ = nullptr;
  ControlBlock* thread_caller_ = nullptr;
  std::exception_ptr thread_call_error_;
};

namespace this_fiber {
// Lets the other runnable fibers run; returns at once outside a fiber.
inline void yield() {
  if (Scheduler* s = Scheduler::current(); s && s->running()) s->yield();
}
// Parks the calling fiber until now_ns() >= deadline_ns.
void sleep_until(int64_t deadline_ns);
}  // namespace this_fiber

// ---------------------------------------------------------------------------

template <typename F>
JoinHandle Scheduler::spawn(F&& fn) {
  ControlBlock* cb = pool_.acquire();
  try {
    // The context function receives the fiber that resumed it; that is always
    // empty here, because switch_to() saves the switching fiber's context on
    // the way in (resume_with) instead of passing it along.
    cb->ctx = boost::context::fiber(
        std::allocator_arg, pool_.preallocated(cb), PoolStackAllocator(pool_),
        [this, cb, fn = std::forward<F>(fn)](boost::context::fiber&&) mutable {
          return entry(cb, fn);
        });
  } catch (...) {
    pool_.release(cb);
    throw;
  }
#if defined(__SANITIZE_THREAD__)
  // Boost's constructor jumped onto the new stack, entered its fiber_entry
  // there and jumped back without leaving it, so ThreadSanitizer counted one
  // function entry on this (the spawning) context that no exit will match.
  // Pop it, or each spawn leaves a frame behind and a context that spawns
  // 65,536 fibers overflows TSan's shadow stack. (TSan builds only.)
  __tsan_func_exit();
#endif
  cb->sched = this;
  cb->cancelled = false;
  link_live(cb);
  runq_.push(cb);
  return JoinHandle(cb, cb->generation);
}

template <typename F>
void Scheduler::on_thread_stack(F&& fn) {
  ControlBlock* self = running();
  if (!self) {
    fn();
    return;
  }
  thread_call_ = [](void* arg) { (*static_cast<std::remove_reference_t<F>*>(arg))(); };
  thread_call_arg_ = &fn;
  thread_caller_ = self;
  switch_to(&main_);  // run() makes the call and switches straight back
  if (thread_call_error_) std::rethrow_exception(std::exchange(thread_call_error_, nullptr));
}

template <typename F>
boost::context::fiber Scheduler::entry(ControlBlock* self, F& fn) noexcept {
  asan_entered();
  if (!self->cancelled) {
    // The function object is moved onto this frame so that it is destroyed
    // here, in this fiber, before finish(); left in Boost's record it would be
    // destroyed on top of the next fiber, after the switch. Nothing may switch
    // away from inside a catch block (Boost.Context's rule), so the handlers
    // only record; finish() switches afterwards.
    try {
      F body = std::move(fn);
      body();
    } catch (const FiberCancelled&) {
    } catch (...) {
      fail(std::current_exception());
    }
  }
  return finish(self);
}

}  // namespace cmbench::fiber
