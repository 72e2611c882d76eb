#pragma once
// An owned file descriptor, the one type every part of cmbench holds a
// descriptor in (pipes and sockets of the models and workloads, the results
// file being written). Move-only: exactly one owner closes it.
//
// close() is never retried on EINTR, here or at any call site: on Linux the
// descriptor is gone once close() returns, even with an error, and a retry
// could close a descriptor another thread has just been given.
#include <unistd.h>

#include <utility>

#include "harness/cell/errors.hpp"

namespace cmbench {

class Fd {
 public:
  Fd() noexcept = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  // Closes the descriptor, ignoring errors: a destructor cannot report them.
  ~Fd() { reset(); }

  int get() const noexcept { return fd_; }
  // Whether it holds a descriptor (a failed open or socket leaves it empty).
  explicit operator bool() const noexcept { return fd_ >= 0; }
  // Gives up ownership without closing; the Fd is empty afterwards. A caller
  // that must know whether close() failed (a deferred write error of a file
  // system) closes what this returns itself and reads errno.
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
  // Closes the descriptor held, if any, ignoring errors, and holds `fd`
  // instead: for closing early where a failure changes nothing.
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  // Closes now, at a point the caller chooses (the end of a pipe is then
  // really gone: end of file for readers, EPIPE for writers), and throws
  // SystemError or LimitError carrying errno if close() fails. The Fd is
  // empty afterwards either way; closing an empty Fd does nothing.
  void close() {
    if (fd_ < 0) return;
    if (::close(release()) != 0) throw_errno("close");
  }

 private:
  int fd_ = -1;
};

}  // namespace cmbench
