// sleepers in the go model: N goroutines sleep with time.Sleep to absolute deadlines. The code is
// models/go/src/sleepers.go, run by the Go program cmbench-go, which this cell process becomes
// (models/go/exec.hpp); its notes say what is measured.
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/go/exec.hpp"

namespace cmbench::sleepers::go {

namespace {

void run(const Params& params, Probe&) { models::go::exec_cell("sleepers", params); }

}  // namespace

}  // namespace cmbench::sleepers::go

CMBENCH_IMPL(sleepers, go, cmbench::sleepers::go::run, nullptr)
