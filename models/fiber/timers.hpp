#pragma once
// The runtime's timers: fibers parked in sleep_until(), in a min-heap on
// (deadline, sequence number), so that the earliest deadline is at the top
// and fibers with equal deadlines wake in the order they went to sleep.
// The heap's vector keeps its capacity: once it has held as many timers as
// fibers sleep at once, a sleep allocates nothing.
//
// The scheduler owns one (guarded by its lock in M:N mode) and asks it two
// things: how long the thread may wait in epoll (nearest()), and, after a
// poll, which fibers are due (fire_due()). The timers never read the clock
// themselves: the caller passes `now`, so a test can drive them without one.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace cmbench::fiber {

struct ControlBlock;

class Timers {
 public:
  // Throws std::bad_alloc when the heap cannot grow.
  void add(int64_t deadline_ns, ControlBlock* fiber) {
    heap_.push_back(Timer{deadline_ns, seq_++, fiber});
    std::push_heap(heap_.begin(), heap_.end(), Later{});
  }
  bool empty() const noexcept { return heap_.empty(); }
  std::size_t size() const noexcept { return heap_.size(); }
  // The earliest deadline; precondition: !empty().
  int64_t nearest() const noexcept { return heap_.front().deadline; }
  // Hands every fiber whose deadline is <= now to ready(fiber), earliest
  // first; returns how many.
  template <typename Ready>
  std::size_t fire_due(int64_t now, Ready&& ready) {
    std::size_t fired = 0;
    while (!heap_.empty() && heap_.front().deadline <= now) {
      std::pop_heap(heap_.begin(), heap_.end(), Later{});
      ControlBlock* fiber = heap_.back().fiber;
      heap_.pop_back();
      ready(fiber);
      ++fired;
    }
    return fired;
  }
  // At shutdown, every sleeper is unwound: none may stay in the heap.
  void clear() noexcept { heap_.clear(); }

 private:
  struct Timer {
    int64_t deadline;
    uint64_t seq;  // FIFO among equal deadlines
    ControlBlock* fiber;
  };
  // Orders the vector as a min-heap on (deadline, seq).
  struct Later {
    bool operator()(const Timer& a, const Timer& b) const noexcept {
      return a.deadline != b.deadline ? a.deadline > b.deadline : a.seq > b.seq;
    }
  };
  std::vector<Timer> heap_;
  uint64_t seq_ = 0;
};

}  // namespace cmbench::fiber
