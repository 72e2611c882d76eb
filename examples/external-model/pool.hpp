#pragma once
// The runtime of this example: a fixed pool of worker threads and one task
// queue under a std::mutex and a condition variable. A task keeps its worker
// until it returns, so a task that blocks (on a channel) holds a worker:
// the implementations refuse pool sizes that could leave every worker
// blocked while the task that would release them waits in the queue.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace threadpool {

class Pool {
 public:
  explicit Pool(size_t workers) {
    threads_.reserve(workers);
    for (size_t i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
  }
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
  // Runs every queued task, then stops the workers.
  ~Pool() { wait_idle_and_stop(); }

  void submit(std::function<void()> task) {
    {
      std::lock_guard lock(mutex_);
      tasks_.push_back(std::move(task));
      ++pending_;
    }
    ready_.notify_one();
  }

  // Returns once every submitted task has returned.
  void wait_idle() {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [this] { return pending_ == 0; });
  }

 private:
  void wait_idle_and_stop() {
    {
      std::unique_lock lock(mutex_);
      idle_.wait(lock, [this] { return pending_ == 0; });
      stopping_ = true;
    }
    ready_.notify_all();
    for (auto& t : threads_) t.join();
  }

  void work() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
        if (tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
      std::lock_guard lock(mutex_);
      if (--pending_ == 0) idle_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_, idle_;
  std::deque<std::function<void()>> tasks_;  // guarded by mutex_
  size_t pending_ = 0;                       // submitted and not yet returned; guarded by mutex_
  bool stopping_ = false;                    // guarded by mutex_
  std::vector<std::thread> threads_;
};

// A channel between tasks: a ring of `capacity` values under a mutex with
// condition variables. Capacity 0 is a rendezvous, as the prodcons spec
// asks of every model: a push returns only once a pop has taken its value.
template <typename T>
class Channel {
 public:
  explicit Channel(size_t capacity) : capacity_(capacity) {}

  void push(const T& value) {
    std::unique_lock lock(mutex_);
    if (capacity_ > 0) {
      not_full_.wait(lock, [this] { return values_.size() < capacity_; });
      values_.push_back(value);
      not_empty_.notify_one();
      return;
    }
    values_.push_back(value);
    const unsigned long long ticket = ++pushed_;
    not_empty_.notify_one();
    taken_.wait(lock, [this, ticket] { return popped_ >= ticket; });
  }

  // The next value; nothing once the channel is closed and drained.
  std::optional<T> pop() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [this] { return !values_.empty() || closed_; });
    if (values_.empty()) return std::nullopt;
    T value = values_.front();
    values_.pop_front();
    ++popped_;
    if (capacity_ > 0) not_full_.notify_one();
    else taken_.notify_all();
    return value;
  }

  void close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    not_empty_.notify_all();
  }

 private:
  const size_t capacity_;
  std::mutex mutex_;
  std::condition_variable not_full_, not_empty_, taken_;
  std::deque<T> values_;  // guarded by mutex_
  unsigned long long pushed_ = 0, popped_ = 0;
  bool closed_ = false;
};

}  // namespace threadpool
