#pragma once
// An owned file descriptor, the one type every part of cmbench holds a
// descriptor in (pipes and sockets of the models and workloads, the results
// file being written). Move-only: exactly one owner closes it.
//
// close() is never retried on EINTR, here or at any call site: on Linux the
// descriptor is gone once close() returns, even with an error, and a retry
// could close a descriptor another thread has just been given.
#include <fcntl.h>
#include <unistd.h>

#include <climits>
#include <cstdint>
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

// Grows this process's descriptor table, now, to hold `count` descriptors
// (0 to count - 1), so that opening them later does not grow it. Call it
// before the timed region of a cell that opens many descriptors (echo's and
// idle's connections). Why: the kernel doubles the table as descriptors are
// opened (expand_fdtable), and when the table is shared by several threads
// each doubling waits for an RCU grace period (synchronize_rcu). On the
// 2-core development VM a doubling to 256, 512, 1,024, 2,048 and 4,096
// descriptors took 20, 24, 32, 8 and 16 ms with a second thread, and 2 to
// 8 us without one: a multi-threaded server accepting 1,000 connections
// paid 50 ms or more of sleeping inside its timed region, a single-threaded
// one nothing, which no concurrency model causes. Go's runtime always has
// several threads, so cmbench-go sizes its table the same way
// (reserveDescriptorTable, models/go/src/probe.go).
//
// A best effort: when `count` is above RLIMIT_NOFILE the table is not grown
// (the caller's own limit check or the model's EMFILE says what happens), and
// the table never shrinks, so growing it again costs nothing.
inline void reserve_descriptor_table(uint64_t count) noexcept {
  if (count == 0 || count > static_cast<uint64_t>(INT_MAX)) return;
  const int any = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (any < 0) return;
  // A copy at the lowest free descriptor at or above count - 1: the table
  // now reaches it.
  const int high = ::fcntl(any, F_DUPFD_CLOEXEC, static_cast<int>(count - 1));
  if (high >= 0) ::close(high);
  ::close(any);
}

}  // namespace cmbench
