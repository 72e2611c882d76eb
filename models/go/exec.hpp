#pragma once
// The go model's implementations are one Go program, cmbench-go (models/go/src
// and every workloads/<w>/go.go). Each is registered like any implementation
// (by a C++ file generated from models/go/impl.cpp.in), and its run()
// replaces the cell process with cmbench-go through execv(): the same pid and
// process group, the result descriptor inherited, the memory limit (RLIMIT_AS)
// kept. So the harness's runner, watchdog, rusage and leak checks
// treat a Go cell exactly like a C++ one, and the Go program writes the cell
// protocol's JSON itself.
#include <string>

#include "harness/cell/params.hpp"

namespace cmbench::models::go {

// The cmbench-go binary: $CMBENCH_GO_BINARY when set, else the one built
// next to cmbench (CMBENCH_GO_BINARY at compile time).
std::string binary();

// Execs `cmbench-go cell --workload W --model go --param k=v ... --result-fd N
// --cmbench SELF` with every parameter of the cell (defaults filled in and
// checked) and this cell's --result-fd. Returns only by throwing: SystemError
// (via throw_errno) when execv fails, LimitError (ENOMEM) when the cell's
// memory limit (RLIMIT_AS) is below the 1 GiB the Go runtime needs to start.
[[noreturn]] void exec_cell(const std::string& workload, const Params& params);

}  // namespace cmbench::models::go
