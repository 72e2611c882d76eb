#pragma once
// cmbench's own goroutine-style runtime: fibers (stackful coroutines on
// Boost.Context) scheduled cooperatively from a run queue in Go's order.
//
// The notes the project starts from say that where a language has no
// coroutines the program brings its own scheduler; this is that scheduler,
// kept small enough to read in one sitting:
//   - spawn(fn) queues a new fiber and returns a JoinHandle; run() runs
//     fibers until every one has finished;
//   - the run queue keeps Go's order (models/fiber/run_queue.hpp): a fiber
//     just spawned or just made ready runs next, the one it displaces waits
//     at the tail of a local FIFO of 256 that spills its older half into a
//     global FIFO, and one pick in 61 serves the global queue first;
//   - a fiber runs until it yields or parks (on a Mutex, a Channel or a join);
//     it then switches directly to the next fiber of the run queue —
//     one boost::context::fiber::resume_with, no trip through a scheduler
//     loop — and back to the thread that called run() only when nothing is
//     runnable;
//   - a switch reads no clock, takes no lock and allocates nothing: the run
//     queues are rings of pointers and the wait queues intrusive lists of
//     control blocks;
//   - control blocks and stacks come from a StackPool (stacks of a fixed
//     size, carved from large mappings, a guard page while the mapping
//     budget lasts and a canary beyond it, reused); a fiber gets its stack
//     when it first runs, not when it is spawned; the stack pointer is
//     checked at every switch away from a fiber, and on an unguarded stack
//     the canary too.
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
//   - offload(fn) (models/fiber/offload.hpp) parks the calling fiber while a
//     thread of a small pool runs a blocking call; the pool thread hands the
//     fiber back through an inbox (a list under a lock) and an eventfd in the
//     epoll set, both made at the first offload, so the paths above gain
//     nothing while no fiber offloads. A pending offload counts as a waiter.
// Descriptors are registered edge-triggered, once, at the first wait; an
// edge that comes while nobody waits is remembered (models/fiber/reactor.hpp).
//
// Threads (the `threads` parameter): with one thread (the default) the
// scheduler is exactly the above, and no lock, atomic read-modify-write or
// thread-local lookup of a worker is on any path: every M:N branch is behind
// one `multi_` flag. With threads = T > 1 it is M:N: the thread that calls
// run() and T-1 threads it starts are workers in the shape of Go's Ps. Each
// has a runnext slot (a fiber its fibers spawn or make ready runs next on
// it), its own queue of 256 (StealQueue, run_queue.hpp: what runnext
// displaces) that idle workers steal half of, and its own stock of finished
// fibers' control blocks and stacks (StackPool::Cache), so that a spawn, a
// hand-off and a finish on one worker take no lock that another worker
// takes. The global queue (a GoOrder) takes what the reactor, the timers
// and yields make runnable and a worker's overflow, and serves one pick in
// 61; a worker whose own queue is empty takes its share of it at once
// (Go's globrunqget), up to the first fiber that has never run. The first
// M:N design shared one queue and the pool's lock between the workers:
// skynet at threads:0 then took 2.0x Go's time per leaf, against 0.65x with
// the per-worker pieces (scripts/perf-check). In M:N mode:
//   - the global queue, the live list, the timer heap and the reactor's
//     tables are guarded by the scheduler's lock; a worker's own queue by a
//     SpinLock of its own (taken inside the scheduler's, never around it); a
//     channel, a fiber mutex and a fiber's joiners by a SpinLock each; the
//     stack pool by its own;
//   - the parking race (a parked fiber made ready by another thread before
//     its context is saved) is closed as Boost.Fiber closes it: the parking
//     fiber keeps its wait queue locked across the switch, and the function
//     that resume_with() runs on the next context — after the context is
//     saved — unlocks it (park()); a yielding fiber is likewise put back on
//     the run queue only from inside that function;
//   - a worker with nothing to run (runnext, its queue, the global queue,
//     half of another's queue) looks at every other worker's queue once
//     more under the scheduler's lock, then sleeps on a futex; one of the
//     idle workers (the poller) blocks in epoll instead while descriptors
//     or timers are waited for, and an eventfd in the epoll set wakes it
//     when an earlier timer is added or the run ends; a fiber queued on a
//     worker's own queue wakes a sleeping worker to steal it, unless one is
//     already on its way (Go's wakep); the fibers a poll makes ready the
//     worker that polled runs itself, and it wakes the sleeping workers
//     only if some are still queued kShareAfterNs later (after_poll);
//   - run() returns once every fiber has finished (the other workers are
//     joined first); with every worker idle, no poller, no descriptor or
//     timer waited for and fibers left, it throws FiberDeadlock.
// Running code reaches its scheduler through one thread-local pointer
// (Scheduler::current()) and, in M:N mode, its worker through another.
//
// The files, by role:
//   scheduler.hpp/.cpp   spawn, run, the switch, park and yield, finish,
//                        failure and shutdown (and this overview);
//   scheduler_mn.cpp     the M:N mode's workers: their loop, idling, waking;
//   scheduler_io.cpp     the scheduler's side of the reactor, the timers and
//                        offload: waits, polls, the inbox;
//   policy.hpp           the run-queue policy (Go's order), run_queue.hpp;
//   reactor.hpp/.cpp     epoll, the descriptors' waiters, the wake eventfd,
//                        the offload inbox;
//   timers.hpp           the sleepers' min-heap;
//   sanitizers.hpp       what ASan and TSan are told at each switch;
//   stack_pool.hpp/.cpp  control blocks and stacks; offload.hpp/.cpp the
//                        blocking-call pool; channel, mutex, net: primitives.
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

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "harness/cell/crash_probe.hpp"
#include "models/fiber/intrusive.hpp"
#include "models/fiber/policy.hpp"
#include "models/fiber/reactor.hpp"
#include "models/fiber/spinlock.hpp"
#include "models/fiber/stack_pool.hpp"
#include "models/fiber/timers.hpp"

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
struct OffloadJob;  // models/fiber/offload.hpp

