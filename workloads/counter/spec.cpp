#include "workloads/counter/spec.hpp"

#include <fmt/format.h>

namespace cmbench::counter {

namespace {

// Both unit counts do the same number of increments in total, so their rows
// compare directly: 2 units x 100,000 and 64 units x 3,125 (divided by
// `scale`).
std::vector<PresetGroup> sizes(int scale) {
  return {{.grids = {{{"units", {"2"}},
                      {"mode", {"lock", "atomic", "message"}},
                      {"increments", {std::to_string(100'000 / scale)}}},
                     {{"units", {"64"}},
                      {"mode", {"lock", "atomic", "message"}},
                      {"increments", {std::to_string(3'125 / scale)}}}}}};
}

}  // namespace

const WorkloadSpec& spec() {
  static const WorkloadSpec s{
      .name = "counter",
      .summary = "U units each increment one shared count K times: under a lock, atomically, or "
                 "by sending +1 messages to an owner",
      .params =
          {
              ParamDef::integer("units", "concurrent units (U)", 2, 1, 100'000),
              ParamDef::integer("increments", "increments per unit (K)", 10'000, 1,
                                1'000'000'000),
              ParamDef::choice("mode", "how units share the count", "lock",
                               {"lock", "atomic", "message"}),
          },
      .operation = "increment",
      .operations = [](const Params& p) { return p.u("units") * p.u("increments"); },
      .validate = nullptr,
      .units_param = "units",
      // ci: a repetition of tens of milliseconds in each model, so the
      // kernel-scheduled models increment less.
      .presets =
          {
              {"default", sizes(1)},
              {"quick", sizes(5)},
              {"full", sizes(1)},
              {"ci",
               {{.grids = {{{"units", {"2"}},
                            {"mode", {"lock", "atomic", "message"}},
                            {"increments", {"20000"}}}},
                 .models = by_traits::kernel_scheduled},
                {.grids = {{{"units", {"2"}},
                            {"mode", {"lock", "atomic", "message"}},
                            {"increments", {"1000000"}}}},
                 .models = by_traits::user_space}}},
          },
      .smoke = {{"units", {"1", "3", "16"}},
                {"mode", {"lock", "atomic", "message"}},
                {"increments", {"200"}}},
  };
  return s;
}

Verdict verify(const Params& params, uint64_t final_count) {
  const uint64_t want = params.u("units") * params.u("increments");
  if (final_count != want)
    return Verdict::fail(fmt::format("expected count {} (units {} x increments {}), got {}", want,
                                     params.u("units"), params.u("increments"), final_count));
  return Verdict::pass();
}

}  // namespace cmbench::counter
