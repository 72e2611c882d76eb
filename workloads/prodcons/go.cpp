// prodcons in the go model: P producer and C consumer goroutines over one chan of capacity B
// (unbuffered for B = 0). The code is models/go/src/prodcons.go, run by the Go program cmbench-go,
// which this cell process becomes (models/go/exec.hpp); its notes say what is measured.
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/go/exec.hpp"

namespace cmbench::prodcons::go {

namespace {

void run(const Params& params, Probe&) { models::go::exec_cell("prodcons", params); }

}  // namespace

}  // namespace cmbench::prodcons::go

CMBENCH_IMPL(prodcons, go, cmbench::prodcons::go::run, nullptr)
