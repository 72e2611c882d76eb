#include "workloads/pingpong/spec.hpp"

#include <fmt/format.h>

namespace cmbench::pingpong {

const WorkloadSpec& spec() {
  static const WorkloadSpec s{
      "pingpong",
      "two units pass one message back and forth: the round-trip cost of a switch",
      {ParamDef::integer("rounds", "round trips (R)", 100'000, 1, 1'000'000'000)},
      "round trip",
      [](const Params& p) { return p.u("rounds"); },
      nullptr,
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
