#pragma once
// The two tables both formats print: the notes' taxonomy with measured
// numbers, and one table per workload (median, spread and ratio to the
// fastest model, with each implementation's size). They are built once here
// as text, so the HTML page and the Markdown file cannot disagree.
#include <set>
#include <string>
#include <vector>

#include "report/data.hpp"

namespace cmbench::report {

// One number of the taxonomy for one results file.
struct Measure {
  std::string text;    // "1.23 M/s", or "not run"
  std::string detail;  // where it comes from: "capacity:1024 producers:1"
  std::string link;    // the anchor of the chart it comes from; empty when there is none
  bool show_detail = false;  // the detail is part of the finding (a limit and its error)

  bool operator==(const Measure&) const = default;
};

// One line per results file, or a single one when they all say the same
// (every file "not run", say).
std::vector<Measure> distinct_measures(const std::vector<Measure>& per_run);

// 32051 -> "32,051".
std::string group_digits(double n);

struct TaxonomyColumn {
  std::string title;   // "switch cost"
  std::string source;  // "pingpong, latency p50"
};

struct TaxonomyRow {
  std::string model, unit, scheduled_by;
  std::vector<std::vector<Measure>> measures;  // [column][run]
};

struct Taxonomy {
  std::vector<TaxonomyColumn> columns;
  std::vector<TaxonomyRow> rows;
};

// `anchors` are the ids of the charts the page has: a number links to its
// chart when there is one, else to its workload's section.
Taxonomy build_taxonomy(const ReportData& data, const std::set<std::string>& anchors);

struct TableCell {
  std::string text;  // "10.30 us (8.89 us – 17.09 us) ×25.13", "timeout", "not run"
  bool ok = false;
  bool warned = false;  // the cell carries warnings
};

struct WorkloadTable {
  std::vector<std::string> series;  // one column each
  struct Row {
    const Run* run = nullptr;
    std::string config;
    std::vector<TableCell> cells;
  };
  std::vector<Row> rows;
  std::vector<std::string> lines_of_code;  // per series: "123" or "n/a"
};

// Rows are (file, configuration); the ratio is to the fastest model of the row.
WorkloadTable workload_table(const WorkloadView& w, const std::vector<Run>& runs);

}  // namespace cmbench::report
