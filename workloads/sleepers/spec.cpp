#include "workloads/sleepers/spec.hpp"

#include <fmt/format.h>

namespace cmbench::sleepers {

const WorkloadSpec& spec() {
  static const WorkloadSpec s{
      "sleepers",
      "N units each sleep D ms then do a tiny piece of work, K times: wake-up lateness, idle CPU, "
      "memory per unit",
      {ParamDef::integer("units", "sleeping units (N)", 1000, 1, 1'000'000),
       ParamDef::integer("sleeps", "sleeps per unit (K)", 20, 1, 1'000'000),
       ParamDef::integer("sleep_ms", "milliseconds per sleep (D)", 10, 1, 60'000)},
      "wake",
      [](const Params& p) { return p.u("units") * p.u("sleeps"); },
      nullptr,
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
