// counter in the go model: U goroutines increment one count: sync.Mutex, sync/atomic, or +1
// messages over a buffered chan to an owner goroutine. The code is models/go/src/counter.go, run
// by the Go program cmbench-go, which this cell process becomes (models/go/exec.hpp); its notes
// say what is measured.
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/go/exec.hpp"

namespace cmbench::counter::go {

namespace {

void run(const Params& params, Probe&) { models::go::exec_cell("counter", params); }

}  // namespace

}  // namespace cmbench::counter::go

CMBENCH_IMPL(counter, go, cmbench::counter::go::run, nullptr)
