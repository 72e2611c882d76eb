#include "workloads/skynet/spec.hpp"

#include <fmt/format.h>

namespace cmbench::skynet {

namespace {

// The same shape for every model at a size it can hold: a million leaves for
// the user-space models (less for one whose unit_budget is short of it),
// fewer for threads and fewer still for processes; the cell name says which.
// Then the all-core rows of the M:N runtimes (`all_cores` empty: none).
std::vector<PresetGroup> sizes(std::string user, std::string over_budget, std::string threads,
                               std::string processes, std::string all_cores) {
  std::vector<PresetGroup> groups = {
      {.grids = {{{"leaves", {std::move(user)}}}},
       .models = by_traits::user_space_within_budget(1'000'000)},
      {.grids = {{{"leaves", {std::move(over_budget)}}}},
       .models = by_traits::user_space_over_budget(1'000'000)},
      {.grids = {{{"leaves", {std::move(threads)}}}}, .models = by_traits::kernel_threads},
      {.grids = {{{"leaves", {std::move(processes)}}}}, .models = by_traits::processes},
  };
  if (!all_cores.empty())
    groups.push_back({.grids = {{{"leaves", {std::move(all_cores)}}, {kWorkersAxis, {"0"}}}},
                      .models = by_traits::with_workers_everywhere,
                      .last = true});
  return groups;
}

}  // namespace

const WorkloadSpec& spec() {
  static const WorkloadSpec s{
      .name = "skynet",
      .summary = "a 10-ary tree of units down to `leaves` leaves; sums flow up to the root",
      .params = {ParamDef::integer("leaves", "leaves of the tree (a power of ten)", 1'000'000, 1,
                                   10'000'000,
                                   {1, 10, 100, 1'000, 10'000, 100'000, 1'000'000, 10'000'000})},
      .operation = "unit",
      .operations = [](const Params& p) { return units_of(p.u("leaves")); },
      .validate = nullptr,
      .units_param = "leaves",
      .presets =
          {
              {"default", sizes("1000000", "100000", "10000", "1000", "1000000")},
              {"quick", sizes("10000", "10000", "1000", "100", "10000")},
              {"full", sizes("1000000", "1000000", "10000", "1000", "1000000")},
              // Core scaling: 100,000 leaves on 1, 2, 4 and 8 workers.
              // Skynet's size is its leaves, not a count of workers, so the
              // kernel-scheduled models have no rows here.
              {"scaling", {{.grids = {{{"leaves", {"100000"}}, {kWorkersAxis, {"1", "2", "4", "8"}}}},
                            .models = by_traits::with_workers}}},
              {"ci", sizes("10000", "10000", "1000", "100", "")},
          },
      .smoke = {{"leaves", {"100"}}},
      .passes_in_process = false,  // N fresh units is the figure (registry.hpp)
      .passes_in_fresh_processes = true,  // no latency histogram: passes add up
  };
  return s;
}

Verdict verify(const Params& params, uint64_t sum) {
  const uint64_t want = expected_sum(params.u("leaves"));
  if (sum != want) return Verdict::fail(fmt::format("expected sum {}, got {}", want, sum));
  return Verdict::pass();
}

}  // namespace cmbench::skynet
