// Placeholder until the uv implementation of sleepers lands.
#include "harness/errors.hpp"
#include "harness/registry.hpp"

namespace {
void run(const cmbench::Params&, cmbench::Probe&) {
  throw cmbench::SystemError("sleepers is not implemented in the uv model yet", 0);
}
}  // namespace

CMBENCH_IMPL(sleepers, uv, run, nullptr)
