#pragma once
// The stack a std::thread gets. std::thread takes no attributes, so every
// thread of the suite gets glibc's default: the RLIMIT_STACK soft limit at
// program start (8 MiB on a stock system; 2 MiB when that limit is
// unlimited), mapped lazily, plus a guard page. The suite does not change it,
// because that is what a thread costs a program that does not tune it; the
// workloads record the size in their notes so a result says what was measured.
#include <cstddef>

namespace cmbench::models::thread {

// glibc's default stack size for new threads, in bytes (as reported by
// pthread_getattr_default_np), or 0 if it cannot be read.
size_t default_stack_bytes() noexcept;

}  // namespace cmbench::models::thread
