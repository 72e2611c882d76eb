#pragma once
// The parent side of a cell: runs one repetition in a fresh child process of
// this binary, with a watchdog, and records how it ended and what it cost.
#include <signal.h>
#include <sys/types.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "harness/outcome.hpp"

namespace cmbench {

struct RepetitionRequest {
  std::string workload;
  std::string model;
  std::map<std::string, std::string> params;
  double timeout_s = 120;
  // Sum PSS over the cell's process tree while it runs (process models),
  // instead of trusting the cell's own VmHWM.
  bool sample_tree_memory = false;
  // The cmbench binary to run the cell in; empty: this very binary.
  std::string executable;
  // When set and it becomes non-zero (a signal handler's flag), the
  // repetition is stopped at once: its process group is killed and the
  // result says `interrupted`.
  const volatile sig_atomic_t* stop = nullptr;
};

struct RepetitionResult {
  Outcome outcome = Outcome::failed;
  std::string message;
  int err = 0;     // errno (or 0)
  int signal = 0;  // the signal that ended the cell (crashed, timeout)
  nlohmann::json metrics;  // timed-region metrics from the cell, plus memory
  nlohmann::json notes;
  nlohmann::json cell_rusage;  // wait4() of the whole cell process (and its reaped children)
  double elapsed_s = 0;        // the whole repetition, process start to reap
  bool interrupted = false;    // stopped by `stop`: not a result
};

// Makes this process the reaper of orphaned descendants, so grandchildren a
// cell leaves behind are ours to find, kill and reap. Call once before cells run.
void become_subreaper();

RepetitionResult run_repetition(const RepetitionRequest& req);

}  // namespace cmbench
