#pragma once
// The cell protocol (docs/cell-protocol.md), both sides of one cell process:
// run a workload's implementation for its passes, classify how it ended and
// write the result document. cmbench's own cells (harness/sandbox/cell.cpp)
// and a program outside the build (cmbench::cell's cell_main) share it, so
// an external runtime is verified and reported exactly as a built-in one.
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "harness/cell/outcome.hpp"
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"

namespace cmbench {

struct WorkloadSpec;

// How a run that returned normally ended: ok, invalid (its verification
// failed) or failed (it did not bracket its timed region or never verified).
// `message` says why when not ok.
Outcome classify(const Probe& probe, std::string& message);

// Makes the cell's parameters from `given` (defaults filled in, each value
// checked against `defs`), then runs `run` `passes` times on one Probe
// (Probe::next_pass between them), each pass classified; catches what the
// implementation throws (LimitError, SystemError, std::bad_alloc,
// std::system_error: outcome limit or failed; std::invalid_argument and
// other exceptions: failed). `before` runs first, inside the same handlers,
// with the parameters and the spec's operation count (the harness's fault
// injection and an external model's exec; a program's own checks). Returns
// the result document: outcome, message, errno, metrics (when the timed
// region ended), notes, vm_hwm_bytes.
nlohmann::json run_passes(const WorkloadSpec& spec, const std::vector<ParamDef>& defs,
                          const std::map<std::string, std::string>& given,
                          const std::function<void(const Params&, Probe&)>& run, bool process_tree, int passes,
                          const std::function<void(const Params&, Probe&, uint64_t)>& before = {});

// Writes `text` whole to `fd` (the result descriptor); gives up quietly
// when the reader is gone.
void write_result(int fd, const std::string& text);

namespace cell {

// One workload in a program outside the build: the spec it implements (the
// workload's own, from cmbench::cell: cmbench::prodcons::spec()), its run
// function (the same signature as a built-in implementation's) and,
// optionally, its refusal of parameters it cannot honour.
struct Implementation {
  const WorkloadSpec* spec = nullptr;
  std::function<void(const Params&, Probe&)> run{};
  std::function<std::optional<std::string>(const Params&)> unsupported{};
};

// A program's description of itself: its model's name and parameters (as
// its manifest declares them) and its implementations.
struct Model {
  std::string name{};
  std::vector<ParamDef> params{};
  std::vector<Implementation> implementations{};
};

// The protocol's main: parses `cell --workload W --model M --param k=v ...
// --result-fd N --passes P [--cmbench PATH]`, checks the parameters against
// the workload's and the model's definitions and the spec's validate(), runs
// the implementation for its passes and writes the result to N. Returns the
// process's exit status: 0 when a result was written (whatever its outcome),
// 2 for arguments it cannot use (with one line on stderr, and a `failed`
// result when the descriptor is known).
int cell_main(int argc, char** argv, const Model& model);

}  // namespace cell

}  // namespace cmbench
