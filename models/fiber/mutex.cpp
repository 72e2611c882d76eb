#include "models/fiber/mutex.hpp"

#include <cstdint>
#include <stdexcept>

#include "harness/cell/probe.hpp"
#include "models/fiber/scheduler.hpp"

namespace cmbench::fiber {

// What a parked fiber waits with, on its own stack. Written by release_locked()
// under lock_; read by the fiber once it runs again.
struct Mutex::Waiter {
  int64_t since = 0;    // when the fiber first parked on this lock (now_ns(), as the timers)
  bool handed = false;  // starvation mode: made the owner before it ran
  bool woken = false;   // normal mode: woken to compete for the lock
};

void Mutex::lock() {
  Scheduler* s = Scheduler::current();
  ControlBlock* self = s ? s->running() : nullptr;
  if (!self) throw std::logic_error("cmbench::fiber::Mutex::lock() must be called from a fiber");
  {
    MaybeLock guard(lock_, any_multi());
    if (!owner_) {  // the uncontended path: nothing else
      owner_ = self;
      return;
    }
  }
  lock_slow(s, self);
}

void Mutex::lock_slow(Scheduler* s, ControlBlock* self) {
  Waiter w;
  for (bool lost = false;; lost = true) {
    MaybeLock guard(lock_, any_multi());
    if (w.woken) {
      woken_ = false;  // this fiber was the one woken; the next unlock may wake another
      w.woken = false;
    }
    // A free lock is taken even with fibers queued. In starvation mode the
    // lock is never free while fibers wait: release_locked() hands it over.
    if (!owner_) {
      owner_ = self;
      return;
    }
    if (owner_ == self) throw std::logic_error("cmbench::fiber::Mutex is not recursive");
    if (!lost) {
      w.since = now_ns();
      waiters_.push(self);
    } else {
      // Woken and beaten to it: back to the head of the queue, and past
      // the threshold the lock is handed over from now on.
      if (now_ns() - w.since >= kStarvingAfterNs) starving_ = true;
      waiters_.push_front(self);
    }
    self->wait = &w;
    try {
      s->park(guard.release());  // woken by unlock(): to compete, or as the owner
    } catch (...) {
      // Unwound while waiting: leave the queue, pass on a lock that was
      // handed over in the meantime, or, woken to compete, let the next
      // waiter compete instead (else a free lock could keep waiters parked).
      ControlBlock* next = nullptr;
      {
        MaybeLock again(lock_, any_multi());
        const bool queued = waiters_.remove(self);
        if (!queued && owner_ == self) {
          next = release_locked();
        } else if (!queued && w.woken) {
          woken_ = false;
          if (!owner_) next = release_locked();
        }
      }
      if (next) next->sched->ready(next);
      throw;
    }
    if (w.handed) return;
  }
}

bool Mutex::try_lock() noexcept {
  Scheduler* s = Scheduler::current();
  ControlBlock* self = s ? s->running() : nullptr;
  if (!self) return false;
  MaybeLock guard(lock_, any_multi());
  if (owner_) return false;
  owner_ = self;
  return true;
}

ControlBlock* Mutex::release_locked() noexcept {
  if (starving_) {
    if (ControlBlock* next = waiters_.pop()) {
      auto* w = static_cast<Waiter*>(next->wait);
      owner_ = next;
      w->handed = true;
      // Back to normal mode once a waiter did not wait long, or none is left.
      if (waiters_.empty() || now_ns() - w->since < kStarvingAfterNs) starving_ = false;
      return next;
    }
    starving_ = false;
  }
  owner_ = nullptr;
  if (woken_) return nullptr;  // one woken waiter at a time
  ControlBlock* next = waiters_.pop();
  if (next) {
    static_cast<Waiter*>(next->wait)->woken = true;
    woken_ = true;
  }
  return next;
}

void Mutex::unlock() noexcept {
  ControlBlock* next;
  {
    MaybeLock guard(lock_, any_multi());
    if (waiters_.empty()) {  // the uncontended path: what release_locked() does then
      owner_ = nullptr;
      starving_ = false;
      return;
    }
    next = release_locked();
  }
  // After the lock is released: the new owner may run on another worker at
  // once and end the scope that holds this mutex (see Channel::wake_unlocked).
  if (next) next->sched->ready(next);
}

}  // namespace cmbench::fiber
