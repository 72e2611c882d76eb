#pragma once
// What `cmbench run` says while it runs: a line per finished cell when its
// output is a log, and on a terminal a live line with the time spent and an
// estimate of the time left.
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cmbench {

// The time left in a run, from the cells done so far and the sizes of those
// to come. A cell's size is its nominal work: the operations one run of it
// performs times its runs (warm-ups and repetitions). Its cost per unit of
// work is taken from the finished ok cells closest to it: the same workload
// in the same model, else the same workload, else the same model, else the
// whole run (operations of different workloads cost very different times, so
// the closer the kinship the better the guess). No cell's estimate exceeds
// its runs times the per-run timeout, which stops it anyway.
class EtaEstimator {
 public:
  struct CellSize {
    std::string workload;
    std::string model;
    double work = 1;  // operations per run times runs
  };

  EtaEstimator(std::vector<CellSize> cells, double max_cell_s);

  // Cell `i` ended after `seconds`; only an ok cell did all its work, so
  // only its cost counts towards the others' estimates.
  void finished(size_t i, double seconds, bool ok);
  // Cell `i` will not run (kept from the run being resumed).
  void skipped(size_t i);
  // Seconds left for the cells not finished or skipped, cell `current`
  // having run for `current_elapsed_s`; nothing before any ok cell.
  std::optional<double> remaining_s(size_t current, double current_elapsed_s) const;
  // The estimate of one cell's whole time, or nothing before any ok cell.
  std::optional<double> cell_s(size_t i) const;

 private:
  struct Cost {
    double seconds = 0;
    double work = 0;
  };
  std::vector<CellSize> cells_;
  std::vector<bool> closed_;
  double max_cell_s_;
  std::map<std::pair<std::string, std::string>, Cost> by_pair_;
  std::map<std::string, Cost> by_workload_, by_model_;
  Cost all_;
};

// "42s", "3m05s", "1h02m".
std::string human_duration(double seconds);

// The line of one finished cell (a results file's cell) for a log, in
// aligned columns: "[ 3/40] ok       1.23 us   0.8%  counter/thread/...";
// a cell that is not ok shows its outcome and its message instead.
std::string finished_line(const nlohmann::json& cell, size_t index, size_t count);

// The live line on a terminal: "[3/40 1m12s, ~4m05s left] name (2/5)",
// cut to `columns` so that it stays one line that \r can rewrite.
std::string live_line(size_t index, size_t count, double elapsed_s, std::optional<double> left_s,
                      const std::string& name, const std::string& phase, size_t columns);

}  // namespace cmbench
