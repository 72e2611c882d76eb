#pragma once
// Memory readings shared by the runner (peak memory of a cell) and the probe
// (memory per unit at a named moment).
#include <sys/types.h>

namespace cmbench {

// The sum of PSS (bytes) over `root` and all its descendants; -1 when the
// root is gone. PSS divides every shared page among the processes mapping it,
// so a forked tree's copy-on-write pages are counted once, not once per child.
long long tree_pss_bytes(pid_t root);

// A "VmHWM"-style field of /proc/<pid>/status ("self" for this process), in
// bytes; -1 when absent.
long long proc_status_bytes(const char* pid, const char* field);

// Resident memory of this process now (VmRSS), in bytes.
inline long long self_rss_bytes() { return proc_status_bytes("self", "VmRSS"); }

// Machine-wide kernel memory from /proc/meminfo, in bytes: what threads and
// processes cost the kernel beyond their user-space pages.
struct KernelMemory {
  long long kernel_stack = 0;
  long long page_tables = 0;
  long long slab = 0;
};
KernelMemory read_kernel_memory();

}  // namespace cmbench