// How many M:N schedulers are inside run() in this process. The wait queues
// (Channel, Mutex) lock only while it is non-zero: one global load decides,
// cheaper on their fast paths than finding the calling fiber's scheduler (a
// thread-local load and a null check). It rises before a scheduler starts its
// worker threads and falls after it has joined them, so every operation of
// an M:N run sees it set; a one-thread scheduler running meanwhile in another
// thread merely locks too. (Sharing a channel between schedulers is not
// supported either way.)
inline std::atomic<int> multi_running{0};
inline bool any_multi() noexcept { return multi_running.load(std::memory_order_relaxed) != 0; }

// Refers to one spawned fiber. Cheap to copy; valid as long as its Scheduler.
class JoinHandle {
 public:
  JoinHandle() = default;
  // True once the fiber's function has returned (or it was unwound).
  bool done() const noexcept {
    return !cb_ || cb_->generation.load(std::memory_order_acquire) != generation_;
  }
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
  // `threads` kernel threads run the fibers (0: one per core, as
  // std::thread::hardware_concurrency() reports); 1 is the one-thread mode.
  explicit Scheduler(std::size_t stack_size = kDefaultStackSize, unsigned threads = 1);
  // Unwinds fibers that never finished (spawned but never run, say).
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Creates a fiber that will run fn() and queues it: spawned by a fiber, as
  // the fiber to run next (Go's runnext, RunQueue), else at the tail.
  // Callable from the thread before run() and from fibers. Allocates
  // nothing once the pool has a free control block and stack: fn is moved
  // into the control block (onto the heap only if it is bigger than
  // ControlBlock::kInlineFunction), and onto the fiber's own stack when it
  // starts. The stack is reserved here and attached at the first switch to
  // the fiber, so a fiber queued but not yet started touches no stack page.
  template <typename F>
  JoinHandle spawn(F&& fn);

  // Runs fibers until all have finished. Rethrows the first exception that
  // escaped a fiber; throws FiberDeadlock if fibers remain but none can run.
  void run();

  // The scheduler running on this thread (inside run()), or null.
  static Scheduler* current() noexcept { return current_scheduler_; }
  // For the cell's crash handler (harness/cell/crash_probe.hpp): the fiber
  // this thread runs and its stack, read from the thread-local worker that
  // the scheduler keeps anyway. Async-signal-safe (models/fiber/crash_probe.cpp).
  static bool running_unit(RunningUnit& unit) noexcept;
  // True when more than one thread runs the fibers (the M:N mode).
  bool multi() const noexcept { return multi_; }
  unsigned threads() const noexcept { return threads_; }

  // Lets the other runnable fibers run: the caller goes to the tail of the
  // run queue's global queue (Go's Gosched).
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

  // Runs fn() on the stack of the thread that runs the calling fiber, the
  // fiber suspended meanwhile (Go's systemstack): for work too deep for a
  // small fiber stack, like reading /proc for the memory probe. Rethrows what
  // fn throws. Outside a fiber it just calls fn().
  template <typename F>
  void on_thread_stack(F&& fn);

