#include "harness/registry/registry.hpp"

namespace cmbench::models::fiber {

const ModelInfo& info() {
  static const ModelInfo m{
      .name = "fiber",
      .summary =
          "the project's own goroutine-style runtime: stackful fibers on Boost.Context, Go-style "
          "channels",
      .taxonomy = {
          "a fiber (stackful coroutine, boost::context::fiber)",
          "the runtime in user space, cooperatively: a fiber runs until it blocks or yields",
          "none: one address space; with threads=1 fibers never run at the same time, with "
          "threads>1 they run in parallel on that many kernel threads (M:N)",
          "a fixed-size mmap'd stack (the stack_size parameter) with a guard page below it, "
          "from a pool that reuses finished fibers' stacks",
          "Go-style channels (buffered with exact capacity, or rendezvous) and a fiber mutex",
          "Boost.Context (context switching); scheduler and channels are cmbench's own",
      },
      .params = {
          ParamDef::integer("stack_size", "bytes of stack per fiber", 16384, 4096, 8 << 20),
          ParamDef::integer("threads",
                            "kernel threads running the fibers (M:N, a queue per thread with work stealing); "
                            "0 = one per core",
                            1, 0, 256),
      },
      // Traits (harness/registry/registry.hpp): M:N on `threads` threads.
      .workers_param = "threads",
      .one_thread = true,  // at threads:1
  };
  return m;
}

}  // namespace cmbench::models::fiber
