#pragma once
// The smoke matrix: every registered implementation at its workload's smoke
// values (WorkloadSpec::smoke: tiny, every mode), expanded as `cmbench run
// --workloads W --param ...` expands them over the default preset. The smoke
// test runs each cell as `cmbench run` does; a model's unit test may run
// its own in-process (tests/unit/catalog_cells.hpp).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <string>
#include <vector>

#include "harness/driver/matrix.hpp"
#include "harness/registry/registry.hpp"

namespace cmbench::testing {

// `models` empty: every model; `extra` are more --param values for every
// selection (the M:N cells add each workers parameter at 2).
inline std::vector<Cell> smoke_cells(const std::vector<std::string>& models = {},
                                     const std::vector<std::string>& extra = {}) {
  std::vector<Cell> cells;
  for (const auto* w : all_workloads()) {
    Selection sel;
    sel.workloads = {w->name};
    sel.models = models;
    for (const auto& [key, values] : w->smoke)
      sel.params.push_back(fmt::format("{}={}", key, fmt::join(values, ",")));
    sel.params.insert(sel.params.end(), extra.begin(), extra.end());
    for (auto& c : expand(sel)) cells.push_back(std::move(c));
  }
  return cells;
}

// The models that run their units on a number of OS threads they are given
// (ModelInfo::workers_param), with that number at 2: their M:N mode, which a
// TSan build must see too. A model that takes more than one worker only in
// some workloads (ModelInfo::workers_in_every_workload: coro, boost-fiber)
// runs here the workloads whose implementation accepts two (Impl::unsupported
// asked at the workload's defaults); the others refuse it in one line.
inline std::vector<Cell> smoke_cells_on_two_workers() {
  std::vector<Cell> cells;
  for (const auto* m : all_models()) {
    if (m->workers_param.empty()) continue;
    const std::string two = m->workers_param + "=2";
    for (const auto* w : all_workloads()) {
      const Entry* e = find_entry(w->name, m->name);
      if (!e) continue;
      // An external model (no implementation in this build) is not asked.
      if (e->impl && e->impl->unsupported &&
          e->impl->unsupported(make_params(cell_param_defs(*e), {{m->workers_param, "2"}})))
        continue;
      Selection sel;
      sel.workloads = {w->name};
      sel.models = {m->name};
      for (const auto& [key, values] : w->smoke)
        sel.params.push_back(fmt::format("{}={}", key, fmt::join(values, ",")));
      sel.params.push_back(two);
      for (auto& c : expand(sel)) cells.push_back(std::move(c));
    }
  }
  return cells;
}

}  // namespace cmbench::testing
