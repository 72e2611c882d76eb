#pragma once
// A FIFO queue threaded through a `next` pointer inside the queued objects.
// The runtime's run queue and every wait queue (mutex, channel, join) use it,
// so that parking or waking a fiber never allocates: the node is the fiber's
// control block.
//
// kCounted = false drops the length (size() then walks the queue), so that
// the queue is two pointers: the channel keeps its lock, indices and both
// waiter queues in one cache line (channel.hpp).
#include <cstddef>
#include <type_traits>

namespace cmbench::fiber {

template <typename T, bool kCounted = true>
class IntrusiveQueue {
 public:
  IntrusiveQueue() = default;
  IntrusiveQueue(const IntrusiveQueue&) = delete;
  IntrusiveQueue& operator=(const IntrusiveQueue&) = delete;

  bool empty() const noexcept { return head_ == nullptr; }
  T* front() const noexcept { return head_; }

  void push(T* node) noexcept {
    if constexpr (kCounted) ++count_;
    node->next = nullptr;
    if (tail_)
      tail_->next = node;
    else
      head_ = node;
    tail_ = node;
  }

  // Queues `node` ahead of the others: a mutex's waiter that was woken and
  // lost the lock again keeps its place at the head (mutex.cpp).
  void push_front(T* node) noexcept {
    if constexpr (kCounted) ++count_;
    node->next = head_;
    head_ = node;
    if (!tail_) tail_ = node;
  }

  T* pop() noexcept {
    T* node = head_;
    if (node) {
      if constexpr (kCounted) --count_;
      head_ = node->next;
      if (!head_) tail_ = nullptr;
      node->next = nullptr;
    }
    return node;
  }

  // Unlinks `node` if it is queued; linear, because it is only needed when a
  // parked fiber is cancelled while it waits, never on the normal path.
  bool remove(T* node) noexcept {
    T* prev = nullptr;
    for (T* cur = head_; cur; prev = cur, cur = cur->next) {
      if (cur != node) continue;
      (prev ? prev->next : head_) = cur->next;
      if (tail_ == cur) tail_ = prev;
      cur->next = nullptr;
      if constexpr (kCounted) --count_;
      return true;
    }
    return false;
  }

  // Counted by default, because the scheduler sizes its I/O polling rounds
  // by the run queue's length; an uncounted queue walks itself (the
  // channel's waiter queues, whose counts only tests read).
  std::size_t size() const noexcept {
    if constexpr (kCounted) {
      return count_;
    } else {
      std::size_t n = 0;
      for (const T* cur = head_; cur; cur = cur->next) ++n;
      return n;
    }
  }

  // Moves every node of `from` to the back of this queue, in order, without
  // visiting them: close() takes a channel's parked fibers in O(1) under
  // its lock, and wakes them after.
  void splice(IntrusiveQueue& from) noexcept {
    if (from.empty()) return;
    if (tail_)
      tail_->next = from.head_;
    else
      head_ = from.head_;
    tail_ = from.tail_;
    if constexpr (kCounted) count_ += from.count_;
    from.clear();
  }

  void clear() noexcept {
    head_ = tail_ = nullptr;
    if constexpr (kCounted) count_ = 0;
  }

 private:
  struct NoCount {};
  T* head_ = nullptr;
  T* tail_ = nullptr;
  [[no_unique_address]] std::conditional_t<kCounted, std::size_t, NoCount> count_{};
};

}  // namespace cmbench::fiber
