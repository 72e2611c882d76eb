// Placeholder until the fiber implementation of pingpong lands.
#include "harness/errors.hpp"
#include "harness/registry.hpp"

namespace {
void run(const cmbench::Params&, cmbench::Probe&) {
  throw cmbench::SystemError("pingpong is not implemented in the fiber model yet", 0);
}
}  // namespace

CMBENCH_IMPL(pingpong, fiber, run, nullptr)
