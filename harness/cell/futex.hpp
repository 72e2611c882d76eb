#pragma once
// A futex word's two calls, for the models that sleep on one: the thread
// model's Condition (models/thread/condition.hpp) and the fiber runtime's
// idle workers (models/fiber/scheduler_mn.cpp).
//
// Why not std::atomic<uint32_t>::wait and notify_*: libstdc++ 12's wait
// spins with pause 12 times and then calls sched_yield 4 times before it
// sleeps. On a loaded machine each of those yields is a context switch to
// whatever else is runnable, and they are counted in the context switches
// and CPU time the models are measured by. An idle fiber worker made 4
// yields per sleep: 1,057 sched_yield calls in one idle cell of 1,000
// connections at threads:0 (`perf trace -s`).
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdint>

namespace cmbench {

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));

// Sleeps until a futex_wake() on `word`, unless `word` no longer holds
// `seen` (then returns at once); may return spuriously (a signal), so the
// caller re-checks what it waits for.
inline void futex_wait(std::atomic<uint32_t>& word, uint32_t seen) noexcept {
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE, seen, nullptr, nullptr, 0);
  // Pairs with the waker's release of the word, as std::atomic::wait's
  // acquire load does (and so that ThreadSanitizer, which does not see the
  // system call, sees the edge).
  (void)word.load(std::memory_order_acquire);
}

// Wakes at most `waiters` threads asleep in futex_wait() on `word`
// (INT_MAX: every one). The caller changes `word` first, so that a thread
// about to sleep on the old value returns at once.
inline void futex_wake(std::atomic<uint32_t>& word, int waiters) noexcept {
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, waiters, nullptr, nullptr, 0);
}

inline constexpr int kFutexWakeAll = INT_MAX;

}  // namespace cmbench
