#include "workloads/ring/spec.hpp"

#include <fmt/format.h>

namespace cmbench::ring {

namespace {

std::vector<PresetGroup> sizes(const std::string& hops) {
  return {{.grids = {{{"units", {"503"}}, {"hops", {hops}}}}}};
}

}  // namespace

const WorkloadSpec& spec() {
  static const WorkloadSpec s{
      .name = "ring",
      .summary = "N units in a ring pass one token T hops",
      .params = {ParamDef::integer("units", "units in the ring (N)", 503, 2, 1'000'000),
                 ParamDef::integer("hops", "hops the token makes (T)", 100'000, 1,
                                   1'000'000'000)},
      .operation = "hop",
      .operations = [](const Params& p) { return p.u("hops"); },
      .validate = nullptr,
      .units_param = "units",
      // ci gives the kernel-scheduled models fewer hops.
      .presets =
          {
              {"default", sizes("100000")},
              {"quick", sizes("20000")},
              {"full", sizes("100000")},
              {"ci",
               {{.grids = {{{"units", {"503"}}, {"hops", {"2000"}}}},
                 .models = by_traits::kernel_scheduled},
                {.grids = {{{"units", {"503"}}, {"hops", {"100000"}}}},
                 .models = by_traits::user_space}}},
          },
      .smoke = {{"units", {"5", "503"}}, {"hops", {"2000"}}},
      // One token: one unit runs at a time (registry.hpp).
      .hands_off = [](const Params&) { return true; },
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
