#pragma once
// A/B on one machine: the same cells run with two cmbench binaries,
// repetition by repetition in the order A B B A, so that drift in the
// machine's speed falls on both alike; then compared as `compare` does.
#include <signal.h>

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
  double timeout_s = 120;
  std::string count;           // --count: "" (timed) or "instructions" (under Valgrind)
  std::string out_dir;         // default: results/ab/<timestamp>
  std::string format = "console";  // what goes to stdout: console | md | json
  CompareOptions compare;
};

// Runs the A/B and prints the comparison. Returns the exit status: 0
// nothing regressed, 1 something did, 2 bad input, 130 interrupted.
int run_ab(const AbOptions& opt, const std::vector<std::string>& argv,
           const volatile sig_atomic_t* stop);

// Writes a comparison to stdout in `format` (console | md | json).
void emit_comparison(const Comparison& c, const std::string& format);

}  // namespace cmbench
