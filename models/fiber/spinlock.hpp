#pragma once
// The locks of the M:N mode (Scheduler with threads > 1). A wait queue
// (channel, mutex, joiners) is held only for a few pointer operations, so a
// spinning lock is cheaper than a futex-backed one; after a short spin it
// yields the thread, so a holder that was preempted is not spun against for a
// whole time slice. With one thread nothing is ever locked: MaybeLock takes
// its lock only when told the scheduler is multi-threaded, so the one-thread
// paths stay free of atomic read-modify-writes.
//
// A waiter backs off: between two looks at the lock it pauses 1, 2, 4, ...
// up to kMaxBackoff times, as Go's runtime lock waits procyield(30) between
// its attempts (lock_futex.go). A lock that is taken again and again from
// two CPUs (one channel that every producer and consumer uses) otherwise
// changes CPU at almost every acquisition: the waiter, looking at it all the
// time, takes it the moment it is free, and the line that holds it (and the
// channel's state, on the same line) crosses between the CPUs each time.
// Backing off lets the holder's CPU take it again for its next operations:
// prodcons 4x4 at threads:0 took 10-16% less time and CPU a message
// (`cmbench ab`, docs/models.md).
#include <atomic>
#include <thread>

namespace cmbench::fiber {

class SpinLock {
 public:
  // Pauses between two looks at a held lock, at most (Go: procyield(30)).
  static constexpr int kMaxBackoff = 32;
  // Pauses spent waiting before every further look yields the thread
  // instead: about Go's four procyield(30) before its osyield (1.4 us on the
  // development VM, 11 ns a pause).
  static constexpr int kSpinBudget = 128;

  void lock() noexcept {
    if (!flag_.exchange(true, std::memory_order_acquire)) [[likely]]
      return;
    int backoff = 1;
    int spun = 0;
    do {
      while (flag_.load(std::memory_order_relaxed)) {
        if (spun < kSpinBudget) {
          for (int i = 0; i < backoff; ++i) pause();
          spun += backoff;
          if (backoff < kMaxBackoff) backoff *= 2;
        } else {
          std::this_thread::yield();
        }
      }
    } while (flag_.exchange(true, std::memory_order_acquire));
  }
  bool try_lock() noexcept { return !flag_.exchange(true, std::memory_order_acquire); }
  void unlock() noexcept { flag_.store(false, std::memory_order_release); }

 private:
  static void pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }

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
