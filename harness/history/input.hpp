#pragma once
// Files the history commands read are checked before they are opened: a
// FIFO with no writer would block open() forever, a device such as
// /dev/zero would be read without end, a directory or a symlink loop gives
// an error that names nothing useful. Each is refused with one line (issue
// 17 asks the same of every command; this is the history's own until a
// shared helper exists).
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

// Reads a whole regular file of at most `max_bytes`, without blocking:
// opened with O_NONBLOCK and checked again with fstat, so a path swapped for
// a FIFO between the check and the open cannot stall the command. Throws
// InputError.
std::string read_regular_file(const std::string& path, const std::string& what,
                              std::size_t max_bytes = std::size_t{1} << 30);

}  // namespace cmbench::history
