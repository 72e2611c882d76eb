#include "models/fiber/mutex.hpp"

#include <stdexcept>

#include "models/fiber/scheduler.hpp"

namespace cmbench::fiber {

void Mutex::lock() {
  Scheduler* s = Scheduler::current();
  ControlBlock* self = s ? s->running() : nullptr;
  if (!self) throw std::logic_error("cmbench::fiber::Mutex::lock() must be called from a fiber");
  MaybeLock guard(lock_, any_multi());
  if (!owner_) {
    owner_ = self;
    return;
  }
  if (owner_ == self) throw std::logic_error("cmbench::fiber::Mutex is not recursive");
  waiters_.push(self);
  try {
    s->park(guard.release());  // woken by unlock(), which has made this fiber the owner
  } catch (...) {
    // Unwound while waiting: leave the queue, or pass on a lock that was
    // handed over in the meantime.
    MaybeLock again(lock_, any_multi());
    if (!waiters_.remove(self) && owner_ == self) {
      ControlBlock* next = waiters_.pop();
      owner_ = next;
      if (next) next->sched->ready(next);
    }
    throw;
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

void Mutex::unlock() noexcept {
  ControlBlock* next;
  {
    MaybeLock guard(lock_, any_multi());
    next = waiters_.pop();
    owner_ = next;
  }
  // After the lock is released: the new owner may run on another worker at
  // once and end the scope that holds this mutex (see Channel::wake_unlocked).
  if (next) next->sched->ready(next);
}

}  // namespace cmbench::fiber
