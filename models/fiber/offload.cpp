#include "models/fiber/offload.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace cmbench::fiber {

namespace {

// The process's offload pool: a FIFO of jobs under a mutex, and threads that
// wait on a condition variable for them. Threads start one at a time, when a
// job is queued that no waiting thread will take and fewer than max_ run;
// they live until the process exits. The pool itself is never destroyed: a
// thread may be blocked in a call that never returns (that is what it is
// for), and joining it from a static destructor would hang the exit.
class Pool {
 public:
  static Pool& get() {
    static Pool* pool = new Pool;  // never destroyed (see above)
    return *pool;
  }

  void submit(OffloadJob* job) {
    std::unique_lock lock(mu_);
    job->next = nullptr;
    (tail_ ? tail_->next : head_) = job;
    tail_ = job;
    ++queued_;
    if (queued_ > idle_ && threads_.size() < max_) {
      try {
        add_thread_locked();
      } catch (const std::system_error&) {
        // Out of threads (EAGAIN): the ones running take the job in turn;
        // with none at all, nothing would.
        if (threads_.empty()) {
          unlink_last(job);
          throw;
        }
      }
    }
    lock.unlock();
    cv_.notify_one();
  }

  std::size_t start(std::size_t n) {
    std::lock_guard lock(mu_);
    try {
      while (threads_.size() < std::min(n, max_)) add_thread_locked();
    } catch (const std::system_error&) {
      // Out of threads (EAGAIN): submit() starts them on demand, as before.
    }
    return threads_.size();
  }

  std::size_t max() {
    std::lock_guard lock(mu_);
    return max_;
  }
  void set_max(std::size_t n) {
    std::lock_guard lock(mu_);
    max_ = n;
  }
  std::size_t started() const noexcept { return started_.load(std::memory_order_relaxed); }

 private:
  // One more thread, with mu_ held; throws std::system_error when the
  // kernel has no thread to give (EAGAIN), each caller deciding what then.
  void add_thread_locked() {
    threads_.emplace_back([this] { work(); });
    started_.store(threads_.size(), std::memory_order_relaxed);
  }

  void work() {
    std::unique_lock lock(mu_);
    for (;;) {
      while (!head_) {
        ++idle_;
        cv_.wait(lock);
        --idle_;
      }
      OffloadJob* job = head_;
      head_ = job->next;
      if (!head_) tail_ = nullptr;
      --queued_;
      lock.unlock();
      Scheduler* sched = job->sched;
      job->call(job);
      // The last touch of the job: the scheduler may take it, resume its
      // fiber and end the frame it lives in as soon as this returns.
      sched->complete_offload(job);
      lock.lock();
    }
  }

  void unlink_last(OffloadJob* job) noexcept {
    OffloadJob* prev = nullptr;
    for (OffloadJob* j = head_; j != job; j = j->next) prev = j;
    (prev ? prev->next : head_) = nullptr;
    tail_ = prev;
    --queued_;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  OffloadJob* head_ = nullptr;
  OffloadJob* tail_ = nullptr;
  std::size_t queued_ = 0;
  std::size_t idle_ = 0;
  std::size_t max_ = kDefaultOffloadThreads;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> started_{0};
};

}  // namespace

std::size_t offload_threads() noexcept { return Pool::get().max(); }

void set_offload_threads(std::size_t n) { Pool::get().set_max(n < 1 ? 1 : n); }

std::size_t offload_threads_started() noexcept { return Pool::get().started(); }

std::size_t start_offload_threads(std::size_t n) { return Pool::get().start(n); }

std::string offload_description() {
  return fmt::format(
      "cmbench::fiber::offload: the fiber parks while a pool of up to {} threads (process-wide, "
      "started as calls arrive) makes the call; a call beyond them waits in a FIFO; the "
      "scheduler takes the fiber back through an inbox and an eventfd in its epoll set",
      offload_threads());
}

namespace detail {
void offload_submit(OffloadJob* job) { Pool::get().submit(job); }
}  // namespace detail

}  // namespace cmbench::fiber
