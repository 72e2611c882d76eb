#pragma once
// Condition: the thread model's condition variable, a futex word that counts
// notifications, used with a std::mutex exactly as std::condition_variable is
// (wait with a predicate, notify_one, notify_all).
//
// Why not std::condition_variable: glibc's condition variable (since 2.25)
// can lose a pthread_cond_signal when several threads wait on it — glibc bug
// 25847, "pthread_cond_signal failed to wake up pthread_cond_wait due to a bug
// in undoing stealing", fixed upstream only in 2025 and not in Debian 12's
// glibc 2.36. The suite's own stress test caught it: a BoundedQueue of
// capacity 1 with 4 producers and 1 consumer hung with the queue empty, all
// four producers asleep in not_full_.wait() (their predicate true), and the
// condition variable's last signal stranded in a group with no waiters
// (__g_signals {2, 0}, every waiter's reference in the other group). A
// benchmark suite that hangs one run in a thousand hangs someone's CI every
// week, so the thread model waits on this instead.
//
// How it works: wait() reads the word while the caller still holds the
// mutex, releases the mutex, and sleeps in FUTEX_WAIT only if the word still
// has the value it read; notify_*() bump the word and FUTEX_WAKE. A notifier
// changes the predicate under the same mutex before it notifies, so either
// the waiter's predicate check (under the mutex) sees the change, or the
// notification's bump comes after the waiter read the word and its
// FUTEX_WAIT returns at once: a wake-up cannot be lost. A woken thread may
// find its predicate false again (another took the slot first): wait() loops
// on the predicate, as with std::condition_variable. The word wraps after
// 2^32 notifications; a waiter would have to sleep through exactly that many
// between its read and its FUTEX_WAIT to miss one.
//
// Cost, compared with std::condition_variable: the same system calls where
// it matters — one FUTEX_WAKE per notify that has a sleeper to wake, one
// FUTEX_WAIT per sleep — and no spinning (std::atomic::wait in libstdc++ 12
// spins and calls sched_yield before it sleeps, which would change the
// context switches and CPU time the thread model is measured by; the calls
// are harness/cell/futex.hpp's).
//
// What it does not do by itself: know whether a notify_one() is needed.
// glibc's condition variable counts its waiters and the signals already sent
// to them, so a signal to a waiter that was signalled and has not yet woken
// returns in user space; this Condition makes a FUTEX_WAKE system call per
// notify. BoundedQueue keeps those counts itself, under its mutex, and
// notifies only a waiter not yet notified (bounded_queue.hpp, Waiters).
#include <atomic>
#include <cstdint>
#include <mutex>

#include "harness/cell/futex.hpp"

namespace cmbench::models::thread {

class Condition {
 public:
  Condition() = default;
  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;

  // Blocks until pred() holds; `lock` must hold the mutex that guards what
  // pred() reads, and holds it again on return.
  template <typename Pred>
  void wait(std::unique_lock<std::mutex>& lock, Pred pred) {
    while (!pred()) wait(lock);
  }

  // Sleeps once: until a notification made after this call, or spuriously
  // (a signal, or a notification the caller's predicate did not need).
  // `lock` must hold the mutex; it is released while asleep and held again
  // on return. The caller re-checks its predicate, as after
  // std::condition_variable::wait(lock).
  void wait(std::unique_lock<std::mutex>& lock) {
    const uint32_t seen = seq_.load(std::memory_order_relaxed);
    lock.unlock();
    // Returns at once when the word changed, early on a signal: either way
    // the caller re-checks its predicate under the mutex.
    futex_wait(seq_, seen);
    lock.lock();
  }

  void notify_one() noexcept { notify(1); }
  void notify_all() noexcept { notify(kFutexWakeAll); }

 private:
  void notify(int waiters) noexcept {
    seq_.fetch_add(1, std::memory_order_release);
    futex_wake(seq_, waiters);
  }

  std::atomic<uint32_t> seq_{0};
};

}  // namespace cmbench::models::thread
