#include "harness/registry/registry.hpp"

namespace cmbench::models::thread {

const ModelInfo& info() {
  static const ModelInfo m{
      .name = "thread",
      .summary = "kernel threads (std::thread) with mutex + condition-variable queues and atomics",
      .taxonomy = {
          "a kernel thread (std::thread)",
          "the kernel, preemptively",
          "none: one address space, shared heap",
          "a fixed-size stack mapped per thread (8 MiB of address space by default) plus a kernel stack",
          "bounded queues on std::mutex + condition variables (a futex word each: glibc's std::condition_variable loses wake-ups, glibc bug 25847); std::atomic",
          "C++ standard library (pthreads)",
      },
      // Traits (harness/registry/registry.hpp): threads take pids too, and
      // stop at the kernel's pid_max, 32,768 by default.
      .kernel_scheduled = true,
      .unit_ceiling = 32'768,
  };
  return m;
}

}  // namespace cmbench::models::thread