  // --- for the runtime's primitives (Mutex, Channel, JoinHandle) ---
  // The running fiber, or null when called from the thread outside a fiber.
  ControlBlock* running() noexcept {
    Worker& w = here();
    return w.current == &w.main ? nullptr : w.current;
  }
  // Suspends the running fiber until someone calls ready() on it; the caller
  // has already put it in some wait queue. Throws FiberCancelled when the
  // runtime is shutting down (the caller must then unlink itself).
  void park();
  // The same, for a wait queue guarded by `queue_lock` (M:N mode: the lock
  // the caller holds, and which it hands over with MaybeLock::release()).
  // The lock is released only once the fiber's context is saved, on the
  // next context, so a waker on another thread cannot resume the fiber
  // before it has left. With a null lock (one thread) it is park().
  void park(SpinLock* queue_lock);
  // Makes a parked fiber runnable: it runs next (the policy's awakened()).
  void ready(ControlBlock* cb) noexcept {
    if (!multi_)
      runq_.awakened(cb);
    else
      ready_shared(cb);
  }
  // offload() (models/fiber/offload.hpp): counts the job as a waiter, hands
  // it to the pool and parks the calling fiber until the scheduler takes the
  // finished job from its inbox. Throws FiberCancelled (only once the job is
  // done) when the runtime shuts down meanwhile.
  void offload(OffloadJob& job);
  // Called by the pool thread that ran `job`: puts it in the inbox and wakes
  // the scheduler's poller. Thread-safe; touches nothing of the scheduler or
  // the job once the inbox's lock is released.
  void complete_offload(OffloadJob* job) noexcept;

  // --- introspection, for tests and notes ---
  std::size_t stack_size() const noexcept { return pool_.stack_size(); }
  std::size_t guard_size() const noexcept { return pool_.guard_size(); }
  std::size_t stacks_mapped() const noexcept { return pool_.mapped(); }
  // Stacks a fiber has ever run on (their top page made resident).
  std::size_t stacks_touched() const noexcept { return pool_.touched(); }
  std::size_t stacks_free() const noexcept { return pool_.free_count(); }
  std::size_t live() const noexcept { return live_; }
  std::size_t guard_budget() const noexcept { return pool_.guard_budget(); }
  std::size_t stacks_guarded() const noexcept { return pool_.guarded(); }
  std::size_t stack_slabs() const noexcept { return pool_.slabs(); }
  // "guard page for the first N stacks, canary beyond", for the results.
  std::string stack_protection() const;
  // "one thread; Go's run-queue order ..." or "M:N on T threads sharing one
  // run queue ...", for the workloads' scheduler notes.
  std::string threading() const;
  // Polls made: blocking (nothing runnable) and zero-timeout (between rounds).
  uint64_t blocking_polls() const noexcept { return blocking_polls_; }
  uint64_t round_polls() const noexcept { return round_polls_; }
  // M:N: fresh fibers a parking fiber handed to its worker's loop to start,
  // rather than start them with a lock held (switch_publish).
  uint64_t deferred_starts() const noexcept { return deferred_starts_.load(std::memory_order_relaxed); }
  bool precise_timeouts() const noexcept { return reactor_.precise_timeouts(); }

  // The minimum number of switches between two zero-timeout polls.
  static constexpr std::size_t kPollRound = 64;
  // M:N: how long the fibers a poll made ready may wait, queued, for the
  // worker that polled before it wakes the sleeping workers to share them
  // (share_batch()).
  static constexpr int64_t kShareAfterNs = 10'000;

