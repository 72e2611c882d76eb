#include "models/uv/loop.hpp"

#include <cstdio>

#include "models/uv/error.hpp"

namespace cmbench::uv {

std::string_view to_string(Continuation c) noexcept {
  return c == Continuation::deferred ? "deferred" : "inline";
}

Continuation continuation_param(const Params& params) {
  if (!params.has("continuation")) return Continuation::inline_trampoline;
  return params.s("continuation") == "deferred" ? Continuation::deferred
                                                : Continuation::inline_trampoline;
}

std::string continuation_note(Continuation c) {
  if (c == Continuation::deferred)
    return "deferred: a woken waiter's callback is queued and run by the loop on its next "
           "iteration, from a uv_idle_t handle that drains the callbacks queued before that "
           "iteration began (one zero-timeout epoll_wait per iteration)";
  return "inline: a woken waiter's callback is called from the send/recv/close that woke it, "
         "through a trampoline (a FIFO ready queue drained by the outermost caller) so the stack "
         "stays one callback deep; units start from a uv_idle_t callback inside uv_run";
}

Loop::Loop(Continuation continuation) : continuation_(continuation) {
  check_uv("uv_loop_init", uv_loop_init(&loop_));
  // Cannot fail (libuv documents it as always returning 0).
  uv_idle_init(&loop_, &idle_);
  idle_.data = this;
}

Loop::~Loop() {
  // Continuations still queued belong to units that are being torn down
  // (only after an exception): drop them rather than call into freed state.
  ready_.take();
  next_.take();
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void*) {
        if (uv_is_closing(h) == 0) uv_close(h, nullptr);
      },
      nullptr);
  // Closing completes inside uv_run (close callbacks run at the end of an
  // iteration); a closing handle keeps the loop alive until then.
  uv_run(&loop_, UV_RUN_DEFAULT);
  int rc = uv_loop_close(&loop_);
  if (rc != 0) {
    // Only possible if a close callback opened a new handle. A destructor
    // cannot throw; say so loudly instead of leaking silently.
    std::fprintf(stderr, "cmbench uv: uv_loop_close: %s (%s)\n", uv_err_name(rc), uv_strerror(rc));
  }
}

void Loop::post(Task* t) noexcept {
  ready_.push(t);
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(&idle_)) == 0)
    uv_idle_start(&idle_, &Loop::idle_cb);
}

void Loop::defer(Task* t) noexcept {
  next_.push(t);
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(&idle_)) == 0)
    uv_idle_start(&idle_, &Loop::idle_cb);
}

void Loop::drain() noexcept {
  draining_ = true;
  while (Task* t = ready_.pop()) t->run(t);
  draining_ = false;
}

void Loop::idle_cb(uv_idle_t* handle) {
  Loop& self = *static_cast<Loop*>(handle->data);
  // What was deferred during the previous iteration runs in this one, after
  // the callbacks already queued; what is deferred now waits for the next.
  for (TaskQueue deferred = self.next_.take(); Task* t = deferred.pop();) self.ready_.push(t);
  if (self.continuation_ == Continuation::inline_trampoline) {
    self.drain();
  } else {
    // Only the callbacks queued before this iteration: what they queue in
    // turn runs on the next one, so every wake-up goes through the loop.
    TaskQueue batch = self.ready_.take();
    self.draining_ = true;
    while (Task* t = batch.pop()) t->run(t);
    self.draining_ = false;
  }
  if (self.ready_.empty() && self.next_.empty()) uv_idle_stop(handle);
}

bool Loop::run() { return uv_run(&loop_, UV_RUN_DEFAULT) != 0; }

}  // namespace cmbench::uv
