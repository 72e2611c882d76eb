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

namespace cmbench {

// Steps of one timing of the loop: about 1.5 ms on the development VM.
inline constexpr uint64_t kSpeedLoopSteps = 1'000'000;

// The loop's time in nanoseconds (CLOCK_MONOTONIC), once.
double speed_loop_ns(uint64_t steps = kSpeedLoopSteps);

// Whether the loop's time says anything of the CPU: not under Valgrind
// (`run --count instructions`), which emulates it at a speed of its own, and
// where the repetition's figures are counts, not times.
bool speed_loop_applies();

}  // namespace cmbench
