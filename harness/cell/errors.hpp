#pragma once
// Errors a cell can end with. Models raise them during setup (never inside a
// timed loop); the cell runner turns them into the `failed` or `limit`
// outcome, carrying errno so the result says exactly what went wrong.
#include <cerrno>
#include <stdexcept>
#include <string>

namespace cmbench {

// A resource ran out (processes, threads, memory, file descriptors, mappings).
// Hitting it is itself a result: the report shows where each model stops.
class LimitError : public std::runtime_error {
 public:
  LimitError(const std::string& what, int err) : std::runtime_error(what), err_(err) {}
  int err() const noexcept { return err_; }

 private:
  int err_;
};

// Any other failure of the operating system or a library, with its errno (or
// 0 when there is none, e.g. a libuv code carried in the message).
class SystemError : public std::runtime_error {
 public:
  SystemError(const std::string& what, int err) : std::runtime_error(what), err_(err) {}
  int err() const noexcept { return err_; }

 private:
  int err_;
};

// True for the errno values that mean "a resource ran out" rather than
// "something is wrong": they become the `limit` outcome.
bool is_limit_errno(int err) noexcept;

// Throws LimitError or SystemError for `err`, naming the call that failed.
[[noreturn]] void throw_errno(const std::string& call, int err = errno);

// The running binary's path (/proc/self/exe resolved), for an argv[0], a
// message or another program to call back. To run this very image again —
// even after its file was rebuilt or removed — exec "/proc/self/exe" itself.
// Throws SystemError if the link cannot be read.
std::string self_exe();

}  // namespace cmbench
