// idle in the go model: a goroutine per connection with the net package, held
// open under echo's load generator in its idle mode. The code is
// models/go/src/idle.go, run by the Go program cmbench-go, which this cell
// process becomes (models/go/exec.hpp); its notes say what is measured.
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/go/exec.hpp"

namespace cmbench::idle::go {

namespace {

void run(const Params& params, Probe&) { models::go::exec_cell("idle", params); }

}  // namespace

}  // namespace cmbench::idle::go

CMBENCH_IMPL(idle, go, cmbench::idle::go::run, nullptr)
