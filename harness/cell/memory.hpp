#pragma once
// Memory readings shared by the runner (peak memory of a cell) and the probe
// (memory per unit at a named moment).
#include <sys/types.h>

namespace cmbench {

// The resident memory (bytes) of `root` and all its descendants with every
// page counted once; -1 when the root is gone. Anonymous and shared-memory
// pages are PSS summed over the tree: PSS divides a shared page among the
// processes mapping it, and these are shared only within the tree
// (copy-on-write after fork, MAP_SHARED mappings made before it), so a page
// is counted once, not once per child. File-backed pages (the binary, its
// libraries) are the root's RssFile, in full, as an in-process model's VmRSS
// counts them: their PSS would divide them among every process on the
// machine that maps the same file, the runner among them, so that a cell of
// the runner's own binary read about 1.1 MiB less than one of another build
// (`cmbench ab` of two builds). The units fork without exec, and echo's load
// generator execs the same binary, so the tree maps the root's files.
long long tree_resident_bytes(pid_t root);

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
