#include "workloads/pingpong/spec.hpp"

#include <fmt/format.h>

namespace cmbench::pingpong {

namespace {

// R round trips, then the all-core rows of the M:N runtimes.
std::vector<PresetGroup> sizes(const std::string& rounds) {
  return {{.grids = {{{"rounds", {rounds}}}}},
          {.grids = {{{"rounds", {rounds}}, {kWorkersAxis, {"0"}}}},
           .models = by_traits::with_workers_everywhere,
           .last = true}};
}

}  // namespace

const WorkloadSpec& spec() {
  static const WorkloadSpec s{
      .name = "pingpong",
      .summary = "two units pass one message back and forth: the round-trip cost of a switch",
      .params = {ParamDef::integer("rounds", "round trips (R)", 100'000, 1, 1'000'000'000)},
      .operation = "round trip",
      .operations = [](const Params& p) { return p.u("rounds"); },
      .validate = nullptr,
      .units_param = "",
      // The default preset runs half the spec's rounds (as prodcons, for
      // time); ci gives the kernel-scheduled models fewer.
      .presets =
          {
              {"default", sizes("50000")},
              {"quick", sizes("20000")},
              {"full", sizes("100000")},
              {"ci",
               {{.grids = {{{"rounds", {"2000"}}}}, .models = by_traits::kernel_scheduled},
                {.grids = {{{"rounds", {"50000"}}}}, .models = by_traits::user_space}}},
          },
      .smoke = {{"rounds", {"1000"}}},
      .latency_per_operation = true,
      // Two units, one ball: one of them runs at a time (registry.hpp).
      .hands_off = [](const Params&) { return true; },
  };
  return s;
}

Verdict verify(const Params& params, const Tally& t) {
  if (t.wrong != 0) return Verdict::fail(fmt::format("{} replies were not the value sent plus one", t.wrong));
  if (t.replies != params.u("rounds"))
    return Verdict::fail(fmt::format("expected {} round trips, got {}", params.u("rounds"), t.replies));
  return Verdict::pass();
}

}  // namespace cmbench::pingpong
