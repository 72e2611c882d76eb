#pragma once
// `cmbench report`: turns one or more results files into report.html (one
// self-contained page with charts) and report.md (tables for a pull request).
#include <string>
#include <vector>

namespace cmbench {

// Exit status: 0 written, 2 bad input (a file missing, not JSON, of another
// schema or a newer version), with a one-line error naming the file.
int run_report(const std::vector<std::string>& inputs, const std::string& out_dir);

}  // namespace cmbench
