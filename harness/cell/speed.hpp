#pragma once
// The CPU's own speed around a repetition: a fixed loop of dependent
// multiply-adds, timed in the cell process just before and just after the
// workload (outside its timed region). Its time is set by the core's clock
// alone (no memory, no branches to mispredict, no system call), so what
// changes it from one repetition to the next is the machine, not the cell.
//
// Why: on the 2-core development VM this loop's time drifts by up to 20%
// (26 to 32 ms for 20 million steps) in phases that last seconds, on both
// vCPUs together (correlation 0.93) and with no steal time recorded. A cell
// whose repetitions land in different phases varies with them. The metric
// ref_loop_ns (results/README.md) lets a reader, and the unstable warning,
// tell that apart from a cell that varies by itself.
#include <cstdint>
#include <optional>

namespace cmbench {

// Steps of one timing of the loop: about 1.5 ms on the development VM.
inline constexpr uint64_t kSpeedLoopSteps = 1'000'000;

// The loop's time in nanoseconds (CLOCK_MONOTONIC), once.
double speed_loop_ns(uint64_t steps = kSpeedLoopSteps);

// Whether the loop's time says anything of the CPU: not under Valgrind
// (`run --count instructions`), which emulates it at a speed of its own, and
// where the repetition's figures are counts, not times.
bool speed_loop_applies();

// The cores' own round trip around a repetition of a cell whose units run on
// several threads (ref_cross_cpu_ns): one cache line handed back and forth
// between two threads pinned to the first two CPUs this thread may use, the
// mean time of a round trip in nanoseconds. The runner times it just before
// it starts the cell process and just after it reaps it.
//
// Why: on the 2-core development VM it was 77 to 130 ns most of the time
// and about 420 ns for spells of minutes (the host placed the two vCPUs
// farther apart), and the M:N cells moved with it (skynet at threads:0 175
// to 290 ns a leaf, correlation 0.87) while the speed loop did not
// (results/README.md, "How steady the machine was").
//
// Nothing when fewer than two CPUs are allowed or a thread cannot be pinned.
// It stops after kCrossCpuDeadlineNs, so that two CPUs shared with other
// work cost the run little time, and gives the mean of the round trips done.
inline constexpr uint64_t kCrossCpuRounds = 5'000;
inline constexpr int64_t kCrossCpuDeadlineNs = 20'000'000;
std::optional<double> cross_cpu_round_trip_ns(uint64_t rounds = kCrossCpuRounds);

}  // namespace cmbench
