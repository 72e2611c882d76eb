#include "workloads/sleepers/spec.hpp"

#include <fmt/format.h>

namespace cmbench::sleepers {

namespace {

std::vector<PresetGroup> sizes(std::vector<std::string> units, std::string sleeps,
                               std::string sleep_ms) {
  return {{.grids = {{{"units", std::move(units)},
                      {"sleeps", {std::move(sleeps)}},
                      {"sleep_ms", {std::move(sleep_ms)}}}}}};
}

}  // namespace

const WorkloadSpec& spec() {
  static const WorkloadSpec s{
      .name = "sleepers",
      .summary = "N units each sleep D ms then do a tiny piece of work, K times: wake-up "
                 "lateness, idle CPU, memory per unit",
      .params = {ParamDef::integer("units", "sleeping units (N)", 1000, 1, 1'000'000),
                 ParamDef::integer("sleeps", "sleeps per unit (K)", 20, 1, 1'000'000),
                 ParamDef::integer("sleep_ms", "milliseconds per sleep (D)", 10, 1, 60'000)},
      .operation = "wake",
      .operations = [](const Params& p) { return p.u("units") * p.u("sleeps"); },
      .validate = nullptr,
      .units_param = "units",
      .presets =
          {
              {"default", sizes({"100", "1000"}, "20", "10")},
              {"quick", sizes({"100"}, "5", "10")},
              {"full", sizes({"100", "1000", "10000"}, "20", "10")},
              {"ci", sizes({"100"}, "5", "2")},
          },
      .smoke = {{"units", {"10"}}, {"sleeps", {"3"}}, {"sleep_ms", {"2"}}},
      .latency_per_operation = true,
      .memory_per_unit = true,
  };
  return s;
}

Verdict verify(const Params& params, std::span<const Tally> tallies) {
  uint64_t wakes = 0, early = 0;
  for (const auto& t : tallies) {
    wakes += t.wakes;
    early += t.early;
  }
  const uint64_t want = params.u("units") * params.u("sleeps");
  if (early != 0) return Verdict::fail(fmt::format("{} wakes came before their time", early));
  if (wakes != want) return Verdict::fail(fmt::format("expected {} wakes, got {}", want, wakes));
  return Verdict::pass();
}

}  // namespace cmbench::sleepers
