#include "workloads/skynet/spec.hpp"

#include <fmt/format.h>

namespace cmbench::skynet {

const WorkloadSpec& spec() {
  static const WorkloadSpec s{
      "skynet",
      "a 10-ary tree of units down to `leaves` leaves; sums flow up to the root",
      {ParamDef::integer("leaves", "leaves of the tree (a power of ten)", 1'000'000, 1, 10'000'000,
                         {1, 10, 100, 1'000, 10'000, 100'000, 1'000'000, 10'000'000})},
      "unit",
      [](const Params& p) { return units_of(p.u("leaves")); },
      nullptr,
      /*passes_in_process=*/false,  // N fresh units is the figure (registry.hpp)
  };
  return s;
}

Verdict verify(const Params& params, uint64_t sum) {
  const uint64_t want = expected_sum(params.u("leaves"));
  if (sum != want) return Verdict::fail(fmt::format("expected sum {}, got {}", want, sum));
  return Verdict::pass();
}

}  // namespace cmbench::skynet
