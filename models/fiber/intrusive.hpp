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
      return true;
    }
    return false;
  }

  std::size_t size() const noexcept {
    std::size_t n = 0;
    for (T* cur = head_; cur; cur = cur->next) ++n;
    return n;
  }

  void clear() noexcept { head_ = tail_ = nullptr; }

 private:
  T* head_ = nullptr;
  T* tail_ = nullptr;
};

}  // namespace cmbench::fiber
