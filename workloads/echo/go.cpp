// echo in the go model: the net package: a goroutine per connection, blocking Read/Write on the
// runtime's netpoller; the load generator is cmbench's own. The code is models/go/src/echo.go, run
// by the Go program cmbench-go, which this cell process becomes (models/go/exec.hpp); its notes
// say what is measured.
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/go/exec.hpp"

namespace cmbench::echo::go {

namespace {

void run(const Params& params, Probe&) { models::go::exec_cell("echo", params); }

}  // namespace

}  // namespace cmbench::echo::go

CMBENCH_IMPL(echo, go, cmbench::echo::go::run, nullptr)