 private:
  // What one thread running fibers keeps: its own context while a fiber
  // runs, the fiber it runs, its polling round and its on_thread_stack()
  // request. The one-thread mode has just w0_.
  struct Worker {
    Scheduler* sched = nullptr;
    ControlBlock main;
    ControlBlock* current = &main;
    ControlBlock* switched_from = nullptr;  // for the AddressSanitizer annotations
    // M:N: the fiber a fiber on this worker made ready last, which this
    // worker runs next (Go's per-P runnext): a hand-off between two fibers
    // stays on one thread instead of waking another and moving both fibers'
    // stacks between cores at every message. Only this worker's thread
    // touches it. The fiber it displaces goes to the shared queue, where
    // an idle worker is woken for it.
    ControlBlock* runnext = nullptr;
    uint32_t runnext_streak = 0;  // runnext picks in a row (see next_to_run_shared)
    // M:N: this worker's own queue (Go's p.runq), which idle workers steal
    // half of; the fiber runnext displaces goes here, and what a fiber
    // spawns.
    StealQueue<ControlBlock> local;
    uint32_t ticks = 0;     // picks past runnext: every kGlobalEvery-th serves the global queue first
    uint32_t victim = 0;    // the worker the next steal looks at first
    // M:N: finished fibers' blocks and stacks for this worker's spawns.
    StackPool::Cache stack_cache;
    std::size_t since_poll = 0;  // switches since the last poll
    std::size_t round = kPollRound;
    // M:N: when (now_ns()) this worker's last poll left more fibers ready
    // than it takes while other workers slept; 0: no such batch waits.
    int64_t batch_since = 0;
    std::vector<epoll_event> events;
    // on_thread_stack(): the call the thread is asked to make, and for whom.
    void (*thread_call)(void*) = nullptr;
    void* thread_call_arg = nullptr;
    ControlBlock* thread_caller = nullptr;
    std::exception_ptr thread_call_error;
  };
  // This thread's worker. The one-thread mode reads no thread-local: it has
  // one worker. M:N re-reads the thread-local after every switch, because a
  // fiber may resume on another thread.
  Worker& here() noexcept { return multi_ ? multi_here() : w0_; }
  Worker& multi_here() noexcept;

  // --- scheduler.cpp: the switch, and a fiber's life ---
  // Gives a fiber that has never run its stack and its Boost.Context fiber,
  // whose entry() runs the stored function. Called just before the first
  // switch to it, on the switching context.
  void start(ControlBlock* cb) noexcept;
  boost::context::fiber entry(ControlBlock* self) noexcept;
  void switch_to(ControlBlock* next);
  // M:N: the switch that parks or yields; after `prev`'s context is saved,
  // on the next context, unlocks `unlock` and/or puts `prev` on the run queue.
  void switch_publish(ControlBlock* next, SpinLock* unlock, bool requeue);
  void after_switch(Worker& w, ControlBlock* self) noexcept;
  // One thread: the next fiber (or the thread's own context), after a round
  // poll when one is due.
  ControlBlock* next_to_run() noexcept;
  boost::context::fiber finish(ControlBlock* self) noexcept;
  void fail(std::exception_ptr error) noexcept;
  void shutdown();
  void link_live(ControlBlock* cb) noexcept;
  void unlink_live(ControlBlock* cb) noexcept;
  void run_thread_call(Worker& w);
  void check_stack(const ControlBlock* cb) const noexcept;
  [[noreturn]] void stack_overflow(const ControlBlock* cb) const noexcept;

  // --- scheduler_mn.cpp: M:N mode's workers ---
  void run_threads();
  void run_worker(Worker& w);
  void run_from_loop(Worker& w, ControlBlock* next);
  ControlBlock* next_to_run_shared(Worker& w) noexcept;
  // M:N: the next fiber from this worker's own queue or the global one
  // (every kGlobalEvery-th pick the global first), or null.
  ControlBlock* pick_queued(Worker& w) noexcept;
  // M:N: with this worker's own queue empty, its share of the global queue:
  // returns the first, queues the rest on its own queue; or null.
  ControlBlock* take_global(Worker& w) noexcept;
  // M:N: takes half of another worker's queue, or null.
  ControlBlock* steal(Worker& w, bool every_victim) noexcept;
  // M:N: queues `cb` on this worker's own queue and wakes an idle worker to
  // steal it.
  void push_local(Worker& w, ControlBlock* cb) noexcept;
  void wake_to_steal() noexcept;
  // M:N: reserves room in the run queue, links `cb` live and queues it; on
  // failure destroys its function, releases it and throws LimitError.
  void enqueue_spawned(ControlBlock* cb, bool from_fiber);
  // Room in the run queue for every live fiber and the ones being spawned,
  // so that queueing never allocates (M:N: under lock_). Throws LimitError
  // (ENOMEM).
  void reserve_queue();
  void ready_shared(ControlBlock* cb, bool yielded = false) noexcept;
  void notify_idle() noexcept;
  void wake_one() noexcept;
  void wake_all() noexcept;
  void poll_round_shared(Worker& w) noexcept;
  // After a poll (under lock_): if it left more fibers ready than this
  // worker takes while others sleep, notes when (w.batch_since), and
  // share_batch() wakes the sleeping workers if the batch is still queued
  // kShareAfterNs later.
  void after_poll(Worker& w) noexcept;
  void share_batch(Worker& w, bool locked) noexcept;

