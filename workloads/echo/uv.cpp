// Placeholder until the uv implementation of echo lands.
#include "harness/errors.hpp"
#include "harness/registry.hpp"

namespace {
void run(const cmbench::Params&, cmbench::Probe&) {
  throw cmbench::SystemError("echo is not implemented in the uv model yet", 0);
}
}  // namespace

CMBENCH_IMPL(echo, uv, run, nullptr)
