// skynet in the go model: Go's original skynet: a goroutine per unit, an unbuffered chan per inner
// unit. The code is models/go/src/skynet.go, run by the Go program cmbench-go, which this cell
// process becomes (models/go/exec.hpp); its notes say what is measured.
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/go/exec.hpp"

namespace cmbench::skynet::go {

namespace {

void run(const Params& params, Probe&) { models::go::exec_cell("skynet", params); }

}  // namespace

}  // namespace cmbench::skynet::go

CMBENCH_IMPL(skynet, go, cmbench::skynet::go::run, nullptr)
