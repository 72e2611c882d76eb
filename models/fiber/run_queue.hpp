#pragma once
// The one-thread scheduler's run queue, in the order Go's scheduler runs
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
//     the local queue's head, then the global queue's.
// Why this order and not plain FIFO: a spawning or waking fiber's successor
// runs while its data is still in cache, and recursive fan-out (skynet) runs
// close to depth first, so far fewer fibers (and stacks) are alive at once.
// Go bounds a chain of `next` picks by time (the chain shares one 10 ms
// slice, then sysmon preempts); a cooperative runtime cannot, so it bounds
// the chain by count: after kNextStreak picks of `next` in a row, the next
// pick moves `next` to the local tail and takes the local head, and two
// fibers handing a value back and forth cannot starve the rest.
//
// In M:N mode the scheduler's one shared queue is a RunQueue too, used under
// its lock: `next` is then one slot for all the workers (Go keeps one per P),
// which keeps the order's point -- a fan-out runs close to depth first --
// without a queue per worker.
#include <cstddef>
#include <cstdint>

#include "models/fiber/intrusive.hpp"

namespace cmbench::fiber {

template <typename T>
class RunQueue {
 public:
  static constexpr std::size_t kLocal = 256;      // Go: len(p.runq)
  static constexpr uint32_t kGlobalEvery = 61;    // Go: schedtick % 61
  static constexpr uint32_t kNextStreak = 61;

  RunQueue() = default;
  RunQueue(const RunQueue&) = delete;
  RunQueue& operator=(const RunQueue&) = delete;

  bool empty() const noexcept { return next_ == nullptr && local_.empty() && global_.empty(); }
  std::size_t size() const noexcept {
    return (next_ ? 1 : 0) + local_.size() + global_.size();
  }

  void push(T* node) noexcept {
    local_.push(node);
    if (local_.size() > kLocal)
      for (std::size_t i = 0; i < kLocal / 2; ++i) global_.push(local_.pop());
  }

  void push_next(T* node) noexcept {
    if (next_) push(next_);
    next_ = node;
  }

  void push_global(T* node) noexcept { global_.push(node); }

  T* pop() noexcept {
    if (ticks_ % kGlobalEvery == kGlobalEvery - 1 && !global_.empty()) {
      ++ticks_;
      return global_.pop();
    }
    if (next_) {
      if (streak_ < kNextStreak) {
        ++streak_;
        T* node = next_;
        next_ = nullptr;
        return node;
      }
      push(next_);
      next_ = nullptr;
    }
    streak_ = 0;
    ++ticks_;
    if (T* node = local_.pop()) return node;
    return global_.pop();
  }

  // Unlinks `node` wherever it is queued; linear (cancellation paths only).
  bool remove(T* node) noexcept {
    if (next_ == node) {
      next_ = nullptr;
      return true;
    }
    return local_.remove(node) || global_.remove(node);
  }

  void clear() noexcept {
    next_ = nullptr;
    local_.clear();
    global_.clear();
  }

 private:
  T* next_ = nullptr;
  IntrusiveQueue<T> local_;
  IntrusiveQueue<T> global_;
  uint32_t ticks_ = 0;   // picks that did not take `next`
  uint32_t streak_ = 0;  // picks of `next` in a row
};

}  // namespace cmbench::fiber
