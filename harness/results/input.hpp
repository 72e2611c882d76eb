#pragma once
// Reading a file that a user named on the command line (a results file for
// compare, report, merge, export, run --resume, history): it must be a
// regular file, and is read whole but only up to a bound. Anything else —
// a FIFO (which would block the read forever), a device (/dev/zero never
// ends), a directory, a socket, a symbolic link loop — is refused with one
// line, without opening it when stat() already says what it is, and never
// blocking when it has to be opened: open(O_NONBLOCK), then fstat() on what
// was opened (the path may have been swapped in between).
#include <cstdint>
#include <string>

namespace cmbench {

// The most a results file may hold: far above any real run (a default
// matrix writes about 2 MiB), far below what parsing it would cost in memory.
inline constexpr uint64_t kMaxResultsFileBytes = uint64_t{256} << 20;

// Returns the contents of `path`. `what` names the file in messages ("a
// results file"). Throws std::invalid_argument with one line naming the path
// when it is not a regular file, cannot be opened or read, or is larger
// than `max_bytes`.
std::string read_input_file(const std::string& path, const std::string& what,
                            uint64_t max_bytes = kMaxResultsFileBytes);

// "a FIFO", "a directory", ... for a stat mode; "a regular file" for one.
const char* file_kind(unsigned mode);

}  // namespace cmbench
