#pragma once
// A mutex for fibers: lock() parks the calling fiber (never the thread) in a
// FIFO queue while another fiber holds the lock.
//
// unlock() hands the lock directly to the first waiter, which becomes the
// owner before it even runs, rather than releasing it and letting the woken
// fiber compete with whoever calls lock() next. On a cooperative scheduler
// competition would be unfair in the worst way: a fiber that unlocks and
// relocks in a loop without yielding always wins, and nothing (no preemption,
// no clock — Go's mutex switches to handoff after a waiter has starved for
// 1 ms) would ever let the waiter in. Handoff keeps waiters strictly FIFO; its
// cost is a lock convoy under contention (a fiber that relocks at once must
// park behind the waiters), which is the price of that fairness.
//
// In M:N mode the queue and the owner are guarded by a SpinLock, which a
// fiber that parks hands to Scheduler::park() (released once its context is
// saved); with one thread nothing is locked.
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

 private:
  ControlBlock* owner_ = nullptr;
  IntrusiveQueue<ControlBlock> waiters_;
  SpinLock lock_;
};

}  // namespace cmbench::fiber
