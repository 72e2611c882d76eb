#pragma once
// The report's view of one or more results files: cells grouped by workload
// and by configuration (the workload's parameter values), with the lookups
// the taxonomy table, the charts and the Markdown tables share.
#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cmbench::report {

// One results file and the label that tells it apart from the others.
struct Run {
  std::string path;
  std::string label;  // "host · commit · date"
  int index = 0;      // 1-based; "[1]" in tables when there are several files
  nlohmann::json doc;
};

// A metric's summary over a cell's measured repetitions (from `aggregates`).
struct Summary {
  double median = 0, min = 0, max = 0, cv = 0;
  int n = 0;
};

struct CellView {
  const Run* run = nullptr;
  const nlohmann::json* json = nullptr;  // the cell as it is in the file
  std::string name, workload, model;
  std::string series;  // the model, plus its own parameters when they vary
  std::vector<std::pair<std::string, std::string>> params;  // in cell-name order
  std::string config;  // the workload parameters that vary, "capacity:0 producers:1"
  std::string outcome, message;
  std::vector<std::string> warnings;
  double operations = 0;  // per repetition, 0 when the file does not say

  bool ok() const { return outcome == "ok"; }
  std::optional<Summary> metric(const std::string& name) const;
  std::optional<std::string> param(const std::string& key) const;
};

struct WorkloadView {
  std::string name;
  std::string operation;  // "message", "increment", ...
  std::vector<std::string> models;   // in order of first appearance
  std::vector<std::string> series;   // in order of first appearance
  std::vector<std::string> configs;  // in order of first appearance
  std::vector<std::string> varying;  // workload parameters with more than one value
  std::string fixed;                 // the ones with one value, "messages:20000 payload:0"
  std::vector<CellView> cells;
  std::map<std::string, std::optional<int>> lines_of_code;  // per model

  const CellView* find(const Run& run, const std::string& series, const std::string& config) const;
};

struct ReportData {
  std::vector<Run> runs;
  std::vector<std::string> models;  // every model any file names, in order
  std::map<std::string, nlohmann::json> taxonomy;  // model -> its facts, from the first file that has them
  std::vector<WorkloadView> workloads;
  std::vector<std::string> all_series;  // every series of every workload: one colour each

  const WorkloadView* workload(const std::string& name) const;
};

// Builds the view from loaded results files (already checked by
// load_results) and reads each implementation's size from `source_dir`.
ReportData build_report_data(std::vector<Run> runs, const std::string& source_dir);

// "host · 1a2b3c4 · 2026-11-26 13:06", unique among `runs`.
void label_runs(std::vector<Run>& runs);

// Lines of workloads/<w>/<model>.cpp that hold code: not blank, not only a
// comment. Nothing when the file is absent.
std::optional<int> count_code_lines(const std::string& path);

// Numbers as the report prints them. Times below 100 ns keep three
// significant digits (the console's human_ns rounds a 0.4 ns increment to
// "0 ns"); counts below 0.01 are written out in plain decimals; a ratio keeps
// three significant digits.
std::string time_text(double ns);
std::string count_text(double v);
std::string ratio_text(double r);

// The command that produced a file, quoted so that a shell would read it back.
std::string shell_command(const nlohmann::json& command);

}  // namespace cmbench::report
