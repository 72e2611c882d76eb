// Placeholder until the fiber implementation of sleepers lands.
#include "harness/errors.hpp"
#include "harness/registry.hpp"

namespace {
void run(const cmbench::Params&, cmbench::Probe&) {
  throw cmbench::SystemError("sleepers is not implemented in the fiber model yet", 0);
}
}  // namespace

CMBENCH_IMPL(sleepers, fiber, run, nullptr)
