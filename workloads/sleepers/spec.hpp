#pragma once
// sleepers: N units each loop K times: sleep until its next wake time (D
// milliseconds after the previous one), then do a tiny piece of work (add 1
// to its own counter) — the notes' producer and consumer that sleep between
// messages. Idle units are what event loops and fibers are said to make
// cheap. Wake times are absolute (unit start + k * D), so lateness does not
// accumulate:
//   process  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) in a forked child;
//   thread   std::this_thread::sleep_until(steady_clock time point);
//   uv       a uv_timer_t per unit, re-armed for the next wake time;
//   fiber    the runtime's sleep_until (a timer heap; the scheduler waits in
//            the kernel until the nearest deadline when nothing is runnable).
// On every wake the unit records lateness = now_ns() - intended wake time
// into its own histogram (probe.latency_histograms(N)). Waking early is an
// error. After all N units have started (each announces it once, as in
// spawn) the creator calls probe.memory_parked(N); probe.memory_baseline()
// comes before any unit exists. Reported: lateness percentiles, CPU spent
// (the units are idle nearly all the time), memory per unit.
#include <cstdint>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"

namespace cmbench::sleepers {

const WorkloadSpec& spec();

// What a unit records: wakes done, and wakes that came before their time.
struct Tally {
  uint64_t wakes = 0;
  uint64_t early = 0;
};

// Records one wake that was due at `due_ns` (now_ns() clock).
inline void wake(Tally& t, int64_t due_ns, Histogram& lateness) {
  const int64_t late = now_ns() - due_ns;
  if (late < 0) ++t.early;
  else lateness.record(static_cast<uint64_t>(late));
  ++t.wakes;
}

Verdict verify(const Params& params, std::span<const Tally> tallies);

}  // namespace cmbench::sleepers
