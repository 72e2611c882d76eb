#pragma once
// The registry: every workload, every model and every implementation of a
// workload in a model. One list (harness/registry/registry.txt) names the
// models and workloads; the build derives the implementations from the files
// it finds (workloads/<w>/<m>.cpp) and generates the manifest this registry
// is made from. The CLI, the cell runner, the tests and the report all read
// this registry.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"

namespace cmbench {

struct WorkloadSpec {
  std::string name;
  std::string summary;
  std::vector<ParamDef> params;
  // What one operation is ("message", "increment"), for ops/s and ns/op.
  std::string operation;
  // The number of operations one run performs with these parameters.
  std::function<uint64_t(const Params&)> operations;
  // Checks that span parameters; returns an error message or nothing.
  std::function<std::optional<std::string>(const Params&)> validate;
};

// The notes' taxonomy of a model, kept as data so the report can print it.
struct Taxonomy {
  std::string unit;           // what one concurrent unit is
  std::string scheduled_by;   // who decides what runs next, and how
  std::string isolation;      // what a unit shares with the others
  std::string stack;          // what a unit's stack costs
  std::string communication;  // how units exchange data in this suite
  std::string library;        // what implements it
};

struct ModelInfo {
  std::string name;
  std::string summary;
  Taxonomy taxonomy;
  std::vector<ParamDef> params;  // parameters of the model itself (e.g. fiber stack size)
  // Units are separate processes: memory is read as PSS summed over the
  // process tree instead of the cell's own peak.
  bool process_tree = false;
};

// One workload implemented in one model.
struct Impl {
  void (*run)(const Params&, Probe&);
  // Parameters the model cannot honour: an error message, or nothing. May be
  // null when the model honours every valid value.
  std::optional<std::string> (*unsupported)(const Params&) = nullptr;
};

struct Entry {
  const WorkloadSpec* workload;
  const ModelInfo* model;
  const Impl* impl;
  // The implementation's source file, relative to the source folder
  // ("workloads/prodcons/fiber.cpp", "workloads/prodcons/go.go").
  const char* source;
};

const std::vector<const WorkloadSpec*>& all_workloads();
const std::vector<const ModelInfo*>& all_models();
const std::vector<Entry>& all_entries();

const WorkloadSpec* find_workload(const std::string& name);
const ModelInfo* find_model(const std::string& name);
const Entry* find_entry(const std::string& workload, const std::string& model);

// The workload's and the model's parameters together, workload first.
std::vector<ParamDef> cell_param_defs(const Entry& entry);

}  // namespace cmbench

// An implementation file ends with this line, naming its run function and
// (optionally) its check of what it cannot honour:
//   CMBENCH_IMPL(prodcons, thread, run, nullptr)
#define CMBENCH_IMPL(workload, model, run_fn, unsupported_fn)            \
  namespace cmbench::impls {                                             \
  extern const ::cmbench::Impl workload##_##model;                       \
  const ::cmbench::Impl workload##_##model{run_fn, unsupported_fn};      \
  }
