#pragma once
// WorkerPool: the boost-fiber model's way to make a call that blocks its OS
// thread without stopping the fibers of the calling thread — the pattern
// Boost.Fiber's documentation gives for running work on another thread and
// waiting for it from a fiber: a boost::fibers::packaged_task handed to a
// worker std::thread, whose future the fiber waits on. future::get() parks
// only the calling fiber; when the worker has run the task, fulfilling the
// shared state readies the fiber from that other thread (Boost.Fiber's
// remote-ready path: the fiber's scheduler is woken from its condition
// variable if it was waiting), and it resumes on its own thread.
//
// The workers are plain std::threads taking tasks from a FIFO under a
// std::mutex and std::condition_variable (they run no fibers of their own, so
// a fiber primitive would buy nothing there). Tasks are taken in the order
// they were submitted; the destructor lets the workers finish the tasks
// queued and joins them.
#include <boost/fiber/future.hpp>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace cmbench::boost_fiber {

class WorkerPool {
 public:
  explicit WorkerPool(std::size_t threads) {
    workers_.reserve(threads);
    for (std::size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
  }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  ~WorkerPool() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    ready_.notify_all();
    for (std::thread& t : workers_) t.join();
  }

  // Runs fn() on a worker and parks the calling fiber until it has returned;
  // returns its result (rethrows what it threw). fn may refer to the
  // caller's locals: the caller is parked until it has run.
  template <typename F>
  auto call(F&& fn) -> std::invoke_result_t<F&> {
    using R = std::invoke_result_t<F&>;
    if constexpr (std::is_void_v<R>) {
      run(boost::fibers::packaged_task<void()>(std::forward<F>(fn)));
    } else {
      std::optional<R> out;
      run(boost::fibers::packaged_task<void()>([&out, &fn] { out.emplace(fn()); }));
      return std::move(*out);
    }
  }

  std::size_t size() const noexcept { return workers_.size(); }

 private:
  void run(boost::fibers::packaged_task<void()> task) {
    boost::fibers::future<void> done = task.get_future();
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(std::move(task));
    }
    ready_.notify_one();
    done.get();
  }

  void work() {
    for (;;) {
      boost::fibers::packaged_task<void()> task;
      {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<boost::fibers::packaged_task<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace cmbench::boost_fiber
