#include "workloads/counter/spec.hpp"

#include <fmt/format.h>

namespace cmbench::counter {

const WorkloadSpec& spec() {
  static const WorkloadSpec s{
      "counter",
      "U units each increment one shared count K times: under a lock, atomically, or by "
      "sending +1 messages to an owner",
      {
          ParamDef::integer("units", "concurrent units (U)", 2, 1, 100'000),
          ParamDef::integer("increments", "increments per unit (K)", 10'000, 1, 1'000'000'000),
          ParamDef::choice("mode", "how units share the count", "lock",
                           {"lock", "atomic", "message"}),
      },
      "increment",
      [](const Params& p) { return p.u("units") * p.u("increments"); },
      nullptr,
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
