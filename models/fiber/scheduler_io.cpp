// The scheduler's side of the reactor, the timers and offload: parking a
// fiber on a descriptor, a deadline or a blocking call, and the polls that
// make such fibers runnable again. The reactor (reactor.hpp) and the timer
// heap (timers.hpp) keep the tables; this file decides when to poll and
// queues what they report (the policy's polled(): the tail).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "harness/cell/probe.hpp"
#include "models/fiber/invariant.hpp"
#include "models/fiber/offload.hpp"
#include "models/fiber/scheduler.hpp"

namespace cmbench::fiber {

bool Scheduler::wait_io(int fd, bool write) {
  ControlBlock* self = running();
  if (!self)
    throw std::logic_error("cmbench::fiber: wait_readable/wait_writable must be called from a fiber");
  MaybeLock guard(lock_, multi_);
  Reactor::Waiter w{self, false};
  if (reactor_.arm(fd, write, &w)) return true;  // an edge came before the wait
  add_pending(1);
  try {
    park(guard.release());  // woken by a poll when epoll reports the edge, or by forget()
  } catch (...) {
    // Unwound while waiting. Shutdown has normally dropped every waiter
    // already.
    MaybeLock again(lock_, multi_);
    const std::size_t before = reactor_.waiters();
    reactor_.disarm(fd, write, &w);
    if (reactor_.waiters() != before) add_pending(-1);
    throw;
  }
  return !w.forgotten;
}

void Scheduler::forget(int fd) {
  {
    MaybeLock guard(lock_, multi_);
    reactor_.forget(fd, [this](ControlBlock* fiber) {
      add_pending(-1);
      runq_.polled(fiber);
    });
    // The worker in epoll may now wait for nothing: let it look again (and
    // find a deadlock if that is what is left).
    if (multi_ && poller_) reactor_.kick();
  }
  notify_idle();
}

void Scheduler::sleep_until(int64_t deadline_ns) {
  ControlBlock* self = running();
  if (!self) throw std::logic_error("cmbench::fiber: sleep_until must be called from a fiber");
  if (deadline_ns <= now_ns()) return;
  MaybeLock guard(lock_, multi_);
  timers_.add(deadline_ns, self);
  add_pending(1);
  // A worker blocked in epoll until a later deadline must wake for this one.
  if (multi_ && poller_ && deadline_ns < poller_deadline_) reactor_.kick();
  park(guard.release());  // woken by fire_timers() once the deadline has passed
}

// Under the lock in M:N mode.
void Scheduler::fire_timers() noexcept {
  if (timers_.empty()) return;
  const std::size_t fired = timers_.fire_due(now_ns(), [this](ControlBlock* fiber) {
    runq_.polled(fiber);
  });
  add_pending(-static_cast<std::ptrdiff_t>(fired));
}

// Under the lock in M:N mode.
void Scheduler::dispatch(Worker& w, int n) noexcept {
  const bool woken = reactor_.dispatch(w.events, n, [this](ControlBlock* fiber) {
    add_pending(-1);
    runq_.polled(fiber);
  });
  if (woken) drain_inbox();
}

// The one-thread mode's poll.
void Scheduler::poll(Worker& w, bool block) {
  int64_t timeout_ns = 0;  // < 0: wait until a descriptor is ready
  if (block) {
    ++blocking_polls_;
    timeout_ns = timers_.empty() ? -1 : std::max<int64_t>(0, timers_.nearest() - now_ns());
  } else {
    ++round_polls_;
  }
  // epoll itself only when a fiber waits for a descriptor, or to sleep until
  // a deadline that has not come yet (or an offload is done).
  if (reactor_.waiters() > 0 || timeout_ns != 0) {
    try {
      reactor_.open();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "cmbench::fiber: %s\n", e.what());
      std::abort();
    }
    dispatch(w, reactor_.wait(w.events, timeout_ns));
  } else if (offloads_ > 0) {
    drain_inbox();  // a round poll with only offloads pending: no system call
  }
  fire_timers();
  w.since_poll = 0;
  w.round = std::max(runq_.ready_count(), kPollRound);
}

// At shutdown every parked fiber is unwound: none may stay in the timer heap
// or as a descriptor's waiter.
void Scheduler::drop_waiters() noexcept {
  timers_.clear();
  reactor_.drop_waiters();
  pending_.store(0, std::memory_order_relaxed);
}

// --- offload ---------------------------------------------------------------

void Scheduler::offload(OffloadJob& job) {
  Worker& w = here();
  ControlBlock* self = w.current;
  if (self == &w.main)
    throw std::logic_error("cmbench::fiber::Scheduler::offload must be called from a fiber");
  // Checked before the job leaves: once the pool has it, this frame must
  // live until the pool is done with it.
  if (self->cancelled) throw FiberCancelled{};
  reactor_.open_wake();  // one thread: at the first offload (M:N: made already)
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
  reactor_.post(job);
}

// Makes the fibers of the finished offloads runnable (under lock_ in M:N
// mode).
void Scheduler::drain_inbox() noexcept {
  reactor_.drain([this](OffloadJob* job) {
    ControlBlock* fiber = job->fiber;
    job->done = true;
    CMBENCH_FIBER_INVARIANT(offloads_ > 0, "a job comes back once");
    --offloads_;
    add_pending(-1);
    runq_.polled(fiber);
  });
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
    reactor_.wait_wake();
  }
}

namespace this_fiber {
void sleep_until(int64_t deadline_ns) {
  Scheduler* s = Scheduler::current();
  if (!s) throw std::logic_error("cmbench::fiber::this_fiber::sleep_until outside a scheduler");
  s->sleep_until(deadline_ns);
}
}  // namespace this_fiber

}  // namespace cmbench::fiber
