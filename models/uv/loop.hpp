#pragma once
// The uv model's event loop: one uv_loop_t, run on one thread, plus the ready
// queue through which the loop runs in-process continuations (units starting,
// and waiters of a CbChannel being woken).
//
// Nothing in this model blocks. A unit is a callback and the state it closes
// over; when it has to wait it registers a callback with the thing it waits
// on and returns to the loop. uv_run(UV_RUN_DEFAULT) returns when no handle is
// active any more, which here means: no continuation is waiting to run. If
// callbacks are still parked on a channel at that point nothing can ever wake
// them (the callback-model equivalent of Go's "all goroutines are asleep"),
// and the caller sees it as units that never finished, not as a hang.
#include <uv.h>

#include <string>
#include <string_view>
#include <utility>

#include "harness/cell/params.hpp"

namespace cmbench::uv {

// A continuation waiting to run on the loop. It is intrusive (the caller owns
// the memory, as with libuv's own uv_req_t), so scheduling one never
// allocates. A task is in at most one queue at a time.
struct Task {
  Task* next = nullptr;
  void (*run)(Task* self) = nullptr;
  void* data = nullptr;  // the owner's, as uv_handle_t::data and uv_req_t::data
};

// A FIFO of tasks linked through Task::next: O(1), no allocation. The tail is
// the address of the last link (of head_ when empty), so a push is three
// stores and no branch: it is on the hot path of every hand-off. A popped
// task's next is left as it was; push() sets it. Movable, not copyable: an
// empty queue's tail points into itself.
class TaskQueue {
 public:
  TaskQueue() noexcept = default;
  TaskQueue(const TaskQueue&) = delete;
  TaskQueue& operator=(const TaskQueue&) = delete;
  TaskQueue(TaskQueue&& other) noexcept { *this = std::move(other); }
  TaskQueue& operator=(TaskQueue&& other) noexcept {
    if (this != &other) {
      head_ = other.head_;
      tail_ = head_ != nullptr ? other.tail_ : &head_;
      other.head_ = nullptr;
      other.tail_ = &other.head_;
    }
    return *this;
  }

  bool empty() const noexcept { return head_ == nullptr; }

  void push(Task* t) noexcept {
    t->next = nullptr;
    *tail_ = t;
    tail_ = &t->next;
  }

  Task* pop() noexcept {
    Task* t = head_;
    if (t != nullptr) {
      head_ = t->next;
      if (head_ == nullptr) tail_ = &head_;
    }
    return t;
  }

  // Moves every task into the returned queue and leaves this one empty.
  TaskQueue take() noexcept { return std::move(*this); }

 private:
  Task* head_ = nullptr;
  Task** tail_ = &head_;
};

// How the callback of a woken waiter is scheduled. Which one a run uses is
// part of what the uv model measures, so it is a model parameter
// ("continuation") and every workload records it with probe.note().
enum class Continuation {
  // The woken callback runs on this thread before control returns to the
  // loop: called from the send/recv/close that woke it, through a
  // trampoline. The outermost caller drains a FIFO ready queue, and a
  // completion raised while a callback is already running is appended to that
  // queue instead of being called, so the stack stays one callback deep
  // however long a chain of send -> on_sent -> send runs. This is how
  // in-process promise continuations behave on an event loop (Node.js runs
  // them as microtasks before going back to libuv), and it keeps the cost of
  // a hand-off to a few instructions: no system call per wake-up.
  inline_trampoline,
  // The woken callback is queued and run by the loop itself on its next
  // iteration, from a uv_idle_t handle (setImmediate-style). Every
  // generation of continuations costs one loop iteration, including a
  // zero-timeout epoll_wait(), in exchange for letting I/O and timers in
  // between.
  deferred,
};

std::string_view to_string(Continuation c) noexcept;
// Reads the model parameter "continuation" (inline | deferred); a Params
// without it (a caller that did not add the model's parameters) gets the
// default, inline.
Continuation continuation_param(const Params& params);
// One sentence for probe.note("continuation", ...): how this run schedules
// woken callbacks.
std::string continuation_note(Continuation c);

// An RAII uv_loop_t. Not movable: libuv handles keep a pointer to their loop.
// Handles initialised on this loop must either be closed by their owner (and
// their memory kept until the close callback ran) or outlive the Loop: the
// destructor closes every handle still open, runs the loop until all the
// close callbacks have run, and only then calls uv_loop_close(), which would
// fail with UV_EBUSY while any handle is open, so the loop never leaks.
class Loop {
 public:
  explicit Loop(Continuation continuation = Continuation::inline_trampoline);
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  uv_loop_t* get() noexcept { return &loop_; }
  Continuation continuation() const noexcept { return continuation_; }

  // Runs `t` from the loop: on a later iteration of uv_run, or, when the
  // ready queue is already being drained, after the callbacks queued before
  // it. Never calls `t` itself. This is how units start: posted before
  // run(), called by uv_run.
  void post(Task* t) noexcept;

  // Runs `t` on the next iteration of the loop, after the loop has polled
  // for I/O, whatever the continuation policy (Node.js's setImmediate). For a
  // unit that must let the loop's I/O in before it goes on: a callback that
  // re-queued itself with post() while the ready queue is being drained
  // would run in the same drain, and a chain of such callbacks would keep
  // the loop from ever polling (I/O and uv_queue_work completions starved).
  void defer(Task* t) noexcept;

  // Schedules the continuation of a waiter that was just woken, according to
  // continuation(): see Continuation. With inline_trampoline it may run
  // before complete() returns, so callers must have updated their own state
  // first.
  // Inline: it is the hot path of every hand-off.
  void complete(Task* t) noexcept {
    // When a callback the loop runs from its ready queue raises a completion
    // (the common case), queueing it is all either policy does: inline, the
    // trampoline (only the outermost caller drains, and this completion runs
    // when the current callback has returned); deferred, the idle handle is
    // active while its batch runs, and what the batch queues waits for the
    // next iteration. One test on the hot path of every hand-off.
    if (draining_) {
      ready_.push(t);
      return;
    }
    if (continuation_ == Continuation::inline_trampoline) {
      ready_.push(t);
      drain();
      return;
    }
    post(t);
  }

  // uv_run(UV_RUN_DEFAULT): returns once no handle is active, i.e. the ready
  // queue is empty and nothing else was registered. Returns true if the loop
  // still had work (only after uv_stop()).
  bool run();

 private:
  static void idle_cb(uv_idle_t* handle);
  void drain() noexcept;

  uv_loop_t loop_{};
  // Drains the ready queue while it is not empty. An idle handle, not a check
  // or prepare handle: an active idle handle makes the loop poll for I/O with
  // a zero timeout instead of blocking, and a stopped one lets uv_run return
  // once there is nothing left to run. A check handle alone would leave the
  // loop blocked in epoll_wait() forever with nothing to wake it.
  uv_idle_t idle_{};
  TaskQueue ready_;
  TaskQueue next_;  // defer(): for the next iteration
  Continuation continuation_;
  bool draining_ = false;
};

}  // namespace cmbench::uv
