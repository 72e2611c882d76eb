// fairness in the go model: computing goroutines (preempted by the runtime
// after 10 ms) beside ping-ponging goroutine pairs. The code is
// models/go/src/fairness.go, run by the Go program cmbench-go, which this cell
// process becomes (models/go/exec.hpp); its notes say what is measured.
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/go/exec.hpp"

namespace cmbench::fairness::go {

namespace {

void run(const Params& params, Probe&) { models::go::exec_cell("fairness", params); }

}  // namespace

}  // namespace cmbench::fairness::go

CMBENCH_IMPL(fairness, go, cmbench::fairness::go::run, nullptr)
