#pragma once
// `run --count instructions`: a cell's timed region counted under Valgrind
// (callgrind with its cache simulator) instead of timed, as CodSpeed's CPU
// simulation and iai-callgrind do. The counts are the same in every run of
// the same binary, so a small change in a runtime's code path shows however
// loaded the machine is, with no statistics needed.
//
// The cell's Probe brackets its timed region with callgrind's client
// requests (harness/cell/probe.cpp): zero the counters and start
// instrumenting at start(), stop at stop(). Valgrind runs with
// --instr-atstart=no, so start-up, setup and verification are neither
// simulated nor counted, and its file at exit holds the timed region only.
//
// Limits: Valgrind runs a program's threads one at a time and counts user
// space only (no kernel time, no other process). So only cells whose units
// all run on one thread are counted; the others are refused (count_refusal).
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace cmbench {

// The value --count takes; "" is the ordinary timed run.
inline constexpr const char* kCountInstructions = "instructions";

// Why the cell (workload, model, its parameters) cannot be counted, in one
// sentence; nothing when it can.
std::optional<std::string> count_refusal(const std::string& workload, const std::string& model,
                                         const std::map<std::string, std::string>& params);

// Why this build or machine cannot count at all (no valgrind on the PATH, a
// sanitizer build); nothing when it can.
std::optional<std::string> count_unavailable();

// The valgrind command line that runs a cell and writes callgrind's counts
// to `out_file` (which may hold %p, the cell's pid).
std::vector<std::string> valgrind_command(const std::string& out_file);

// A fresh folder (under $TMPDIR, or /tmp) for callgrind's output of one
// repetition; removed with its files when destroyed.
class CountOutput {
 public:
  CountOutput();  // throws std::system_error when the folder cannot be made
  ~CountOutput();
  CountOutput(const CountOutput&) = delete;
  CountOutput& operator=(const CountOutput&) = delete;
  // For --callgrind-out-file: one file per process, named by its pid.
  std::string pattern() const { return dir_ + "/callgrind.%p"; }
  // The whole output of process `pid`; throws std::runtime_error when absent.
  std::string read(pid_t pid) const;

 private:
  std::string dir_;
};

// The event totals of one callgrind output file.
struct CallgrindCounts {
  uint64_t instructions = 0;  // Ir
  uint64_t i1_misses = 0;     // I1mr
  uint64_t d1_misses = 0;     // D1mr + D1mw
  uint64_t ll_misses = 0;     // ILmr + DLmr + DLmw
};

// Parses callgrind's output (its "events:" line and its "summary:" or
// "totals:" line). Throws std::runtime_error saying what is missing.
CallgrindCounts parse_callgrind(const std::string& text);

// Adds the counts to a repetition's metrics, in total and per operation
// (the metrics' "operations"), with how they were counted.
void add_count_metrics(nlohmann::json& metrics, const CallgrindCounts& counts);

// The metrics `--count instructions` adds, and those `compare` judges by
// default in such runs (the per-operation ones).
const std::vector<std::string>& count_metric_names();

}  // namespace cmbench
