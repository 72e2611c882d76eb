#pragma once
// The child side of a cell: `cmbench cell ...` runs one repetition of one
// (workload, model, parameters) point in this fresh process and writes its
// result as one JSON document to a file descriptor the parent reads.
#include <map>
#include <string>

#include "harness/cell/protocol.hpp"  // classify

namespace cmbench {

// `passes`: how many times the workload runs in this repetition (run
// --min-time calibrates it; Probe::next_pass adds the passes up).
int run_cell_child(const std::string& workload, const std::string& model,
                   const std::map<std::string, std::string>& params, int result_fd, int passes = 1);

}  // namespace cmbench
