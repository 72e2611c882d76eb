#pragma once
// The scheduler's run queue, in the order Go's scheduler runs
// goroutines on one P (runtime/proc.go: runqput, runqget, schedule):
//   - push_next(): a fiber just spawned or just made ready (a channel, a
//     mutex, a join) goes to the `next` slot and runs next; the fiber it
//     displaces goes to the tail of the local queue;
//   - push(): a fiber woken by the reactor or a timer goes to the tail of
//     the local queue;
//   - push_global(): a fiber that yields goes to the tail of the global
//     queue (Go's Gosched);
//   - the local queue holds at most kLocal fibers; when it overflows, its
//     older half moves to the tail of the global queue (runqputslow);
//   - pop(): every 61st pick that does not take `next` looks at the global
//     queue first, so nothing queued there starves; otherwise `next`, then
//     the local queue's head; with the local queue empty it takes the global
//     queue's head and moves up to kLocal / 2 - 1 more from there into the
//     local queue (globrunqget's batch).
// Why this order and not plain FIFO: a spawning or waking fiber's successor
// runs while its data is still in cache, and recursive fan-out (skynet) runs
// close to depth first, so far fewer fibers (and stacks) are alive at once.
// Go bounds a chain of `next` picks by time (the chain shares one 10 ms
// slice, then sysmon preempts); a cooperative runtime cannot, so it bounds
// the chain by count: after kNextStreak picks of `next` in a row, the next
// pick moves `next` to the local tail and takes the local head, and two
// fibers handing a value back and forth cannot starve the rest. A short
// bound (4) keeps a busy channel's tail latency low: with 61 the fiber
// prodcons 4x4 unbuffered had a p99 of 7 us against a p50 of 30 ns; a
// simulation of this queue gives a p99 of 190 switches with 61, 14 with 4
// and 7 with a plain FIFO, and skynet's peak of live fibers 77,386 with 61
// and 80,586 with 4.
//
// In M:N mode the scheduler's global queue is a RunQueue too, used under
// its lock, and each worker has its own `next` slot (Go's per-P runnext,
// Scheduler::Worker::runnext) and its own StealQueue (below): a fiber made
// ready by a fiber runs next on the same worker, so a hand-off between two
// fibers stays on one thread. With the slot shared instead, every hand-off woke the other
// worker and moved both fibers between cores: fiber pingpong at threads:0
// cost 674 ns of CPU per round trip against 91 ns with the slot per worker
// (scripts/perf-check --rows "all cores: pingpong", both under load).
//
// Both queues are rings of pointers (Go's p.runq is an array), not lists
// threaded through the fibers' control blocks: globrunqget's batch moves
// pointers and touches no fiber. Moving it along a list walked 127 control
// blocks, each on its own stack page and cold by then: 17% of skynet's time
// in perf record. The local ring is fixed (kLocal). The global ring never
// grows on a switch: spawn() reserves room for every live fiber first (a
// fiber is in one queue at most), so only spawning allocates, and rarely
// (the ring doubles).
#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include "models/fiber/invariant.hpp"
#include "models/fiber/spinlock.hpp"

namespace cmbench::fiber {

template <typename T>
class RunQueue {
 public:
  static constexpr std::size_t kLocal = 256;    // Go: len(p.runq)
  static constexpr uint32_t kGlobalEvery = 61;  // Go: schedtick % 61
  static constexpr uint32_t kNextStreak = 4;

  RunQueue() { reserve(kLocal); }
  RunQueue(const RunQueue&) = delete;
  RunQueue& operator=(const RunQueue&) = delete;

