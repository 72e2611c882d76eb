#include "harness/registry/registry.hpp"

namespace cmbench::models::process {

const ModelInfo& info() {
  static const ModelInfo m{
      .name = "process",
      .summary =
          "forked processes talking over pipes, or over shared memory with a process-shared mutex",
      .taxonomy = {
          "a forked process",
          "the kernel, preemptively",
          "full: own address space; memory is shared only through explicit mappings",
          "a whole address space (page tables, kernel stack, copy-on-write pages)",
          "pipes; an anonymous MAP_SHARED mapping with a PTHREAD_PROCESS_SHARED mutex or atomics",
          "POSIX (fork, pipe, mmap, pthread)",
      },
      .process_tree = true,
      // Traits (harness/registry/registry.hpp): forked processes stop at the
      // kernel's pid_max, 32,768 by default.
      .kernel_scheduled = true,
      .unit_ceiling = 32'768,
  };
  return m;
}

}  // namespace cmbench::models::process
