#pragma once
// Matrix expansion: a preset's groups of parameter grids, narrowed by the
// user's --models/--workloads/--param/--filter, become a list of cells.
#include <map>
#include <string>
#include <vector>

#include "harness/cell/params.hpp"
#include "harness/registry/registry.hpp"
#include "harness/sandbox/runner.hpp"

namespace cmbench {

// One group of a preset: a workload's group (its spec's presets).
struct MatrixGroup {
  const WorkloadSpec* workload;
  const PresetGroup* group;
};

// A preset: a name, its repetitions, and its groups, gathered from every
// workload's spec in the registry's order (each workload's groups marked
// `last` after all the others).
struct Preset {
  std::string name;
  std::string summary;
  int repetitions;
  int warmup;
  std::vector<MatrixGroup> groups;
  // run --min-time's default for this preset (harness/driver/run.hpp).
  double min_time_s = 0.1;
  // Whether the preset runs every workload in every model (a comparison
  // matrix), or a few on purpose (scaling: the workloads a core sweep is
  // about, in the models that have workers).
  bool every_cell = true;
};

const std::vector<Preset>& presets();
const Preset* find_preset(const std::string& name);

struct Cell {
  const Entry* entry;
  Params params;
  std::string name;  // "prodcons/thread/producers:1/consumers:1/..."
  int repetitions = -1;  // its preset group's, when it sets them (-1: the preset's)
  int warmup = -1;
};

struct Selection {
  std::string preset = "default";
  std::vector<std::string> models;     // empty: all
  std::vector<std::string> workloads;  // empty: all in the preset
  std::vector<std::string> params;     // "key=v1,v2"
  std::string filter;                  // a regular expression over cell names; empty: all
};

// Expands the selection into cells, checking every name and value; throws
// std::invalid_argument with a one-line message naming the flag and what it
// accepts. Nothing runs before this has succeeded for the whole matrix.
std::vector<Cell> expand(const Selection& sel);

// The I-th of N deterministic slices of the cells ("I/N", 1 <= I <= N):
// every N-th cell starting at the I-th, so each slice gets a share of every
// workload. Throws std::invalid_argument naming --shard when malformed.
std::vector<Cell> take_shard(std::vector<Cell> cells, const std::string& spec);

// The request that runs one repetition of `cell` in a child process. `pin`:
// --pin auto is in force and the machine can pin (can_pin()); the request
// then pins the cell when its units all run on one thread (pinned_cell()).
// `run` and `ab` both build their requests here, so they pin the same cells.
RepetitionRequest repetition_request(const Cell& cell, double timeout_s,
                                     const volatile sig_atomic_t* stop, bool pin);

// The cell name for these parameters, in the order the workload and model
// define them.
std::string cell_name(const Entry& entry, const Params& params);

}  // namespace cmbench
