#pragma once

namespace cmbench {

// The `cmbench` command line: list, run, and the internal `cell`.
// Exit status: 0 all cells ok, 1 some cell not ok, 2 bad input, 130 interrupted.
int cli_main(int argc, char** argv);

}  // namespace cmbench
