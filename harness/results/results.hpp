#pragma once
// The results file: its in-memory shape, aggregation over repetitions,
// warnings, and atomic writing and checked reading. results/README.md
// documents every field.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/driver/matrix.hpp"
#include "harness/results/output.hpp"
#include "harness/sandbox/runner.hpp"

namespace cmbench {

inline constexpr int kSchemaVersion = 1;
inline constexpr const char* kSchemaName = "cmbench-results";

// A cell's coefficient of variation above this is flagged unstable.
inline constexpr double kUnstableCv = 0.05;
// A first measured repetition this much slower than the median of the rest
// is flagged.
inline constexpr double kSlowFirstRatio = 1.5;
// A repetition that took this much more wall time than the others while its
// CPU time grew by less than kLostTimeCpuRatio was not running for part of
// it (stopped, or starved of CPU): flagged.
inline constexpr double kLostTimeWallRatio = 1.5;
inline constexpr double kLostTimeCpuRatio = 1.15;

struct CellResult {
  const Cell* cell = nullptr;
  Outcome outcome = Outcome::ok;
  std::string message;
  int err = 0;
  int signal = 0;
  std::vector<RepetitionResult> warmups;
  std::vector<RepetitionResult> reps;  // measured repetitions, in run order
  std::vector<std::string> warnings;
  nlohmann::json aggregates;  // metric -> summary over the ok repetitions
  // How many times each repetition ran the workload (run --min-time).
  int passes = 1;
  // Its repetitions ran pinned to one CPU each (run --pin).
  bool pinned = false;
};

// Fills outcome (the first repetition not ok, if any), aggregates and warnings.
// An empty build_type is unknown (another binary's): no warning about it.
void finish_cell(CellResult& r, const std::string& build_type);

nlohmann::json to_json(const CellResult& r);

// The metrics aggregated over repetitions: names as they appear in a
// repetition's "metrics" (latency percentiles flattened as latency_p50_ns ...).
const std::vector<std::string>& aggregated_metrics();

// The value of one of those metrics in a repetition's "metrics" object, or
// nothing when it is absent (or not measured, as a negative peak memory).
std::optional<double> metric_value(const nlohmann::json& metrics, const std::string& name);

// A results document without cells: schema, the machine and build context,
// the command, the options, and the models' taxonomy (so a report needs
// nothing but the file to print the notes' table).
nlohmann::json new_results_doc(nlohmann::json context, const std::vector<std::string>& command,
                               nlohmann::json options);

// Writes `doc` to `path` through a uniquely named temporary file renamed
// into place, so a reader never sees a half-written file
// (harness/results/output.hpp: write_file_atomic). Creates parent folders.
// Throws std::invalid_argument when the path is not a regular file or a new
// path, WriteError when writing failed (the file is as it was).
void write_json_atomic(const std::string& path, const nlohmann::json& doc);

// Reads a results file — a regular file of bounded size
// (harness/results/input.hpp) — checking that it is JSON of this schema
// and of a version this build reads, and that every field fits the schema
// (harness/results/schema.hpp); throws std::invalid_argument with a one-line
// message naming the file and what is wrong.
nlohmann::json load_results(const std::string& path);

// The same checks on a results file's text; `path` names it in messages.
// load_results reads the file and calls this (so does the fuzz target).
nlohmann::json parse_results(std::string_view text, const std::string& path);

}  // namespace cmbench
