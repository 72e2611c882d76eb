#pragma once
// The latency sample clock: what every per-operation latency sample reads
// (pingpong round trips, prodcons send-to-receive). A sample is taken once or
// twice per operation, so its cost is part of what a fast cell measures:
// clock_gettime(CLOCK_MONOTONIC) costs about 24 ns through the vDSO on a
// KVM guest, where a bare RDTSC costs about 10 ns.
//
// sample_ns() reads the TSC and converts it to nanoseconds with a fixed-point
// factor calibrated against CLOCK_MONOTONIC, when the TSC is trustworthy:
// the CPU says it is invariant (constant rate, runs in every C-state) and the
// kernel uses it as its own clocksource, which it does only after checking
// that the CPUs' counters agree. Otherwise, and before calibrate(), it is
// now_ns(). Google Benchmark's cycle clock and perf read the TSC the same way
// (plain RDTSC, not serialising): a sample may be off by the few cycles the
// CPU reorders around it, far below the histogram's 0.8% buckets.
//
// Only differences of sample_ns() values taken after one calibrate() mean
// anything (across the processes a cell forks after it, too). The timed
// region, deadlines and sleepers' lateness stay on now_ns(), the clock the
// kernel's timers use.
#include <cstdint>
#include <string>

#include "harness/cell/probe.hpp"

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace cmbench {

namespace sample_clock_detail {
struct State {
  uint64_t tsc0 = 0;
  int64_t ns0 = 0;
  uint64_t mult = 0;  // nanoseconds per tick in 32.32 fixed point; 0: use now_ns()
};
extern State state;
}  // namespace sample_clock_detail

// Nanoseconds on the sample clock (see above).
inline int64_t sample_ns() noexcept {
#if defined(__x86_64__)
  const sample_clock_detail::State& s = sample_clock_detail::state;
  if (s.mult != 0) {
    const auto ticks = static_cast<int64_t>(__rdtsc() - s.tsc0);
    return s.ns0 + static_cast<int64_t>((static_cast<__int128>(ticks) * s.mult) >> 32);
  }
#endif
  return now_ns();
}

// The nanoseconds from `start` (a sample_ns() value) to now, never negative.
inline uint64_t sample_since(int64_t start, int64_t now) noexcept {
  return now > start ? static_cast<uint64_t>(now - start) : 0;
}

// Chooses the sample clock and, for the TSC, measures its rate against
// CLOCK_MONOTONIC over about 2 ms. Idempotent; call it before the timed
// region and before forking, on one thread. CMBENCH_SAMPLE_CLOCK=tsc|clock
// chooses (tsc falls back to the clock where it is not trustworthy); any other
// value is an error naming the variable.
void calibrate_sample_clock();

// CMBENCH_SAMPLE_CLOCK read: true for tsc (the default), false for clock;
// std::invalid_argument naming the variable and its accepted values otherwise.
bool sample_clock_wanted_tsc();

// What sample_ns() reads, for the cells' notes: "tsc (2.995 GHz, ...)" or
// "clock_gettime(CLOCK_MONOTONIC): <why not the TSC>".
const std::string& sample_clock_description();

}  // namespace cmbench
