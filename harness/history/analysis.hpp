#pragma once
// Change points of every (machine, cell, metric) series of a history, with
// what each one changed: the level before and after it, and which way is
// worse.
#include <string>
#include <vector>

#include "harness/history/changepoint.hpp"
#include "harness/history/direction.hpp"
#include "harness/history/store.hpp"

namespace cmbench::history {

struct Change {
  size_t series = 0;  // index into History::series
  size_t point = 0;   // index into the series' points: the first run after the change
  // The median of the run medians from the previous change point (or the
  // start) up to this one, and from this one to the next (or the end).
  double before = 0, after = 0;
  double p_value = 1;
  bool worse = false;  // in the metric's worse direction
  double change() const { return before != 0 ? after / before - 1 : 0; }
};

// The metrics the history judges: those with a known direction.
std::set<std::string> judged_metrics();

// Every change point of one series, or of its first `upto` points.
std::vector<Change> series_changes(const History& h, size_t series, const DetectorOptions& options,
                                   size_t upto = static_cast<size_t>(-1));

// Every change point of every series, newest first (by the date of the run
// that starts it), then by cell and metric.
std::vector<Change> all_changes(const History& h, const DetectorOptions& options);

// `cmbench history check`: the change points that the newest run brought.
struct CheckResult {
  const RunInfo* newest = nullptr;
  size_t series_checked = 0;
  std::vector<Change> regressions;  // worse, by at least the threshold
  std::vector<Change> others;       // better, or smaller than the threshold
};

// For each series whose last point is from the newest run: its change
// points with that run, less those it had without it (matched within one
// point). A single run cannot start a change point on its own (the best
// p-value a permutation test gives one new point among n is 1/n, no better
// than an outlier's), so a change is reported when the run that completes
// its evidence arrives, `min_segment` runs after it at the soonest, and
// names the commit where it starts.
CheckResult check_newest(const History& h, const DetectorOptions& options, double threshold);

std::string check_markdown(const History& h, const CheckResult& r, const DetectorOptions& options, double threshold);

// A value of `metric` as people read it: "1.23 µs", "4.5 MiB", "1.2 M/s".
std::string format_value(const std::string& metric, double value);

}  // namespace cmbench::history
