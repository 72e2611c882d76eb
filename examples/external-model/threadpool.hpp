#pragma once
// The example's implementations, one run function per workload (the same
// signature as a built-in implementation's) and its refusal of parameters
// the pool cannot honour.
#include <optional>
#include <string>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"

namespace threadpool {

void prodcons(const cmbench::Params& p, cmbench::Probe& probe);
std::optional<std::string> prodcons_unsupported(const cmbench::Params& p);
void counter(const cmbench::Params& p, cmbench::Probe& probe);
std::optional<std::string> counter_unsupported(const cmbench::Params& p);

}  // namespace threadpool
