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

// Values per parameter; the grid is their cartesian product.
using Grid = std::map<std::string, std::vector<std::string>>;

struct PresetGroup {
  std::string workload;
  std::vector<Grid> grids;
  // Only these models (empty: every model). Lets a preset give a model that
  // cannot hold a size the same shape at a smaller one (skynet).
  std::vector<std::string> models = {};
  // Repetitions and warm-ups of this group's cells, where they differ from
  // the preset's (-1: the preset's); --repetitions and --warmup override
  // both. For cells whose one repetition is long because its size is the
  // point (idle at 50,000 connections).
  int repetitions = -1;
  int warmup = -1;
};

struct Preset {
  std::string name;
  std::string summary;
  int repetitions;
  int warmup;
  std::vector<PresetGroup> groups;
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

// The request that runs one repetition of `cell` in a child process.
RepetitionRequest repetition_request(const Cell& cell, double timeout_s,
                                     const volatile sig_atomic_t* stop);

// The cell name for these parameters, in the order the workload and model
// define them.
std::string cell_name(const Entry& entry, const Params& params);

}  // namespace cmbench
