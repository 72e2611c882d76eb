#pragma once
// The regression gate: compares two results files cell by cell and metric
// by metric, with a test over repetitions, a correction for the number of
// tests, and a minimum effect, and says what regressed.
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/stats/stats.hpp"

namespace cmbench {

struct ComparedMetric {
  std::string name;   // as in a repetition's metrics ("ns_per_op", "latency_p99_ns")
  std::string label;  // for tables ("time/op")
  bool lower_is_better;
  bool is_bytes;      // printed as a size, not a time
  // A count that is the same in every run of the same binary (instructions
  // and simulated cache misses under Valgrind, `run --count instructions`):
  // judged by the change of its median alone, beyond exact_threshold, with
  // no test. Printed as a plain number.
  bool exact = false;
};

// The metrics compared, in table order: the rows of the metric table
// (harness/results/metrics.hpp) that have a gate.
const std::vector<ComparedMetric>& compared_metrics();
// The metrics with a minimum effect of their own (the table's gate_threshold).
std::map<std::string, double> own_thresholds();

struct CompareOptions {
  double threshold = 0.05;                      // minimum effect: 5% worse
  double exact_threshold = 0.01;                // of exact metrics: 1% worse
  // metric name -> its own threshold; by default the table's (simulated
  // cache misses repeat less exactly than instructions: metrics.hpp says
  // by how much).
  std::map<std::string, double> per_metric = own_thresholds();
  double alpha = 0.05;                          // level of the corrected test
  Correction correction = Correction::holm;
  double level = 0.95;                          // of the confidence intervals
  std::vector<std::string> metrics;             // empty: every compared metric
};

// Parses one --threshold value: "5", "5%" or "metric=5%"; throws
// std::invalid_argument naming the flag and the accepted forms.
void parse_threshold(const std::string& text, CompareOptions& opt);
// Parses --exact-threshold: "1" or "1%"; throws std::invalid_argument.
void parse_exact_threshold(const std::string& text, CompareOptions& opt);

enum class Change { regressed, improved, unchanged };
const char* to_string(Change c);

struct MetricResult {
  const ComparedMetric* metric = nullptr;
  std::vector<double> base, head;  // per ok repetition
  double base_median = 0, head_median = 0;
  double ratio = 0;          // head / base of the medians
  RatioInterval ci;          // bootstrap interval of that ratio
  bool paired = false;       // ci resampled the pairs of one ab run (Comparison::paired)
  ShiftEstimate hl;          // Hodges-Lehmann ratio with its interval
  MannWhitney test;
  double p_adjusted = 1;
  double threshold = 0;
  Change change = Change::unchanged;
  std::string warning;       // too few repetitions for the test to mean anything
};

struct CellComparison {
  std::string name;
  std::string base_outcome, head_outcome;
  std::vector<MetricResult> metrics;
  // regressed: a metric regressed, or the cell was ok in BASE and is not in
  // HEAD (`broken`); improved: something improved and nothing regressed.
  Change change = Change::unchanged;
  bool broken = false;
  std::string note;  // outcomes that differ, or that leave nothing to compare
};

struct Comparison {
  std::string base_path, head_path;
  CompareOptions options;
  std::vector<CellComparison> cells;  // cells both files have, in BASE's order
  std::vector<std::string> only_base, only_head;
  std::vector<std::string> warnings;  // about the comparison as a whole
  // The files are the two sides of one `ab` run (the same options.ab, seed
  // included): repetition k of a cell on each side ran as a pair, one right
  // after the other, so the intervals resample pairs (Resampling::pairs).
  bool paired = false;
  size_t tests = 0;                   // metric comparisons in the corrected family
  size_t regressed = 0, improved = 0, broken = 0;
};

// Compares two loaded results files. Throws std::invalid_argument when they
// have no cell in common.
Comparison compare_results(const nlohmann::json& base, const nlohmann::json& head,
                           const CompareOptions& opt, const std::string& base_path = "BASE",
                           const std::string& head_path = "HEAD");

void print_comparison(std::FILE* out, const Comparison& c);
std::string comparison_markdown(const Comparison& c);
nlohmann::json comparison_json(const Comparison& c);

// 0: nothing regressed; 1: something regressed or broke.
int comparison_status(const Comparison& c);

}  // namespace cmbench
