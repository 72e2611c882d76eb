#pragma once
// The driver's `run`: expands the selection into cells, runs every
// repetition of each in the sandbox, and writes the results file after each
// cell, so that an interrupted run loses nothing it finished.
#include <signal.h>

#include <cstdint>
#include <string>
#include <vector>

#include "harness/cell/outcome.hpp"
#include "harness/driver/matrix.hpp"

namespace cmbench {

struct RunOptions {
  Selection sel;
  int repetitions = -1;  // -1: the preset's
  int warmup = -1;
  double timeout_s = 120;
  uint64_t memory_limit = 0;  // bytes per cell process (RLIMIT_AS); 0: none
  std::string shard;   // "I/N": only that slice of the matrix
  std::string format = "native";  // native | gbench (also writes <out>.gbench.json)
  std::string out;
  std::string resume;  // a results file to complete
  bool strict = false;  // a cell that reached a `limit` fails the run too
  bool quiet = false;   // print only the summary: no progress, no table
};

// SIGINT and SIGTERM set a flag that stops the running cell and the matrix
// (and `ab`, which reads the same flag).
void install_interrupt_handlers();
const volatile sig_atomic_t* interrupted_flag();

// Whether a cell that ended with `o` lets `run` exit 0. A `limit` is a
// result the suite exists to find (where a model stops), so it passes unless
// `strict`; crashed, invalid, timeout and failed never do.
bool outcome_passes(Outcome o, bool strict);

// `cmbench run`. Exit status: 0 when every cell passes (outcome_passes), 1
// when some cell does not, 2 bad input, 130 interrupted.
int run_matrix(RunOptions opt, const std::vector<std::string>& argv);

}  // namespace cmbench
