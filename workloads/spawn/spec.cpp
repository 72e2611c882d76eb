#include "workloads/spawn/spec.hpp"

#include <fmt/format.h>

#include <cstring>

namespace cmbench::spawn {

const WorkloadSpec& spec() {
  static const WorkloadSpec s{
      "spawn",
      "create N units that park until all exist, then release and join them: create+join cost "
      "and memory per live unit",
      {ParamDef::integer("units", "units alive at once (N)", 1000, 1, 10'000'000)},
      "unit",
      [](const Params& p) { return p.u("units"); },
      nullptr,
      /*passes_in_process=*/false,  // N fresh units is the figure (registry.hpp)
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
