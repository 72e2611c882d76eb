#include "harness/cell/sample_clock.hpp"

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <stdexcept>

#include <fmt/format.h>


#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace cmbench {

namespace sample_clock_detail {
State state;
}  // namespace sample_clock_detail

namespace {

std::string description = "clock_gettime(CLOCK_MONOTONIC): not calibrated";

#if defined(__x86_64__)
// Why the TSC cannot serve as the sample clock here; empty when it can.
std::string tsc_unusable() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(0x80000000u, &a, &b, &c, &d) == 0 || a < 0x80000007u)
    return "the CPU does not report whether its TSC is invariant";
  __get_cpuid(0x80000007u, &a, &b, &c, &d);
  if ((d & (1u << 8)) == 0) return "the CPU's TSC is not invariant";
  std::ifstream in("/sys/devices/system/clocksource/clocksource0/current_clocksource");
  std::string source;
  in >> source;
  if (source != "tsc")
    return fmt::format("the kernel's clocksource is '{}', not tsc (it has not vouched for the TSC)",
                       source.empty() ? "unknown" : source);
  return {};
}

// One (tsc, ns) pair, the TSC read at the middle of the clock read; the
// tightest of a few tries, so preemption in between does not skew it.
void pair(uint64_t& tsc, int64_t& ns) {
  uint64_t best = ~uint64_t{0};
  for (int i = 0; i < 5; ++i) {
    const uint64_t a = __rdtsc();
    const int64_t t = now_ns();
    const uint64_t b = __rdtsc();
    if (b - a < best) {
      best = b - a;
      tsc = a + (b - a) / 2;
      ns = t;
    }
  }
}

void calibrate_tsc() {
  uint64_t tsc0 = 0, tsc1 = 0;
  int64_t ns0 = 0, ns1 = 0;
  pair(tsc0, ns0);
  while (now_ns() < ns0 + 2'000'000) {
  }
  pair(tsc1, ns1);
  if (tsc1 <= tsc0 || ns1 <= ns0) {
    description = "clock_gettime(CLOCK_MONOTONIC): the TSC did not advance while calibrating";
    return;
  }
  const double ns_per_tick = static_cast<double>(ns1 - ns0) / static_cast<double>(tsc1 - tsc0);
  sample_clock_detail::state.tsc0 = tsc1;
  sample_clock_detail::state.ns0 = ns1;
  sample_clock_detail::state.mult = static_cast<uint64_t>(ns_per_tick * 4294967296.0 + 0.5);
  description = fmt::format("tsc ({:.3f} GHz, calibrated against CLOCK_MONOTONIC; rdtsc)",
                            1.0 / ns_per_tick);
}
#endif

void choose() {
  if (!sample_clock_wanted_tsc()) {
    description = "clock_gettime(CLOCK_MONOTONIC): chosen by CMBENCH_SAMPLE_CLOCK=clock";
    return;
  }
#if defined(__x86_64__)
  const std::string why = tsc_unusable();
  if (!why.empty()) {
    description = "clock_gettime(CLOCK_MONOTONIC): " + why;
    return;
  }
  calibrate_tsc();
#else
  description = "clock_gettime(CLOCK_MONOTONIC): the TSC is read only on x86-64";
#endif
}

}  // namespace

bool sample_clock_wanted_tsc() {
  const char* env = std::getenv("CMBENCH_SAMPLE_CLOCK");
  const std::string want = env && *env ? env : "tsc";
  if (want != "tsc" && want != "clock")
    throw std::invalid_argument(fmt::format(
        "CMBENCH_SAMPLE_CLOCK: '{}' is not a sample clock (accepted: tsc, clock)", want));
  return want == "tsc";
}

void calibrate_sample_clock() {
  static std::once_flag once;
  std::call_once(once, choose);
}

const std::string& sample_clock_description() { return description; }

}  // namespace cmbench
