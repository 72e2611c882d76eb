// pingpong in the go model: two goroutines and two unbuffered chans, one each way. The code is
// models/go/src/pingpong.go, run by the Go program cmbench-go, which this cell process becomes
// (models/go/exec.hpp); its notes say what is measured.
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/go/exec.hpp"

namespace cmbench::pingpong::go {

namespace {

void run(const Params& params, Probe&) { models::go::exec_cell("pingpong", params); }

}  // namespace

}  // namespace cmbench::pingpong::go

CMBENCH_IMPL(pingpong, go, cmbench::pingpong::go::run, nullptr)
