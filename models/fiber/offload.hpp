#pragma once
// offload(fn): run a blocking call without blocking the scheduler.
//
// A fiber that makes a system call which really blocks (a read on a pipe, an
// fsync, a DNS lookup) stops its whole thread, and with it every other fiber
// of that thread: the scheduler is cooperative and cannot take the thread
// back. Go avoids this in its runtime: a goroutine entering a blocking system
// call hands its P (the right to run goroutines) to another thread, so the
// others keep running, and takes one back when the call returns. offload() is
// the same hand-off made explicit:
//   - the calling fiber parks, and one thread of a small process-wide pool
//     runs fn() on its own (large) stack;
//   - the scheduler meanwhile runs the other fibers, and its thread may wait
//     in epoll as usual;
//   - when fn() returns (or throws), the pool thread puts the fiber in the
//     scheduler's inbox, a list under a lock, and wakes the scheduler through
//     an eventfd in its epoll set; the scheduler makes the fiber runnable at
//     its next poll, and offload() returns fn's result in the fiber, or
//     rethrows fn's exception there.
// Nothing of this exists until a fiber first offloads: the inbox, the
// eventfd and the pool's threads are made then, so a program that never
// offloads pays nothing, and the one-thread hot path checks nothing more.
//
// The pool holds at most offload_threads() threads (kDefaultOffloadThreads,
// 4, the size of libuv's thread pool by default), started one at a time as
// calls arrive and no started thread is free, and kept until the process
// exits. Calls beyond that wait in the pool's FIFO queue, as libuv's
// uv_queue_work does; Go instead starts a thread per blocked goroutine, which
// a workload may approach with set_offload_threads().
//
// A pending offload counts as a waiter, like a fiber parked on a descriptor
// or a timer: a scheduler whose only other fibers wait for it is not
// deadlocked. If the runtime shuts down while an offload is in flight (a
// fiber failed, or the Scheduler is destroyed), the shutdown waits for fn()
// to return before it unwinds the fiber: fn() may refer to that fiber's
// stack, and a blocking call cannot be cancelled (Go cannot either).
//
// Outside a fiber (on a thread that runs no scheduler, or on the
// scheduler's thread outside run()) offload(fn) simply calls fn().
#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "models/fiber/scheduler.hpp"
#include "models/fiber/spinlock.hpp"

namespace cmbench::fiber {

inline constexpr std::size_t kDefaultOffloadThreads = 4;

// The most threads the offload pool runs at once.
std::size_t offload_threads() noexcept;
// Changes that maximum (at least 1). Threads already started are kept.
void set_offload_threads(std::size_t n);
// Pool threads started so far in this process.
std::size_t offload_threads_started() noexcept;
// Starts pool threads now, until min(n, offload_threads()) run, for a
// program that wants its pool ready before it measures (an
// asio::thread_pool has its threads once it is made). Stops early, without
// an error, when the system refuses a thread: offload() then starts them as
// it always does. Returns the threads started so far.
std::size_t start_offload_threads(std::size_t n);
// "a pool of up to 4 threads, ...", for the workloads' notes.
std::string offload_description();

// One offloaded call, on the parked fiber's stack: the pool's queue and the
// scheduler's inbox are threaded through `next`, so offloading allocates
// nothing but, once, the pool's threads.
struct OffloadJob {
  OffloadJob* next = nullptr;
  // Runs the function on a pool thread and stores its result or exception.
  void (*call)(OffloadJob*) noexcept = nullptr;
  Scheduler* sched = nullptr;
  ControlBlock* fiber = nullptr;
  // M:N mode: held by the fiber from before it hands the job to the pool
  // until its context is saved (Scheduler::park(SpinLock*)); the pool thread
  // takes it before it lets the scheduler ready the fiber, so no worker can
  // resume the fiber while it is still leaving.
  SpinLock parked;
  std::exception_ptr error;
  // Set by the scheduler when it takes the job from its inbox.
  bool done = false;
};

namespace detail {
// Queues `job` in the pool, starting a thread if none is free and fewer than
// offload_threads() run. Throws std::system_error only if no thread runs.
void offload_submit(OffloadJob* job);

template <typename F, typename R>
struct OffloadCall : OffloadJob {
  explicit OffloadCall(F& f) noexcept : fn(f) { call = &run; }
  F& fn;
  std::optional<std::conditional_t<std::is_void_v<R>, bool, R>> result;

  static void run(OffloadJob* job) noexcept {
    auto* self = static_cast<OffloadCall*>(job);
    try {
      if constexpr (std::is_void_v<R>) {
        std::invoke(self->fn);
        self->result.emplace(true);
      } else {
        self->result.emplace(std::invoke(self->fn));
      }
    } catch (...) {
      self->error = std::current_exception();
    }
  }
};
}  // namespace detail

// Runs fn() on a thread of the offload pool while the calling fiber is
// parked; returns its result, or rethrows its exception, in the fiber.
template <typename F>
std::invoke_result_t<F&> offload(F&& fn) {
  using R = std::invoke_result_t<F&>;
  static_assert(!std::is_reference_v<R>, "offload(): return a value, not a reference");
  Scheduler* s = Scheduler::current();
  if (!s || !s->running()) return std::invoke(fn);
  detail::OffloadCall<std::remove_reference_t<F>, R> job(fn);
  s->offload(job);  // returns once the pool thread is done with the job
  if (job.error) std::rethrow_exception(job.error);
  if constexpr (!std::is_void_v<R>) return std::move(*job.result);
}

}  // namespace cmbench::fiber
