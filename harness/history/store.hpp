#pragma once
// The history database: every results file added to it, one run each, with
// every value per cell, metric and repetition, in SQLite. The schema is
// versioned (PRAGMA user_version) and migrated forward; a database of
// another application or of a newer cmbench is refused, as is any file that
// is not one.
//
// Tables (version 2):
//   machine  (cpu_model, cores, kernel): what a series never mixes
//   run      one results file: git_commit, date, host, machine, branch,
//            dirty, build_type, cmbench_version, the whole context (JSON),
//            the file it came from and when it was added.
//            Unique on (git_commit, date, host, machine): the run's identity
//   cell     name, workload, model, params (JSON)
//   metric   name
//   run_cell one cell of one run: its machine (a cell of a merged file with
//            --allow-mixed carries its own), outcome and message
//   sample   (run_cell, metric, repetition) -> value: every measured value
//   point    (run_cell, metric) -> n, median, min, max over the
//            repetitions: what the change-point detector and the report read
//            (version 2; migration 1 -> 2 computes it from `sample`)
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "harness/history/sqlite.hpp"

namespace cmbench::history {

inline constexpr int kStoreVersion = 2;
// PRAGMA application_id of every cmbench history database: "cmbh".
inline constexpr int32_t kApplicationId = 0x636d6268;
// How long a writer waits for another one before giving up.
inline constexpr int kBusyTimeoutMs = 60000;

struct Machine {
  int64_t id = 0;
  std::string cpu_model;
  int64_t cores = 0;
  std::string kernel;
  std::string label() const;
};

struct RunInfo {
  int64_t id = 0;
  std::string commit, date, host, branch;
  bool dirty = false;
  int64_t machine_id = 0;
};

struct CellInfo {
  int64_t id = 0;
  std::string name, workload, model;
};

// One run's summary of one metric of one cell: the median over its
// repetitions and their spread.
struct Point {
  size_t run = 0;  // index into History::runs
  int64_t n = 0;
  double median = 0, lo = 0, hi = 0;
};

// The values of one (machine, cell, metric) over the runs, in run order.
struct Series {
  size_t machine = 0;  // index into History::machines
  size_t cell = 0;     // index into History::cells
  std::string metric;
  std::vector<Point> points;
};

// What report and check read: runs in commit order (their dates), and every
// series.
struct History {
  std::vector<Machine> machines;
  std::vector<RunInfo> runs;
  std::vector<CellInfo> cells;
  std::vector<Series> series;
};

struct AddResult {
  std::string source;
  bool new_run = false;
  int64_t run_id = 0;
  size_t cells_added = 0, cells_present = 0;
};

class Store {
 public:
  enum class Mode {
    write,  // creates the database when it is absent
    read,   // refuses an absent database
  };
  // Throws InputError (one line, exit 2) when `path` is not a regular file
  // or a new path, is not a SQLite database, is another application's, or
  // is of a newer schema; migrates an older one.
  Store(const std::string& path, Mode mode);

  // Adds loaded results documents, all in one transaction: either every
  // one is stored or, on any error, none. `sources` name them (the files).
  std::vector<AddResult> add(const std::vector<nlohmann::json>& docs, const std::vector<std::string>& sources,
                             const std::string& branch);

  // Every series of the metrics in `metrics` (all when empty), of runs on
  // `branch` (every run when empty).
  History load(const std::string& branch, const std::set<std::string>& metrics = {});

  int64_t count(const std::string& table);
  sql::Database& database() { return db_; }

  // For the migration tests: a new database at schema `version` (1 ..
  // kStoreVersion), created as a real one is.
  static void create_at_version(const std::string& path, int version);

 private:
  std::string path_;
  sql::Database db_;
};

}  // namespace cmbench::history
