#include "harness/cell/speed.hpp"

#include "harness/cell/probe.hpp"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define CMBENCH_ON_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#else
#define CMBENCH_ON_VALGRIND() false
#endif

namespace cmbench {

bool speed_loop_applies() { return !CMBENCH_ON_VALGRIND(); }

double speed_loop_ns(uint64_t steps) {
  // A linear congruential step: each depends on the last (a multiply and an
  // add, 4 cycles a step on x86-64), so the loop runs at one step per
  // multiply-add latency whatever the CPU's width. The asm keeps the
  // compiler from folding the loop into a closed form.
  uint64_t x = 1;
  const int64_t t0 = now_ns();
  for (uint64_t i = 0; i < steps; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    asm volatile("" : "+r"(x));
  }
  const int64_t t1 = now_ns();
  asm volatile("" ::"r"(x));
  return static_cast<double>(t1 - t0);
}

}  // namespace cmbench