  // Room for `fibers` queued at once (every live fiber): the pushes below
  // never allocate. Throws std::bad_alloc.
  void reserve(std::size_t fibers) {
    if (fibers <= gcap_) return;
    std::size_t cap = std::max<std::size_t>(2 * gcap_, 64);
    while (cap < fibers) cap *= 2;
    std::unique_ptr<T*[]> bigger(new T*[cap]);  // not value-initialised: untouched until used
    for (std::size_t i = 0; i < gsize_; ++i) bigger[i] = global_[(ghead_ + i) & (gcap_ - 1)];
    global_ = std::move(bigger);
    gcap_ = cap;
    ghead_ = 0;
  }

  bool empty() const noexcept { return next_ == nullptr && lsize_ == 0 && gsize_ == 0; }
  std::size_t size() const noexcept { return (next_ ? 1 : 0) + lsize_ + gsize_; }

  void push(T* node) noexcept {
    if (lsize_ == kLocal)  // Go's runqputslow: the older half to the global tail
      for (std::size_t i = 0; i < kLocal / 2; ++i) push_global(local_pop());
    local_[(lhead_ + lsize_++) % kLocal] = node;
  }

  void push_next(T* node) noexcept {
    if (next_) push(next_);
    next_ = node;
  }

  void push_global(T* node) noexcept { global_[(ghead_ + gsize_++) & (gcap_ - 1)] = node; }

  T* pop() noexcept {
    if (ticks_ % kGlobalEvery == kGlobalEvery - 1 && gsize_ > 0) {
      ++ticks_;
      return global_pop();
    }
    if (next_) {
      if (streak_ < kNextStreak) {
        ++streak_;
        return std::exchange(next_, nullptr);
      }
      push(std::exchange(next_, nullptr));
    }
    streak_ = 0;
    ++ticks_;
    if (lsize_ > 0) return local_pop();
    if (gsize_ == 0) return nullptr;
    T* node = global_pop();
    // globrunqget's batch: up to kLocal / 2 - 1 more into the local queue.
    const std::size_t batch = std::min(gsize_, kLocal / 2 - 1);
    for (std::size_t i = 0; i < batch; ++i) local_[(lhead_ + lsize_++) % kLocal] = global_pop();
    return node;
  }

  // The fiber pop() will most likely return (`after` = 0), or the one it
  // will return after that (1), without taking them: `next`, then the local
  // queue's head, then the global queue's (what the 61st pick and the streak
  // bound may do instead is not foreseen). A prefetch hint.
  T* peek(std::size_t after = 0) const noexcept {
    if (next_) {
      if (after == 0) return next_;
      --after;
    }
    if (after < lsize_) return local_[(lhead_ + after) % kLocal];
    after -= lsize_;
    return after < gsize_ ? global_[(ghead_ + after) & (gcap_ - 1)] : nullptr;
  }

  void clear() noexcept {
    next_ = nullptr;
    lhead_ = lsize_ = 0;
    ghead_ = gsize_ = 0;
  }

 private:
  T* local_pop() noexcept {
    T* node = local_[lhead_];
    lhead_ = (lhead_ + 1) % kLocal;
    --lsize_;
    return node;
  }
  T* global_pop() noexcept {
    T* node = global_[ghead_];
    ghead_ = (ghead_ + 1) & (gcap_ - 1);
    --gsize_;
    return node;
  }

  T* next_ = nullptr;
  std::array<T*, kLocal> local_{};
  std::size_t lhead_ = 0, lsize_ = 0;
  std::unique_ptr<T*[]> global_;
  std::size_t gcap_ = 0, ghead_ = 0, gsize_ = 0;  // gcap_: a power of two
  uint32_t ticks_ = 0;   // picks that did not take `next`
  uint32_t streak_ = 0;  // picks of `next` in a row
};

// M:N mode: one worker's own queue (Go's p.runq), a ring of kCapacity
// fibers that its worker pushes to and pops from, and of which an idle
// worker takes half (Go's runqsteal). Go's ring is lock-free; this one is
// under a SpinLock of its own, as each thread's queue in Boost.Fiber's
// work_stealing is: the lock is the owner's alone except while a thief is
// in it, so an owner's push or pop costs one uncontended atomic exchange,
// and no lock is ever held with another worker's. Only the owner adds
// fibers (what it spawns or readies); thieves and the owner take them.
template <typename T>
class StealQueue {
 public:
  static constexpr std::size_t kCapacity = 256;  // Go: len(p.runq)

