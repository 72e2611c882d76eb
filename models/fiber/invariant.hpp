#pragma once
// The runtime's invariants, checked where breaking one would corrupt memory
// later and far away (a fiber started twice takes a second stack while it
// runs on its first, and the stack pool's counts underflow). Checked in
// Debug builds and in sanitizer builds (ASan, TSan: what CI runs the tests
// under); compiled out of Release builds, whose switch path must stay as
// short as it is measured.
#include <cstdio>
#include <cstdlib>

#if !defined(NDEBUG) || defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CMBENCH_FIBER_CHECKS 1
#define CMBENCH_FIBER_INVARIANT(cond, what)                                                  \
  do {                                                                                       \
    if (!(cond)) [[unlikely]] {                                                              \
      std::fprintf(stderr, "cmbench::fiber: invariant broken at %s:%d: %s (%s)\n", __FILE__, \
                   __LINE__, what, #cond);                                                   \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)
#else
#define CMBENCH_FIBER_INVARIANT(cond, what) \
  do {                                      \
  } while (0)
#endif
