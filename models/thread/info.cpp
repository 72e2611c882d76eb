#include "harness/registry/registry.hpp"

namespace cmbench::models::thread {

const ModelInfo& info() {
  static const ModelInfo m{
      "thread",
      "kernel threads (std::thread) with mutex + condition-variable queues and atomics",
      {
          "a kernel thread (std::thread)",
          "the kernel, preemptively",
          "none: one address space, shared heap",
          "a fixed-size stack mapped per thread (8 MiB of address space by default) plus a kernel stack",
          "bounded queues on std::mutex + condition variables (a futex word each: glibc's std::condition_variable loses wake-ups, glibc bug 25847); std::atomic",
          "C++ standard library (pthreads)",
      },
      {},
      false,
  };
  return m;
}

}  // namespace cmbench::models::thread
