#include "harness/registry/registry.hpp"

namespace cmbench::models::go {

// Facts checked against Go 1.19's own source (Debian golang-1.19,
// src/runtime): _StackMin = 2048 in stack.go; debug.adaptivestackstart = 1
// in runtime1.go ("go119"), with gcComputeStartingStackSize in stack.go
// setting the starting size to the average stack scanned at the last GC;
// netpoll_epoll.go waits in epoll with a millisecond timeout.
const ModelInfo& info() {
  static const ModelInfo m{
      .name = "go",
      .summary =
          "Go's goroutines and channels (Go 1.19): the runtime the notes describe, as the "
          "yardstick for the fiber rows; a separate Go program (cmbench-go) that the cell execs",
      .taxonomy = {
          "a goroutine",
          "the Go runtime, M:N: GOMAXPROCS Ps run goroutines on OS threads, with per-P run queues "
          "and work stealing; cooperative at function calls and channel operations, and "
          "asynchronously preempted (signals) after 10 ms",
          "none: one address space; goroutines on different Ps run in parallel",
          "a growable stack on the Go heap: 2 KiB to start (since Go 1.19 the starting size "
          "follows the average stack scanned at the last GC), doubled by copying when it "
          "overflows, shrunk by the GC",
          "Go channels (buffered with exact capacity, or unbuffered rendezvous), sync.Mutex, "
          "sync/atomic, sync.WaitGroup; the net package (netpoller on epoll) for sockets",
          "the Go 1.19 runtime and standard library (Debian golang-go), no third-party package",
      },
      .params = {
          ParamDef::integer("gomaxprocs",
                            "GOMAXPROCS: Ps running goroutines at once (0 = every core)", 1, 0,
                            1024),
      },
      // Traits (harness/registry/registry.hpp): M:N on GOMAXPROCS threads.
      .workers_param = "gomaxprocs",
  };
  return m;
}

}  // namespace cmbench::models::go
