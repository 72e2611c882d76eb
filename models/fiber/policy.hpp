#pragma once
// The run-queue policy: which fiber runs next. The scheduler tells the
// policy why a fiber became runnable, and asks it for the next one, in the
// manner of Boost.Fiber's algo::algorithm (awakened / pick_next /
// has_ready_fibers); the reasons are Go's, because Go's order is what this
// runtime keeps:
//   awakened(cb)        made ready by a running fiber (a channel hand-off, a
//                       mutex hand-off, a join): it runs next (Go's
//                       runnext), as Go's goready does;
//   spawned(cb, fiber)  a new fiber: next if a fiber spawned it (newproc),
//                       else (the thread, before run()) at the tail, so a
//                       program's first fibers start in the order it spawned
//                       them;
//   yielded(cb)         behind everything queued (Gosched: the global tail);
//   polled(cb)          readied by the reactor, a timer or an offload: the
//                       tail (Go's netpoll results are injected, not run
//                       next);
//   pick_next()         the next fiber, or null when none is runnable;
//   peek_next(k)        the fiber pick_next() will most likely return (k 0)
//                       or return after that (k 1), left queued: a hint,
//                       for prefetching what resuming it reads
//                       (Scheduler::finish);
//   has_ready_fibers(), ready_count(): for the polling round and for idling.
// Boost's algorithm also suspends the thread when nothing is ready
// (suspend_until) and wakes it (notify). Here that is the reactor's job: the
// thread with nothing to run waits in epoll, which is also how descriptors,
// timers and offloads make fibers ready (one thread: Scheduler::poll(); M:N:
// one idle worker in epoll, the others on a futex, scheduler_mn.cpp).
//
// A policy is a concrete `final` class that the scheduler holds by value, so
// every call is direct and inlined: the switch path has no virtual call (the
// concept below states the interface the scheduler relies on).
//
// GoOrder is Go's order on one P (models/fiber/run_queue.hpp). The one-thread
// mode uses it alone; in M:N mode it is the global queue, under the
// scheduler's lock, and each worker has a runnext slot and a StealQueue of
// its own in front of it (scheduler_mn.cpp).
#include <concepts>
#include <cstddef>

#include "models/fiber/run_queue.hpp"
#include "models/fiber/stack_pool.hpp"

namespace cmbench::fiber {

template <typename P>
concept RunPolicy = requires(P& p, const P& cp, ControlBlock* cb, bool by_fiber, std::size_t n) {
  { p.awakened(cb) } noexcept;
  { p.spawned(cb, by_fiber) } noexcept;
  { p.yielded(cb) } noexcept;
  { p.polled(cb) } noexcept;
  { p.pick_next() } noexcept -> std::same_as<ControlBlock*>;
  { cp.peek_next(n) } noexcept -> std::same_as<ControlBlock*>;
  { cp.has_ready_fibers() } noexcept -> std::same_as<bool>;
  { cp.ready_count() } noexcept -> std::same_as<std::size_t>;
  p.reserve(n);  // room for n fibers queued at once; throws std::bad_alloc
  { p.clear() } noexcept;
};

class GoOrder final {
 public:
  void awakened(ControlBlock* cb) noexcept { q_.push_next(cb); }
  void spawned(ControlBlock* cb, bool by_fiber) noexcept {
    if (by_fiber)
      q_.push_next(cb);
    else
      q_.push(cb);
  }
  void yielded(ControlBlock* cb) noexcept { q_.push_global(cb); }
  void polled(ControlBlock* cb) noexcept { q_.push(cb); }
  ControlBlock* pick_next() noexcept { return q_.pop(); }
  ControlBlock* peek_next(std::size_t after = 0) const noexcept { return q_.peek(after); }
  bool has_ready_fibers() const noexcept { return !q_.empty(); }
  std::size_t ready_count() const noexcept { return q_.size(); }
  void reserve(std::size_t fibers) { q_.reserve(fibers); }
  void clear() noexcept { q_.clear(); }

 private:
  RunQueue<ControlBlock> q_;
};

static_assert(RunPolicy<GoOrder>);

}  // namespace cmbench::fiber
