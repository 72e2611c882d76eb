#pragma once
// The locks of the M:N mode (Scheduler with threads > 1). A wait queue
// (channel, mutex, joiners) is held only for a few pointer operations, so a
// spinning lock is cheaper than a futex-backed one; after a short spin it
// yields the thread, so a holder that was preempted is not spun against for a
// whole time slice. With one thread nothing is ever locked: MaybeLock takes
// its lock only when told the scheduler is multi-threaded, so the one-thread
// paths stay free of atomic read-modify-writes.
#include <atomic>
#include <thread>

namespace cmbench::fiber {

class SpinLock {
 public:
  void lock() noexcept {
    for (int spins = 0; flag_.exchange(true, std::memory_order_acquire); ++spins) {
      while (flag_.load(std::memory_order_relaxed)) {
        if (spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
          __builtin_ia32_pause();
#endif
          ++spins;
        } else {
          std::this_thread::yield();
        }
      }
    }
  }
  bool try_lock() noexcept { return !flag_.exchange(true, std::memory_order_acquire); }
  void unlock() noexcept { flag_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> flag_{false};
};

// Holds `lock` when `on` (the scheduler runs on several threads), else
// nothing. release() hands the held lock over to Scheduler::park(), which
// unlocks it only once the parking fiber's context is saved.
class MaybeLock {
 public:
  MaybeLock(SpinLock& lock, bool on) noexcept : lock_(on ? &lock : nullptr) {
    if (lock_) lock_->lock();
  }
  ~MaybeLock() {
    if (lock_) lock_->unlock();
  }
  MaybeLock(const MaybeLock&) = delete;
  MaybeLock& operator=(const MaybeLock&) = delete;
  SpinLock* held() const noexcept { return lock_; }
  SpinLock* release() noexcept {
    SpinLock* l = lock_;
    lock_ = nullptr;
    return l;
  }

 private:
  SpinLock* lock_;
};

// MaybeLock decided at compile time, for paths compiled twice (Channel): the
// unshared instance is empty, so the one-thread code is exactly what it was
// before locks existed.
template <bool kShared>
class QueueLock {
 public:
  explicit QueueLock(SpinLock& lock) noexcept : lock_(&lock) { lock_->lock(); }
  ~QueueLock() {
    if (lock_) lock_->unlock();
  }
  QueueLock(const QueueLock&) = delete;
  QueueLock& operator=(const QueueLock&) = delete;
  SpinLock* release() noexcept {
    SpinLock* l = lock_;
    lock_ = nullptr;
    return l;
  }

 private:
  SpinLock* lock_;
};

template <>
class QueueLock<false> {
 public:
  explicit QueueLock(SpinLock&) noexcept {}
  SpinLock* release() noexcept { return nullptr; }
};

}  // namespace cmbench::fiber
