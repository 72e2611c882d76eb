// ring in the go model: N goroutines, an unbuffered inbox chan each. The code is
// models/go/src/ring.go, run by the Go program cmbench-go, which this cell process becomes
// (models/go/exec.hpp); its notes say what is measured.
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/go/exec.hpp"

namespace cmbench::ring::go {

namespace {

void run(const Params& params, Probe&) { models::go::exec_cell("ring", params); }

}  // namespace

}  // namespace cmbench::ring::go

CMBENCH_IMPL(ring, go, cmbench::ring::go::run, nullptr)
