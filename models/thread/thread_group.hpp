#pragma once
// ThreadGroup: the units of one run, kernel threads created with std::thread
// behind a std::latch start gate.
//
// Every thread first waits at the gate; start() opens it once all threads
// exist. The gate is what lets a run fail cleanly: when the kernel refuses a
// thread (pthread_create's EAGAIN: RLIMIT_NPROC, pid_max, threads-max, or no
// memory for the stack), the threads already created have done no work and
// hold no channel, so they can be told to return, released and joined before
// the error is thrown. Without it, a consumer already blocked in pop() would
// wait forever for producers that were never created. Creation is inside the
// timed region either way; the gate only makes the work start together.
#include <cerrno>
#include <cstddef>
#include <latch>
#include <new>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace cmbench::models::thread {

class ThreadGroup {
 public:
  // `expected` threads will be spawned; their handles are reserved up front
  // so spawn() allocates nothing but the thread itself.
  explicit ThreadGroup(size_t expected);
  ThreadGroup(const ThreadGroup&) = delete;
  ThreadGroup& operator=(const ThreadGroup&) = delete;
  // Never leaves a thread running: a group that was not started is released
  // with the abort flag set, then every thread still joinable is joined.
  ~ThreadGroup();

  // Creates a thread that waits at the gate, then runs body() unless the
  // group was abandoned. When creation fails, joins the threads already
  // created and throws LimitError (EAGAIN, ENOMEM) or SystemError.
  template <typename F>
  void spawn(F&& body) {
    try {
      threads_.emplace_back([this, body = std::forward<F>(body)]() mutable {
        gate_.wait();
        // Written before the gate opened; the latch orders that write before
        // this read, so a plain bool suffices.
        if (aborted_) return;
        body();
      });
    } catch (const std::system_error& e) {
      abandon("std::thread (pthread_create)", e.code().value());
    } catch (const std::bad_alloc&) {
      abandon("std::thread (pthread_create)", ENOMEM);
    }
  }

  // Opens the gate: every spawned thread starts its body.
  void start();
  // Joins threads [begin, end), in spawn order.
  void join(size_t begin, size_t end);
  void join_all() { join(0, threads_.size()); }
  size_t size() const noexcept { return threads_.size(); }

 private:
  // Releases the threads with the abort flag set, joins them, and throws the
  // error for `err` (throw_errno: EAGAIN and ENOMEM become LimitError).
  [[noreturn]] void abandon(const std::string& call, int err);

  std::latch gate_{1};
  bool started_ = false;
  bool aborted_ = false;
  // Declared after the gate so that, were the destructor's joins ever
  // skipped, no thread could outlive the latch it waits on.
  std::vector<std::thread> threads_;
};

}  // namespace cmbench::models::thread
