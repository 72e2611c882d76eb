// The M:N mode's workers (Scheduler with threads > 1): the threads run()
// starts, each worker's loop, how an idle worker waits and how it is woken.
// Every worker shares one run queue (the policy, GoOrder), the live list,
// the reactor's tables and the timers under the scheduler's lock_; a fiber
// made ready by a fiber goes first to its worker's own runnext slot.
#include <algorithm>
#include <cerrno>
#include <climits>
#include <memory>
#include <new>
#include <thread>
#include <utility>
#include <vector>

#include "harness/cell/errors.hpp"
#include "harness/cell/probe.hpp"
#include "models/fiber/scheduler.hpp"

namespace cmbench::fiber {

// This thread is worker 0; threads_ - 1 more run the same loop. They are
// joined before run() goes on, so that shutdown and the errors it reports
// see the fibers' state from one thread again.
void Scheduler::run_threads() {
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
}

// One worker's loop: run what the shared queue holds; with nothing to run,
// block in epoll if descriptors, timers or offloads are waited for and no
// other worker does already, else sleep until ready() or the end wakes it.
void Scheduler::run_worker(Worker& w) {
  lock_.lock();
  for (;;) {
    if (live_ == 0 || error_ || deadlocked_) break;
    ControlBlock* next = std::exchange(w.runnext, nullptr);
    if (!next) next = runq_.pick_next();
    if (next) {
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
        poller_deadline_ = timers_.nearest();
        timeout_ns = std::max<int64_t>(0, poller_deadline_ - now_ns());
      }
      lock_.unlock();
      const int n = reactor_.wait(w.events, timeout_ns);
      lock_.lock();
      poller_ = false;
      dispatch(w, n);
      fire_timers();
      // More became runnable than this worker will take: wake the others.
      if (idle_ > 0 && runq_.ready_count() > 1) {
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

// Not inlined, for the reason multi_here() is not: it reads the thread-local
// current_worker_, whose address a caller that switched fibers (and so
// perhaps threads) in between must not have kept.
[[gnu::noinline]] void Scheduler::ready_shared(ControlBlock* cb, bool yielded) noexcept {
  if (!yielded) {
    // Made ready by this worker's fiber: this worker runs it next. Only the
    // fiber it displaces, if any, is shared.
    Worker* w = current_worker_;
    if (w && w->sched == this) {
      cb = std::exchange(w->runnext, cb);
      if (!cb) return;
    }
  }
  lock_.lock();
  if (yielded)
    runq_.yielded(cb);
  else
    runq_.awakened(cb);
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
  runq_.spawned(cb, from_fiber);
  const bool wake = idle_ > 0;
  lock_.unlock();
  if (wake) wake_one();
}

// After fibers were made runnable under the lock (reactor, timers): let a
// sleeping worker take them.
void Scheduler::notify_idle() noexcept {
  if (!multi_) return;
  lock_.lock();
  const bool wake = idle_ > 0 && runq_.has_ready_fibers();
  lock_.unlock();
  if (wake) wake_all();
}

ControlBlock* Scheduler::next_to_run_shared(Worker& w) noexcept {
  if (stopping_.load(std::memory_order_relaxed)) return &w.main;
  if (has_waiters() && ++w.since_poll >= w.round) poll_round_shared(w);
  if (w.runnext && ++w.runnext_streak < RunQueue<ControlBlock>::kNextStreak)
    return std::exchange(w.runnext, nullptr);
  // The chain of runnext picks is bounded as the one-thread queue bounds
  // its `next` (run_queue.hpp): after kNextStreak in a row, runnext goes to
  // the shared queue's tail when fibers wait there, and this worker takes
  // the head, so two fibers handing a value back and forth on one worker
  // cannot starve the fibers the reactor, the timers or the others queued.
  w.runnext_streak = 0;
  lock_.lock();
  ControlBlock* next = nullptr;
  bool wake = false;
  if (!w.runnext) {
    next = runq_.pick_next();
  } else if (runq_.has_ready_fibers()) {
    runq_.polled(std::exchange(w.runnext, nullptr));
    next = runq_.pick_next();
    wake = idle_ > 0;
  }
  lock_.unlock();
  if (wake) wake_one();
  if (!next) next = std::exchange(w.runnext, nullptr);
  return next ? next : &w.main;
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
  const bool wake = idle_ > 0 && runq_.ready_count() > 1;
  lock_.unlock();
  if (wake) wake_all();
}

}  // namespace cmbench::fiber
