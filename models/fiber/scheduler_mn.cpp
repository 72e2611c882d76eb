// The M:N mode's workers (Scheduler with threads > 1): the threads run()
// starts, each worker's loop, how an idle worker waits and how it is woken.
// Every worker shares one run queue (the policy, GoOrder), the live list,
// the reactor's tables and the timers under the scheduler's lock_; a fiber
// made ready by a fiber goes first to its worker's own runnext slot.
#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <memory>
#include <new>
#include <thread>
#include <utility>
#include <vector>

#include "harness/cell/errors.hpp"
#include "harness/cell/futex.hpp"
#include "harness/cell/probe.hpp"
#include "models/fiber/scheduler.hpp"

namespace cmbench::fiber {

// This thread is worker 0; threads_ - 1 more run the same loop. They are
// joined before run() goes on, so that shutdown and the errors it reports
// see the fibers' state from one thread again. Every worker exists (in
// workers_, for the thieves) before the first thread starts.
void Scheduler::run_threads() {
  deadlocked_ = false;
  multi_running.fetch_add(1, std::memory_order_relaxed);
  struct Running {
    ~Running() { multi_running.fetch_sub(1, std::memory_order_relaxed); }
  } running;
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::thread> threads;
  workers_.assign(1, &w0_);
  try {
    for (unsigned i = 1; i < threads_; ++i) {
      workers.push_back(std::make_unique<Worker>());
      workers.back()->sched = this;
      workers_.push_back(workers.back().get());
    }
  } catch (...) {
    fail(std::current_exception());  // std::bad_alloc: nothing started yet
    workers.clear();
    workers_.assign(1, &w0_);
  }
  try {
    for (std::unique_ptr<Worker>& owned : workers) {
      Worker* w = owned.get();
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
  // A worker that never started sits in workers_ with an empty queue: a
  // thief finds nothing there, and nothing is ever queued on it.
  run_worker(w0_);
  for (std::thread& t : threads) t.join();
  workers_.clear();
}

// One worker's loop: run this worker's runnext, its own queue, the global
// queue, or half of another worker's queue; with nothing to run, block in
// epoll if descriptors, timers or offloads are waited for and no other
// worker does already, else sleep until a fiber is queued or the end.
void Scheduler::run_worker(Worker& w) {
  pool_.bind_cache(w.stack_cache);
  struct Unbind {
    StackPool& pool;
    StackPool::Cache& cache;
    ~Unbind() { pool.unbind_cache(cache); }
  } unbind{pool_, w.stack_cache};
  for (;;) {
    if (!stopping_.load(std::memory_order_relaxed)) {
      ControlBlock* next = std::exchange(w.runnext, nullptr);
      if (!next) next = pick_queued(w);
      if (!next) next = steal(w, false);
      if (next) {
        run_from_loop(w, next);
        continue;
      }
    }
    lock_.lock();
    if (live_ == 0 || error_ || deadlocked_) break;
    // Queued on the global queue since it was looked at without the lock.
    if (ControlBlock* next = runq_.pick_next()) {
      lock_.unlock();
      run_from_loop(w, next);
      continue;
    }
    w.batch_since = 0;  // whatever the last poll made ready has run
    if (has_waiters() && !poller_) {
      poller_ = true;
      ++blocking_polls_;
      int64_t timeout_ns = -1;
      poller_deadline_ = INT64_MAX;
      if (!timers_.empty()) {
        poller_deadline_ = timers_.nearest();
        timeout_ns = std::max<int64_t>(0, poller_deadline_ - now_ns());
      }
      lock_.unlock();
      const int n = reactor_.wait(w.events, timeout_ns);
      lock_.lock();
      poller_ = false;
      dispatch(w, n);
      fire_timers();
      after_poll(w);
      lock_.unlock();
      continue;
    }
    if (!poller_ && !has_waiters() && idle_.load(std::memory_order_relaxed) + 1 == threads_) {
      // Every other worker sleeps (so its own queue is empty: only its own
      // fibers fill it), nothing is runnable here or in the global queue,
      // and nothing can make a fiber runnable: the live fibers are
      // deadlocked.
      deadlocked_ = true;
      lock_.unlock();
      wake_all();
      return;
    }
    idle_.fetch_add(1, std::memory_order_relaxed);
    const uint32_t seen = wake_seq_.load(std::memory_order_acquire);
    // One last look at every other worker's queue, each under its lock,
    // now that idle_ counts this worker: a fiber queued before the look
    // took that lock is found here, and one queued after it sees idle_ and
    // wakes a worker (push_local). The look is made under lock_ too, so
    // that no worker's deadlock check above counts this one idle while it
    // holds fibers it has just taken.
    if (ControlBlock* next = steal(w, true)) {
      idle_.fetch_sub(1, std::memory_order_relaxed);
      lock_.unlock();
      waking_.exchange(false, std::memory_order_acq_rel);
      run_from_loop(w, next);
      continue;
    }
    lock_.unlock();
    // A futex wait (harness/cell/futex.hpp: not std::atomic::wait, which
    // yields the thread 4 times first); any wake after `seen` was read (under
    // the lock) returns at once, so no wake-up is lost between the unlock and
    // the wait.
    futex_wait(wake_seq_, seen);
    lock_.lock();
    idle_.fetch_sub(1, std::memory_order_relaxed);
    lock_.unlock();
    // Awake and about to look: the next fiber queued may wake another.
    waking_.exchange(false, std::memory_order_acq_rel);
  }
  lock_.unlock();
}

// Runs `next` from the worker's own context; it comes back here when no
// fiber is runnable on this worker, or to make an on_thread_stack() call.
void Scheduler::run_from_loop(Worker& w, ControlBlock* next) {
  switch_to(next);
  while (w.thread_call) run_thread_call(w);
}

void Scheduler::wake_one() noexcept {
  wake_seq_.fetch_add(1, std::memory_order_release);
  futex_wake(wake_seq_, 1);
}

void Scheduler::wake_all() noexcept {
  wake_seq_.fetch_add(1, std::memory_order_release);
  futex_wake(wake_seq_, kFutexWakeAll);
}

// A fiber went on this worker's own queue: if a worker sleeps and none is
// already on its way to look (Go's wakep under nmspinning), wake one to
// steal it. The push released the queue's lock before idle_ is read, and a
// worker going to sleep counts itself in idle_ before it takes that lock
// for its last look (run_worker), so either it finds the fiber or this
// finds it counted.
void Scheduler::wake_to_steal() noexcept {
  if (idle_.load(std::memory_order_relaxed) == 0) return;
  if (waking_.exchange(true, std::memory_order_acq_rel)) return;
  wake_one();
}

void Scheduler::push_local(Worker& w, ControlBlock* cb) noexcept {
  std::array<ControlBlock*, StealQueue<ControlBlock>::kCapacity / 2> spill;
  if (const std::size_t n = w.local.push(cb, spill); n > 0) {
    // Go's runqputslow: the older half to the global queue's tail.
    lock_.lock();
    for (std::size_t i = 0; i < n; ++i) runq_.polled(spill[i]);
    lock_.unlock();
  }
  wake_to_steal();
}

ControlBlock* Scheduler::pick_queued(Worker& w) noexcept {
  // One pick in kGlobalEvery serves the global queue first, so that what the
  // reactor, the timers and yields put there does not starve behind a
  // worker's own queue (Go's schedtick % 61).
  const bool global_first = ++w.ticks % RunQueue<ControlBlock>::kGlobalEvery == 0;
  if (global_first) {
    lock_.lock();
    ControlBlock* next = runq_.pick_next();
    lock_.unlock();
    if (next) return next;
  }
  if (ControlBlock* next = w.local.pop()) return next;
  if (global_first) return nullptr;  // the global queue was empty a moment ago
  return take_global(w);
}

// Go's globrunqget: a worker whose own queue is empty takes its share of the
// global queue at once (the queue's length over the workers, plus one; at
// most half its own queue), runs the first and queues the rest on its own
// queue, where thieves reach them. One lock for many picks: when close()
// readies a million parked fibers (spawn at threads:0), the workers would
// otherwise take the scheduler's lock once per fiber, against each other.
// Unlike Go's, the share ends at the first fiber that has never run: the
// fibers a fresh one spawns would queue behind the rest of the share, and
// the tree would be run breadth-first, each fresh fiber touching a stack of
// its own. Skynet at 1M leaves on 2 threads took 14% longer with a peak of
// 146 MB against 53 MB when the share took fresh fibers too (cmbench ab).
ControlBlock* Scheduler::take_global(Worker& w) noexcept {
  std::array<ControlBlock*, StealQueue<ControlBlock>::kCapacity / 2> batch;
  std::size_t got = 0;
  lock_.lock();
  const std::size_t share = std::min(runq_.ready_count() / threads_ + 1, batch.size());
  while (got < share) {
    ControlBlock* next = runq_.pick_next();
    if (!next) break;
    batch[got++] = next;
    if (!next->ctx) break;  // never run: the share ends here
  }
  lock_.unlock();
  if (got == 0) return nullptr;
  if (got > 1) w.local.push_batch(batch.data() + 1, got - 1);
  return batch[0];
}

ControlBlock* Scheduler::steal(Worker& w, bool every_victim) noexcept {
  const std::size_t n = workers_.size();
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t at = (w.victim + i) % n;
    Worker* victim = workers_[at];
    if (victim == &w) continue;
    // A thief that is about to sleep looks under each lock; otherwise the
    // size read without it is enough to skip an empty queue.
    if (!every_victim && victim->local.size_hint() == 0) continue;
    if (ControlBlock* next = victim->local.steal_into(w.local)) {
      w.victim = static_cast<uint32_t>(at);  // the next steal starts there
      return next;
    }
  }
  return nullptr;
}

// Not inlined, for the reason multi_here() is not: it reads the thread-local
// current_worker_, whose address a caller that switched fibers (and so
// perhaps threads) in between must not have kept.
[[gnu::noinline]] void Scheduler::ready_shared(ControlBlock* cb, bool yielded) noexcept {
  if (!yielded) {
    // Made ready by this worker's fiber: this worker runs it next. The fiber
    // it displaces, if any, goes to this worker's own queue, where an idle
    // worker may steal it.
    Worker* w = current_worker_;
    if (w && w->sched == this) {
      cb = std::exchange(w->runnext, cb);
      if (cb) push_local(*w, cb);
      return;
    }
  }
  lock_.lock();
  if (yielded)
    runq_.yielded(cb);
  else
    runq_.awakened(cb);
  const bool wake = idle_.load(std::memory_order_relaxed) > 0;
  lock_.unlock();
  if (wake) wake_one();
}

void Scheduler::reserve_queue() {
  try {
    // + threads_: the spawns that other workers may have under way.
    runq_.reserve(live_ + threads_);
  } catch (const std::bad_alloc&) {
    throw LimitError("cmbench::fiber: the run queue could not grow", ENOMEM);
  }
}

// A fiber spawned by a fiber runs next on the spawning worker (Go's
// newproc puts it in runnext), the fiber it displaces going to the worker's
// own queue; one spawned by the thread before run() goes to the global
// queue's tail. Not inlined, for the reason ready_shared() is not: it reads
// current_worker_, and spawn() is inlined into fibers that may have moved
// to another thread since they last computed its address.
[[gnu::noinline]] void Scheduler::enqueue_spawned(ControlBlock* cb, bool from_fiber) {
  lock_.lock();
  try {
    reserve_queue();
  } catch (...) {
    lock_.unlock();
    cb->run(cb, false);  // destroys the stored function
    pool_.release(cb);
    throw;
  }
  link_live(cb);
  Worker* w = current_worker_;
  const bool mine = from_fiber && w && w->sched == this;
  if (!mine) runq_.spawned(cb, false);
  const bool wake = !mine && idle_.load(std::memory_order_relaxed) > 0;
  lock_.unlock();
  if (mine) {
    if (ControlBlock* displaced = std::exchange(w->runnext, cb)) push_local(*w, displaced);
  } else if (wake) {
    wake_one();
  }
}

// After fibers were made runnable under the lock (reactor, timers): let a
// sleeping worker take them.
void Scheduler::notify_idle() noexcept {
  if (!multi_) return;
  lock_.lock();
  const bool wake = idle_.load(std::memory_order_relaxed) > 0 && runq_.has_ready_fibers();
  lock_.unlock();
  if (wake) wake_all();
}

ControlBlock* Scheduler::next_to_run_shared(Worker& w) noexcept {
  if (stopping_.load(std::memory_order_relaxed)) return &w.main;
  if (w.batch_since != 0) share_batch(w, false);
  if (has_waiters() && ++w.since_poll >= w.round) poll_round_shared(w);
  if (w.runnext && ++w.runnext_streak < RunQueue<ControlBlock>::kNextStreak)
    return std::exchange(w.runnext, nullptr);
  // The chain of runnext picks is bounded as the one-thread queue bounds
  // its `next` (run_queue.hpp): after kNextStreak in a row, runnext goes to
  // this worker's own queue's tail when fibers wait there or in the global
  // queue, and the queued fiber runs, so two fibers handing a value back
  // and forth on one worker cannot starve the fibers the reactor, the
  // timers or the others queued.
  w.runnext_streak = 0;
  ControlBlock* displaced = std::exchange(w.runnext, nullptr);
  ControlBlock* next = pick_queued(w);
  if (!next) return displaced ? displaced : &w.main;
  if (displaced) push_local(w, displaced);
  return next;
}

// The zero-timeout poll between rounds: epoll outside the lock (the epoll
// set is made in the constructor), the tables under it.
void Scheduler::poll_round_shared(Worker& w) noexcept {
  const int n = reactor_.wait(w.events, 0);
  lock_.lock();
  ++round_polls_;
  dispatch(w, n);
  fire_timers();
  w.since_poll = 0;
  w.round = std::max(runq_.ready_count(), kPollRound);
  after_poll(w);
  lock_.unlock();
}

// A poll made more fibers ready than this worker takes, while other
// workers sleep. Waking one costs about 6 us of CPU (a futex wake, the
// thread's wake-up and its sleep again). At 1,000 sleepers on 2 threads,
// where a poll readies about ten fibers that each record a wake and sleep
// again, a wake at every such poll was 38% of the run's CPU, and the
// batches it shared ran in a few microseconds anyway. So this worker runs
// the batch itself and, at each switch, looks at the clock: once fibers of
// the batch have waited kShareAfterNs, about what a wake costs (the
// ski-rental rule: let the waiting cost as much as the wake would, then
// wake), it wakes the others. What it trades: a fiber waits behind the
// batch's earlier fibers (sleepers' median lateness +2.4 us), and a fiber
// that runs long without switching holds the rest of its batch that long.
// Go wakes a spinning M at once, but its poller sleeps in whole
// milliseconds, so its timers fire in batches large enough to share.
// docs/models.md has the figures.
// Under lock_.
void Scheduler::after_poll(Worker& w) noexcept {
  if (w.batch_since == 0 && idle_.load(std::memory_order_relaxed) > 0 && runq_.ready_count() > 1)
    w.batch_since = now_ns();
}

// Under lock_ when `locked` (a fiber parking on a timer or a descriptor);
// the wake is then made under it too, which happens only for a batch that
// outlived the window.
void Scheduler::share_batch(Worker& w, bool locked) noexcept {
  if (now_ns() - w.batch_since < kShareAfterNs) return;
  w.batch_since = 0;
  if (!locked) lock_.lock();
  // More than the one this worker is about to take, in the global queue or
  // moved to its own (take_global).
  const bool wake = idle_.load(std::memory_order_relaxed) > 0 &&
                    runq_.ready_count() + w.local.size_hint() > 1;
  if (!locked) lock_.unlock();
  if (wake) wake_all();
}

}  // namespace cmbench::fiber
