// blocking in the go model: goroutines make nanosleep system calls
// (syscall.Nanosleep) beside ping-ponging goroutine pairs. The code is
// models/go/src/blocking.go, run by the Go program cmbench-go, which this cell
// process becomes (models/go/exec.hpp); its notes say what is measured.
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/go/exec.hpp"

namespace cmbench::blocking::go {

namespace {

void run(const Params& params, Probe&) { models::go::exec_cell("blocking", params); }

}  // namespace

}  // namespace cmbench::blocking::go

CMBENCH_IMPL(blocking, go, cmbench::blocking::go::run, nullptr)
