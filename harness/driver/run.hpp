#pragma once
// The driver's `run`: expands the selection into cells, runs every
// repetition of each in the sandbox, and writes the results file after each
// cell, so that an interrupted run loses nothing it finished.
#include <signal.h>

#include <cstdint>
#include <string>
#include <vector>

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
  std::string keep_core;  // --keep-core: a folder for the core files of crashed cells
};

// SIGINT, SIGTERM and SIGHUP set a flag that stops the running cell and the
// matrix (and `ab`, which reads the same flag); a second signal, or one
// second without the run having ended, ends it at once (exit status 130).
void install_interrupt_handlers();
const volatile sig_atomic_t* interrupted_flag();

// The numbers of run's (and ab's) flags, checked the same way for the
// command line and for what a --resume'd file stored. Each returns the
// one-line message naming the flag and what it accepts, or "" when fine.
std::string check_timeout(double seconds);               // finite, 0.1 to 86400
std::string check_repetitions(int n);                    // -1, or 1 to 1000 (0 measures nothing)
std::string check_shard(const std::string& spec);        // "" or I/N, digits, 1 <= I <= N <= 999999
std::string check_params(const std::vector<std::string>& params);  // no key twice

// `cmbench run`. Exit status: 0 all cells ok, 1 some cell not ok, 2 bad
// input, 3 the results file could not be written (it keeps the last
// complete write), 130 interrupted.
int run_matrix(RunOptions opt, const std::vector<std::string>& argv);

}  // namespace cmbench
