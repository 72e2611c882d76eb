#pragma once
// echo's forking server, which the process model's echo and idle both run
// (workloads/echo/process.cpp, workloads/idle/process.cpp): the cell process
// owns a non-blocking listener and accepts; every connection gets a forked
// child that closes its copy of the listener, echoes with blocking
// read()/send() through a buffer of ReadBuffer bytes on its stack until end
// of file, and _exit()s. The acceptor reaps its children without a SIGCHLD
// handler: waitpid(WNOHANG) after every wake-up of its poll(), which wakes at
// least every kReapIntervalMs, so an ended child is a zombie for a bounded
// time only. Each workload writes its own poll() loop around
// accept_waiting() (what it waits for besides the listener differs).
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <unordered_set>

#include "harness/cell/errors.hpp"
#include "harness/cell/fd.hpp"
#include "models/process/process.hpp"
#include "workloads/echo/spec.hpp"

namespace cmbench::echo::process {

// How long the acceptor sleeps at most between two reaping passes.
inline constexpr int kReapIntervalMs = 50;
// A connection's child that fails with an errno exits with this plus the
// errno, so the cell's error names it (the child's own message goes to
// standard error); 64 + errno stays below 256 for every errno Linux has.
inline constexpr int kErrnoExitBase = 64;

[[noreturn]] inline void child_failed_with_errno(const char* what, int err) noexcept {
  if (err <= 0 || err > 255 - kErrnoExitBase) models::process::detail::child_failed(what);
  char line[512];
  const int len = std::snprintf(line, sizeof line, "cmbench: child %d failed: %s\n", static_cast<int>(::getpid()), what);
  if (len > 0) (void)!::write(STDERR_FILENO, line, std::min(static_cast<size_t>(len), sizeof line - 1));
  ::_exit(kErrnoExitBase + err);
}

// A connection's child, start to end: blocking reads of up to ReadBuffer
// bytes, each written back whole before the next read.
template <size_t ReadBuffer>
void echo_until_eof(int fd) {
  using models::process::retry_on_eintr;
  char buf[ReadBuffer];
  for (;;) {
    const ssize_t n = retry_on_eintr([&] { return ::read(fd, buf, sizeof buf); });
    if (n == 0 || (n < 0 && client_gone(errno))) return;
    if (n < 0) throw_errno("read (connection)");
    for (ssize_t off = 0; off < n;) {
      const ssize_t w = retry_on_eintr(
          [&] { return ::send(fd, buf + off, static_cast<size_t>(n - off), MSG_NOSIGNAL); });
      if (w < 0 && client_gone(errno)) return;
      if (w < 0) throw_errno("send (connection)");
      off += w;
    }
  }
}

// The connections' children. Whatever way the run ends, none survives this
// object: the destructor SIGKILLs and reaps those still there.
class ConnectionChildren {
 public:
  explicit ConnectionChildren(size_t expected) { live_.reserve(expected); }
  ConnectionChildren(const ConnectionChildren&) = delete;
  ConnectionChildren& operator=(const ConnectionChildren&) = delete;
  ~ConnectionChildren() { kill_all(); }

  void add(pid_t pid) {
    live_.insert(pid);
    ++forked_;
  }
  // Children forked so far: the connections accepted and served.
  uint64_t forked() const noexcept { return forked_; }

  // Reaps every child that has ended, without blocking.
  void reap_ended() {
    for (;;) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) return;  // none ended (0), or no children at all (ECHILD)
      if (live_.erase(pid) != 0) note_status(pid, status);
    }
  }
  // Waits for every child to end (they are reading their end of file).
  void reap_all() {
    using models::process::retry_on_eintr;
    for (pid_t pid : live_) {
      int status = 0;
      if (retry_on_eintr([&] { return ::waitpid(pid, &status, 0); }) == pid) note_status(pid, status);
    }
    live_.clear();
  }
  void kill_all() noexcept {
    using models::process::retry_on_eintr;
    for (pid_t pid : live_) ::kill(pid, SIGKILL);
    for (pid_t pid : live_) {
      int status;
      retry_on_eintr([&] { return ::waitpid(pid, &status, 0); });
    }
    live_.clear();
  }
  // The first child that ended badly, in words; empty if none. Its errno,
  // when it failed with one (else 0).
  const std::string& failure() const noexcept { return failure_; }
  int failure_err() const noexcept { return failure_err_; }

 private:
  void note_status(pid_t pid, int status) {
    if (!failure_.empty()) return;
    if (WIFEXITED(status) && WEXITSTATUS(status) > kErrnoExitBase) {
      failure_err_ = WEXITSTATUS(status) - kErrnoExitBase;
      failure_ = fmt::format("connection child {} failed: {} (errno {})", pid, std::strerror(failure_err_),
                             failure_err_);
    } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
      failure_ = fmt::format("connection child {} exited with status {}", pid, WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
      failure_ = fmt::format("connection child {} was killed by signal {}", pid, WTERMSIG(status));
  }

  std::unordered_set<pid_t> live_;
  uint64_t forked_ = 0;
  std::string failure_;
  int failure_err_ = 0;
};

// The first error that stops the server: the call, its errno, and for a
// fork that failed the number of the connection it was for (else 0).
struct ServerError {
  std::string call;
  int err = 0;
  uint64_t connection = 0;
  explicit operator bool() const noexcept { return err != 0; }
};

// Accepts every connection waiting in the listener's queue and forks its
// child; stops at the first error, which it leaves in `error`.
template <size_t ReadBuffer>
void accept_waiting(const Fd& listener, ConnectionChildren& children, ServerError& error) {
  for (;;) {
    const int c = ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR || errno == ECONNABORTED) continue;
      error = {"accept", errno};
      return;
    }
    Fd conn(c);
    const int one = 1;
    if (::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
      error = {"setsockopt(TCP_NODELAY)", errno};
      return;
    }
    const int listen_fd = listener.get();
    const pid_t pid = ::fork();
    if (pid == 0) {
      // The child: the listener is the parent's; it only serves `c`.
      ::close(listen_fd);
      try {
        echo_until_eof<ReadBuffer>(c);
      } catch (const SystemError& e) {
        child_failed_with_errno(e.what(), e.err());
      } catch (const LimitError& e) {
        child_failed_with_errno(e.what(), e.err());
      } catch (const std::exception& e) {
        models::process::detail::child_failed(e.what());
      }
      ::_exit(0);
    }
    if (pid < 0) {
      error = {"fork", errno, children.forked() + 1};
      return;
    }
    children.add(pid);
    // `conn` closes the parent's copy here: the child owns the connection.
  }
}

}  // namespace cmbench::echo::process
