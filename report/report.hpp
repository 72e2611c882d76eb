#pragma once
// `cmbench report`: turns one or more results files into report.html (one
// self-contained page with charts) and report.md (tables for a pull request).
#include <string>
#include <vector>

namespace cmbench {

// Exit status: 0 written; 2 with a one-line error and nothing written when an
// input is bad (missing, not JSON, of another schema or a newer version, a
// malformed cell), when the chart library is not installed in
// report/node_modules (run scripts/setup), or when --out cannot be written;
// 1 when a template of the report itself is broken (a defect, never the input).
int run_report(const std::vector<std::string>& inputs, const std::string& out_dir);

}  // namespace cmbench
