#pragma once
// A/B on one machine: the same cells run with two cmbench binaries,
// repetition by repetition in pairs whose order is a coin flip, so that
// drift in the machine's speed, and any pattern it has from one process to
// the next, falls on both alike; then compared as `compare` does.
#include <signal.h>

#include <cstdint>
#include <string>
#include <vector>

#include "harness/stats/compare.hpp"
#include "harness/driver/matrix.hpp"

namespace cmbench {

inline Selection ci_selection() {
  Selection s;
  s.preset = "ci";
  return s;
}

struct AbOptions {
  std::string base, head;  // paths to the two cmbench binaries
  Selection sel = ci_selection();
  int repetitions = -1;  // -1: the preset's
  int warmup = -1;
  // --min-time, as run's (-1: the preset's): the passes are calibrated once
  // per cell, from its first warm-up, and both sides run that many, so that
  // a repetition of each does the same work.
  double min_time_s = -1;
  double timeout_s = 120;
  std::string count;           // --count: "" (timed) or "instructions" (under Valgrind)
  std::string out_dir;         // default: results/ab/<timestamp>
  std::string format = "console";  // what goes to stdout: console | md | json
  CompareOptions compare;
};

// Which binary runs first in each of a cell's `pairs` pairs of repetitions
// (true: base): a coin flip per pair, drawn from the run's seed and the
// cell's index, so that the order is recorded by the seed alone.
//
// The order was a fixed A B B A A B ... until an A/A of one binary against
// itself flagged a cell in 4 of 6 runs of the ci preset (20 repetitions a
// side): consecutive cell processes run at related speeds (their speed
// loop's correlation at lag 1 is 0.58), in patterns that a fixed order can
// line up with one side, and the test over repetitions, which takes them
// as independent, then finds a "difference". Relabelled with a coin flip per
// pair, the same 2,982 tests gave 2 p-values below 0.001 instead of 21.
std::vector<bool> base_first_in_pairs(uint32_t seed, size_t cell_index, int pairs);

// Runs the A/B and prints the comparison. Returns the exit status: 0
// nothing regressed, 1 something did, 2 bad input, 130 interrupted.
int run_ab(const AbOptions& opt, const std::vector<std::string>& argv,
           const volatile sig_atomic_t* stop);

// Writes a comparison to stdout in `format` (console | md | json).
void emit_comparison(const Comparison& c, const std::string& format);

}  // namespace cmbench
