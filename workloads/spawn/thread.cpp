// Placeholder until the thread implementation of spawn lands.
#include "harness/errors.hpp"
#include "harness/registry.hpp"

namespace {
void run(const cmbench::Params&, cmbench::Probe&) {
  throw cmbench::SystemError("spawn is not implemented in the thread model yet", 0);
}
}  // namespace

CMBENCH_IMPL(spawn, thread, run, nullptr)
