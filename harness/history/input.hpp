#pragma once
// Files the history commands read are checked before they are opened: a
// FIFO with no writer would block open() forever, a device such as
// /dev/zero would be read without end, a directory or a symlink loop gives
// an error that names nothing useful. Each is refused with one line (issue
// 17 asks the same of every command). Results files are read through
// harness/results/input.hpp; this checks the paths only the history has:
// --db, which may not exist yet.
#include <cstddef>
#include <stdexcept>
#include <string>

namespace cmbench::history {

// Bad input: the command prints the message as its one line and exits 2.
class InputError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

enum class PathState { absent, regular };

// Whether `path` names a regular file (through symlinks) or nothing; throws
// InputError naming `what` ("results file", "--db") and the kind of file it
// found (FIFO, directory, device, socket, symlink loop) otherwise.
PathState check_regular_or_absent(const std::string& path, const std::string& what);

}  // namespace cmbench::history