  // --- scheduler_io.cpp: the reactor, the timers and offload ---
  bool wait_io(int fd, bool write);
  // Descriptors, timers and offloads waited for. Read without the lock as a
  // hint (a relaxed load is a plain load); written only under it (or by the
  // one thread), so a load and a store suffice.
  bool has_waiters() const noexcept { return pending_.load(std::memory_order_relaxed) != 0; }
  void add_pending(std::ptrdiff_t d) noexcept {
    pending_.store(pending_.load(std::memory_order_relaxed) + static_cast<std::size_t>(d),
                   std::memory_order_relaxed);
  }
  // One thread: polls epoll (blocking until the nearest deadline when
  // `block`), readies the fibers whose descriptors, deadlines or offloads
  // are due, and starts a new round.
  void poll(Worker& w, bool block);
  // Readies what epoll reported in w.events[0, n) and the inbox if the wake
  // eventfd was among it (under the lock in M:N mode).
  void dispatch(Worker& w, int n) noexcept;
  void fire_timers() noexcept;
  void drain_inbox() noexcept;
  void wait_offloads() noexcept;
  void drop_waiters() noexcept;

  static inline thread_local Scheduler* current_scheduler_ = nullptr;
  static inline thread_local Worker* current_worker_ = nullptr;

  StackPool pool_;  // first member: destroyed last, after every fiber is gone
  const unsigned threads_;
  const bool multi_;
  // The thread that called run(); in M:N mode the first of the workers.
  Worker w0_;
  GoOrder runq_;  // Go's order (in M:N mode, shared under lock_)
  ControlBlock* live_list_ = nullptr;
  std::size_t live_ = 0;
  std::atomic<bool> stopping_{false};
  std::exception_ptr error_;

  // M:N mode: the lock of the run queue, the live list, the reactor's tables
  // and the timers (a SpinLock, because park() hands it to the next context
  // to unlock, which a pthread mutex does not allow), and the futex word the
  // idle workers sleep on (bumped by every wake).
  SpinLock lock_;
  std::atomic<uint32_t> wake_seq_{0};
  // Workers asleep on wake_seq_ (or about to be): changed under lock_,
  // read without it by push_local().
  std::atomic<std::size_t> idle_{0};
  // A worker was woken to steal and has not yet looked (Go's nmspinning):
  // no other is woken for a fiber queued meanwhile.
  std::atomic<bool> waking_{false};
  // Every worker of the run, for the thieves (set before any starts).
  std::vector<Worker*> workers_;
  bool poller_ = false;          // a worker blocks in epoll
  int64_t poller_deadline_ = 0;  // ... until then (INT64_MAX: no timeout)
  bool deadlocked_ = false;

  Reactor reactor_;
  Timers timers_;
  std::atomic<std::size_t> pending_{0};  // reactor waiters + timers + offloads_
  // Offloads handed to the pool and not yet taken back from the inbox.
  // Written by the scheduler's side only: the one thread, or under lock_.
  std::size_t offloads_ = 0;
  uint64_t blocking_polls_ = 0;
  uint64_t round_polls_ = 0;
  std::atomic<uint64_t> deferred_starts_{0};
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
  if (!multi_) reserve_queue();  // M:N: enqueue_spawned() reserves, under the lock it takes anyway
  // A control block with a stack reserved; the stack itself is attached
  // when the fiber first runs (start()).
  ControlBlock* cb = pool_.acquire();
  try {
    cb->store(std::forward<F>(fn));
  } catch (...) {
    pool_.release(cb);
    throw;
  }
  cb->sched = this;
  cb->cancelled = false;
  const uint64_t generation = cb->generation.load(std::memory_order_relaxed);
  // From a fiber: it runs next (Go's newproc). From the thread, before
  // run(): the tail, so the fibers a program starts with run in the order it
  // spawned them.
  const bool from_fiber = running() != nullptr;
  if (!multi_) {
    link_live(cb);
    runq_.spawned(cb, from_fiber);
  } else {
    enqueue_spawned(cb, from_fiber);  // may run on another worker at once
  }
  return JoinHandle(cb, generation);
}

template <typename F>
void Scheduler::on_thread_stack(F&& fn) {
  ControlBlock* self = running();
  if (!self) {
    fn();
    return;
  }
  Worker& w = here();
  w.thread_call = [](void* arg) { (*static_cast<std::remove_reference_t<F>*>(arg))(); };
  w.thread_call_arg = &fn;
  w.thread_caller = self;
  // The worker's loop makes the call and switches straight back, on the same
  // thread: the fiber is in no queue meanwhile, so no other worker can take it.
  switch_to(&w.main);
  Worker& back = here();
  if (back.thread_call_error)
    std::rethrow_exception(std::exchange(back.thread_call_error, nullptr));
}

}  // namespace cmbench::fiber
