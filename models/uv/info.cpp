#include "harness/registry/registry.hpp"

namespace cmbench::models::uv {

const ModelInfo& info() {
  static const ModelInfo m{
      .name = "uv",
      .summary =
          "callbacks on one libuv event loop: nothing blocks, every wait is a registered callback",
      .taxonomy = {
          "a callback (and the state it closes over) registered on the loop",
          "the event loop, run to completion: a callback runs until it returns",
          "none: one thread, so callbacks never run at the same time",
          "none of its own: a unit is a heap object; callbacks borrow the loop's stack",
          "a callback channel (CbChannel) whose waiters are callbacks, on one loop (uv_async_t "
          "would carry wake-ups between loops; no workload uses a second loop)",
          "libuv",
      },
      .params = {
          ParamDef::choice("continuation",
                           "how the callback of a woken waiter is scheduled: inline (called from "
                           "the send/recv that woke it, through a trampoline) or deferred (run "
                           "by the loop on its next iteration, from a uv_idle_t)",
                           "inline", {"inline", "deferred"}),
      },
      // Traits (harness/registry/registry.hpp): one loop on the cell's thread.
      .one_thread = true,
  };
  return m;
}

}  // namespace cmbench::models::uv
