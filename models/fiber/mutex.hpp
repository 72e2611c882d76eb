#pragma once
// A mutex for fibers: lock() parks the calling fiber (never the thread) in a
// queue while another fiber holds the lock. It has Go's two modes
// (sync.Mutex, /usr/lib/go-1.19/src/sync/mutex.go):
//
// Normal mode: unlock() frees the lock and wakes the first waiter, which
// then competes for it with whoever calls lock() next; a fiber that unlocks
// and relocks at once usually wins, and keeps running. One waiter at a time
// is woken; one that loses parks again at the head of the queue. This is
// what keeps a contended lock from turning into a convoy: with strict
// handoff every unlock gave the lock to a fiber that was not running, so the
// next lock() of the running one parked, and a convoy that formed once
// stayed even with every unit on one worker (counter at `threads:0`: 2.26
// million fiber switches for 4 million increments, docs/performance.md).
//
// Starvation mode: a woken waiter that loses after waiting kStarvingAfterNs
// or more switches the mutex to handoff: unlock() makes the first waiter the
// owner before it runs, so the lock is never free while fibers wait and a
// lock() queues behind them. The mutex returns to normal mode when a waiter it hands
// the lock to waited less than the threshold, or was the last. On a
// cooperative scheduler a fiber that unlocks and relocks in a loop without
// yielding keeps the lock from the waiters on its own thread whatever the
// mutex does (they cannot run until it parks or yields); a waiter on another
// worker gets the lock within about kStarvingAfterNs.
//
// In M:N mode the queue and the owner are guarded by a SpinLock, which a
// fiber that parks hands to Scheduler::park() (released once its context is
// saved); with one thread nothing is locked.
#include <cstdint>

#include "models/fiber/intrusive.hpp"
#include "models/fiber/spinlock.hpp"
#include "models/fiber/stack_pool.hpp"

namespace cmbench::fiber {

class Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  // Must be called from a fiber. Not recursive.
  void lock();
  bool try_lock() noexcept;
  // Precondition: the calling fiber holds the lock.
  void unlock() noexcept;

  bool locked() const noexcept { return owner_ != nullptr; }
  std::size_t waiters() const noexcept { return waiters_.size(); }
  bool starving() const noexcept { return starving_; }

  // Go's starvationThresholdNs.
  static constexpr int64_t kStarvingAfterNs = 1'000'000;

 private:
  struct Waiter;  // on the parked fiber's stack, at ControlBlock::wait
  // lock() once the lock was seen taken: queue, park, compete or be handed it.
  [[gnu::noinline]] void lock_slow(Scheduler* s, ControlBlock* self);
  // Under lock_: frees the lock or hands it to the first waiter, and returns
  // the fiber to make ready (after lock_ is released), if any.
  ControlBlock* release_locked() noexcept;

  ControlBlock* owner_ = nullptr;
  IntrusiveQueue<ControlBlock> waiters_;
  SpinLock lock_;
  bool starving_ = false;
  bool woken_ = false;  // a waiter was woken and has not run yet
};

}  // namespace cmbench::fiber
