// spawn in the go model: N goroutines park on one chan's receive until it is closed; a
// sync.WaitGroup joins them. The code is models/go/src/spawn.go, run by the Go program cmbench-go,
// which this cell process becomes (models/go/exec.hpp); its notes say what is measured.
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/go/exec.hpp"

namespace cmbench::spawn::go {

namespace {

void run(const Params& params, Probe&) { models::go::exec_cell("spawn", params); }

}  // namespace

}  // namespace cmbench::spawn::go

CMBENCH_IMPL(spawn, go, cmbench::spawn::go::run, nullptr)
