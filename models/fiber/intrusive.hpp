#pragma once
// A FIFO queue threaded through a `next` pointer inside the queued objects.
// The runtime's run queue and every wait queue (mutex, channel, join) use it,
// so that parking or waking a fiber never allocates: the node is the fiber's
// control block, or a waiter record on the parked fiber's own stack.
#include <cstddef>

namespace cmbench::fiber {

template <typename T>
class IntrusiveQueue {
 public:
  IntrusiveQueue() = default;
  IntrusiveQueue(const IntrusiveQueue&) = delete;
  IntrusiveQueue& operator=(const IntrusiveQueue&) = delete;

  bool empty() const noexcept { return head_ == nullptr; }
  T* front() const noexcept { return head_; }

  void push(T* node) noexcept {
    ++count_;
    node->next = nullptr;
    if (tail_)
      tail_->next = node;
    else
      head_ = node;
    tail_ = node;
  }

  T* pop() noexcept {
    T* node = head_;
    if (node) {
      --count_;
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
      --count_;
      return true;
    }
    return false;
  }

  // Kept as a count, because the scheduler sizes its I/O polling rounds by
  // the run queue's length.
  std::size_t size() const noexcept { return count_; }

  void clear() noexcept {
    head_ = tail_ = nullptr;
    count_ = 0;
  }

 private:
  T* head_ = nullptr;
  T* tail_ = nullptr;
  std::size_t count_ = 0;
};

}  // namespace cmbench::fiber