  StealQueue() = default;
  StealQueue(const StealQueue&) = delete;
  StealQueue& operator=(const StealQueue&) = delete;

  // Queues `node` at the tail. When the ring is full it first moves its
  // older half into `spill` (Go's runqputslow), which the caller puts on
  // the global queue; returns how many it moved there.
  std::size_t push(T* node, std::array<T*, kCapacity / 2>& spill) noexcept {
    lock_.lock();
    std::size_t spilled = 0;
    if (size() == kCapacity) {
      for (; spilled < kCapacity / 2; ++spilled) spill[spilled] = pop_locked();
    }
    push_locked(node);
    lock_.unlock();
    return spilled;
  }

  // The owner's call, with room for them: queues nodes[0, n) at the tail
  // under one lock (what the owner took from the global queue at once).
  void push_batch(T* const* nodes, std::size_t n) noexcept {
    lock_.lock();
    CMBENCH_FIBER_INVARIANT(size() + n <= kCapacity, "a batch goes only where it fits");
    for (std::size_t i = 0; i < n; ++i) push_locked(nodes[i]);
    lock_.unlock();
  }

  // The head, or null. The owner's call: only the owner adds fibers, so a
  // size of 0 read without the lock is exact, and the lock is skipped.
  T* pop() noexcept {
    if (size_hint() == 0) return nullptr;
    lock_.lock();
    T* node = size() > 0 ? pop_locked() : nullptr;
    lock_.unlock();
    return node;
  }

  // A thief's call: takes the older half (rounded up) of this queue, returns
  // the first of it and puts the rest into `into` (the thief's own queue,
  // which has room: a thief steals only when its own is empty).
  T* steal_into(StealQueue& into) noexcept {
    std::array<T*, kCapacity / 2> taken;
    lock_.lock();
    const std::size_t n = std::min((size() + 1) / 2, kCapacity / 2);
    for (std::size_t i = 0; i < n; ++i) taken[i] = pop_locked();
    lock_.unlock();
    if (n == 0) return nullptr;
    if (n > 1) {
      into.lock_.lock();
      CMBENCH_FIBER_INVARIANT(into.size() + n - 1 <= kCapacity,
                              "a thief steals only into its own queue, and only when it is empty");
      for (std::size_t i = 1; i < n; ++i) into.push_locked(taken[i]);
      into.lock_.unlock();
    }
    return taken[0];
  }

  // Fibers queued, read without the lock: a hint to a thief (exact for the
  // owner, see pop()).
  std::size_t size_hint() const noexcept { return size(); }

  // Drops every entry (shutdown: the fibers are unwound from the live list).
  void clear() noexcept {
    lock_.lock();
    head_ = 0;
    size_.store(0, std::memory_order_relaxed);
    lock_.unlock();
  }

 private:
  // Written only under lock_; atomic so that size_hint() may read it without.
  std::size_t size() const noexcept { return size_.load(std::memory_order_relaxed); }
  void push_locked(T* node) noexcept {
    ring_[(head_ + size()) % kCapacity] = node;
    size_.store(size() + 1, std::memory_order_relaxed);
  }
  T* pop_locked() noexcept {
    T* node = ring_[head_];
    head_ = (head_ + 1) % kCapacity;
    size_.store(size() - 1, std::memory_order_relaxed);
    return node;
  }

  alignas(64) SpinLock lock_;  // its own cache line: the other workers' thieves touch it
  std::size_t head_ = 0;       // under lock_
  std::atomic<std::size_t> size_{0};
  std::array<T*, kCapacity> ring_{};
};

}  // namespace cmbench::fiber
