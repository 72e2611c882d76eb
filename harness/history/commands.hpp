#pragma once
// `cmbench history add | report | check`: the history's commands, each
// returning its exit status. Bad input of any kind (a file that is not a
// regular file, not a results file, a database that is not a cmbench
// history or is of a newer schema, an option out of range) prints one line
// naming it and returns 2 with nothing written.
#include <string>
#include <vector>

#include "harness/history/changepoint.hpp"

namespace cmbench::history {

inline constexpr const char* kDefaultDb = "results/history.sqlite";

struct HistoryOptions {
  std::string db = kDefaultDb;
  std::string branch;  // add: the branch to record; report, check: only runs recorded on it (empty: every run)
  DetectorOptions detector;
  double threshold = 0.05;  // check: the smallest change that counts as a regression
};

// 0: every file stored (or already there); 2: bad input, nothing stored.
int history_add(const std::vector<std::string>& files, const HistoryOptions& options);
// 0: <out>/history.html written; 2: bad input.
int history_report(const std::string& out_dir, const HistoryOptions& options);
// Prints Markdown; 0: no regression, 1: the newest run completed a change
// point in the worse direction, 2: bad input.
int history_check(const HistoryOptions& options);

}  // namespace cmbench::history
