#include "workloads/spawn/spec.hpp"

#include <fmt/format.h>

#include <cstring>

namespace cmbench::spawn {

namespace {

// Every model is swept as far as it goes: the kernel-scheduled models stop
// at the kernel's limits (pid_max, about 32,000) before 100,000, and that
// `limit` cell is the result (a cell stops at its first repetition that is
// not ok, so it costs one attempt); the user-space models go to a million,
// or as far as their unit_budget allows; then the all-core rows of the M:N
// runtimes.
std::vector<PresetGroup> sizes(std::vector<std::string> kernel, std::vector<std::string> user,
                               std::vector<std::string> over_budget, std::string all_cores) {
  return {
      {.grids = {{{"units", std::move(kernel)}}}, .models = by_traits::kernel_scheduled},
      {.grids = {{{"units", std::move(user)}}},
       .models = by_traits::user_space_within_budget(1'000'000)},
      {.grids = {{{"units", std::move(over_budget)}}},
       .models = by_traits::user_space_over_budget(1'000'000)},
      {.grids = {{{"units", {std::move(all_cores)}}, {kWorkersAxis, {"0"}}}},
       .models = by_traits::with_workers_everywhere,
       .last = true},
  };
}

}  // namespace

const WorkloadSpec& spec() {
  static const WorkloadSpec s{
      .name = "spawn",
      .summary = "create N units that park until all exist, then release and join them: "
                 "create+join cost and memory per live unit",
      .params = {ParamDef::integer("units", "units alive at once (N)", 1000, 1, 10'000'000)},
      .operation = "unit",
      .operations = [](const Params& p) { return p.u("units"); },
      .validate = nullptr,
      .units_param = "units",
      .presets =
          {
              {"default", sizes({"1000", "10000", "100000"}, {"1000", "10000", "100000", "1000000"},
                                {"1000", "10000", "100000"}, "100000")},
              {"quick", sizes({"1000"}, {"1000"}, {"1000"}, "1000")},
              {"full", sizes({"1000", "10000", "100000", "1000000"},
                             {"1000", "10000", "100000", "1000000"},
                             {"1000", "10000", "100000", "1000000"}, "1000000")},
              {"ci", {{.grids = {{{"units", {"1000"}}}}}}},
          },
      // Also a size that needs more than a handful of units.
      .smoke = {{"units", {"1", "10", "500"}}},
      .memory_per_unit = true,
      .passes_in_process = false,  // N fresh units is the figure (registry.hpp)
      .passes_in_fresh_processes = true,  // no latency histogram: passes add up
  };
  return s;
}

Verdict verify(const Params& params, uint64_t parked, uint64_t finished) {
  const uint64_t n = params.u("units");
  if (parked != n) return Verdict::fail(fmt::format("expected {} units parked, got {}", n, parked));
  if (finished != n) return Verdict::fail(fmt::format("expected {} units finished, got {}", n, finished));
  return Verdict::pass();
}

std::string limit_message(const Params& params, uint64_t reached, const std::string& call, int err) {
  return fmt::format("{}: {} ({}) after {} of {} units", call, std::strerror(err),
                     err, reached, params.u("units"));
}

}  // namespace cmbench::spawn
