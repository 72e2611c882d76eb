#include "harness/registry/registry.hpp"

namespace cmbench::models::process {

const ModelInfo& info() {
  static const ModelInfo m{
      "process",
      "forked processes talking over pipes, or over shared memory with a process-shared mutex",
      {
          "a forked process",
          "the kernel, preemptively",
          "full: own address space; memory is shared only through explicit mappings",
          "a whole address space (page tables, kernel stack, copy-on-write pages)",
          "pipes; an anonymous MAP_SHARED mapping with a PTHREAD_PROCESS_SHARED mutex or atomics",
          "POSIX (fork, pipe, mmap, pthread)",
      },
      {},
      true,
  };
  return m;
}

}  // namespace cmbench::models::process
