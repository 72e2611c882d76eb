#include "workloads/ring/spec.hpp"

#include <fmt/format.h>

namespace cmbench::ring {

const WorkloadSpec& spec() {
  static const WorkloadSpec s{
      "ring",
      "N units in a ring pass one token T hops",
      {ParamDef::integer("units", "units in the ring (N)", 503, 2, 1'000'000),
       ParamDef::integer("hops", "hops the token makes (T)", 100'000, 1, 1'000'000'000)},
      "hop",
      [](const Params& p) { return p.u("hops"); },
      nullptr,
  };
  return s;
}

Verdict verify(const Params& params, uint64_t last_holder, uint64_t hops_made) {
  const uint64_t t = params.u("hops"), n = params.u("units");
  if (hops_made != t) return Verdict::fail(fmt::format("expected {} hops, got {}", t, hops_made));
  if (last_holder != t % n)
    return Verdict::fail(fmt::format("expected the token to end at unit {}, it ended at {}", t % n, last_holder));
  return Verdict::pass();
}

}  // namespace cmbench::ring
