// echo in the process model: the classic forking server. The cell process
// owns the listener and accepts; every connection gets a forked child that
// closes its copy of the listener, echoes with blocking read/write until end
// of file, and _exit()s. The acceptor reaps its children without a SIGCHLD
// handler: waitpid(WNOHANG) after every wake-up of its poll(), which wakes at
// least every kReapIntervalMs, so an ended child is a zombie for a bounded
// time only.
//
// The acceptor's poll() watches two descriptors: the (non-blocking)
// listener, and the load generator's done_fd. When the generator is done,
// every connection has already been closed by it, so every child is reading
// its end of file and exiting; the acceptor closes the listener and reaps
// them all (blocking) before probe.stop(), so their CPU time counts.
//
// Limits: accept() failing with EMFILE/ENFILE, or fork() failing with EAGAIN
// (pid_max, threads-max, RLIMIT_NPROC) or ENOMEM, ends serving at once: the
// listener is closed, every child is killed and reaped, and the error is
// thrown (LimitError: the cell is a `limit`). The generator, which would
// wait for responses that never come, is killed by LoadGen's destructor.
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <unordered_set>

#include "harness/cell/errors.hpp"
#include "harness/registry/registry.hpp"
#include "models/process/process.hpp"
#include "workloads/echo/spec.hpp"

namespace cmbench::echo::process {
namespace {

using models::process::Fd;
using models::process::retry_on_eintr;

// How long the acceptor sleeps at most between two reaping passes.
constexpr int kReapIntervalMs = 50;
// A connection's child that fails with an errno exits with this plus the
// errno, so the cell's error names it (the child's own message goes to
// standard error); 64 + errno stays below 256 for every errno Linux has.
constexpr int kErrnoExitBase = 64;

[[noreturn]] void child_failed_with_errno(const char* what, int err) noexcept {
  if (err <= 0 || err > 255 - kErrnoExitBase) models::process::detail::child_failed(what);
  char line[512];
  const int len = std::snprintf(line, sizeof line, "cmbench: child %d failed: %s\n", static_cast<int>(::getpid()), what);
  if (len > 0) (void)!::write(STDERR_FILENO, line, std::min(static_cast<size_t>(len), sizeof line - 1));
  ::_exit(kErrnoExitBase + err);
}

// A connection's child, start to end: blocking reads of up to kReadBuffer
// bytes, each written back whole before the next read.
void echo_until_eof(int fd) {
  char buf[kReadBuffer];
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

  void add(pid_t pid) { live_.insert(pid); }
  size_t forked() const noexcept { return forked_; }
  void count_fork() noexcept { ++forked_; }

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
    for (pid_t pid : live_) {
      int status = 0;
      if (retry_on_eintr([&] { return ::waitpid(pid, &status, 0); }) == pid) note_status(pid, status);
    }
    live_.clear();
  }
  void kill_all() noexcept {
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
  size_t forked_ = 0;
  std::string failure_;
  int failure_err_ = 0;
};

// The first error that stops the server: the call and its errno.
struct ServerError {
  std::string call;
  int err = 0;
  explicit operator bool() const noexcept { return err != 0; }
};

void run(const Params& p, Probe& probe) {
  const uint64_t connections = p.u("connections");
  raise_fd_limit();
  uint16_t port = 0;
  Fd listener(listen_loopback(kBacklog(connections), SOCK_NONBLOCK, port));
  probe.note("server", "the cell accepts (poll on a non-blocking listener); fork() per "
                       "connection; the child echoes with blocking read/send until EOF");
  probe.note("reaping", fmt::format("waitpid(WNOHANG) after every poll() wake-up, at least every "
                                    "{} ms; no SIGCHLD handler",
                                    kReapIntervalMs));

  probe.start();
  LoadGen gen(p, port);
  ConnectionChildren children(connections);
  ServerError error;
  pollfd fds[2] = {{listener.get(), POLLIN, 0}, {gen.done_fd(), POLLIN, 0}};
  for (;;) {
    const int n = ::poll(fds, 2, kReapIntervalMs);
    if (n < 0 && errno != EINTR) {
      error = {"poll", errno};
      break;
    }
    children.reap_ended();
    if (n <= 0) continue;
    if (fds[1].revents != 0) break;  // the generator is done
    if (fds[0].revents == 0) continue;
    // Accept every connection waiting in the queue.
    for (;;) {
      const int c = ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR || errno == ECONNABORTED) continue;
        error = {"accept", errno};
        break;
      }
      Fd conn(c);
      const int one = 1;
      if (::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
        error = {"setsockopt(TCP_NODELAY)", errno};
        break;
      }
      const int listen_fd = listener.get();
      const pid_t pid = ::fork();
      if (pid == 0) {
        // The child: the listener is the parent's; it only serves `c`.
        ::close(listen_fd);
        try {
          echo_until_eof(c);
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
        error = {fmt::format("fork (connection {} of {})", children.forked() + 1, connections), errno};
        break;
      }
      children.count_fork();
      children.add(pid);
      // `conn` closes the parent's copy here: the child owns the connection.
    }
    if (error) break;
  }
  if (children.failure().empty() && !error) {
    Verdict verdict = Verdict::fail("");
    try {
      verdict = gen.finish(probe);
    } catch (const SystemError&) {
      // The generator's error may be the echo of a connection's own failure
      // (its child reset the connection as it exited): that failure first.
      listener.close();
      children.reap_all();
      if (!children.failure().empty()) throw SystemError(children.failure(), children.failure_err());
      throw;
    }
    listener.close();
    children.reap_all();
    probe.stop();
    if (!children.failure().empty()) throw SystemError(children.failure(), children.failure_err());
    probe.note("processes", children.forked());
    probe.verify(verdict);
    return;
  }
  // Serving failed: nothing may be left behind, and nothing waits for the
  // generator (LoadGen's destructor kills it).
  listener.close();
  children.kill_all();
  if (error) throw_errno(error.call, error.err);
  throw SystemError(children.failure(), children.failure_err());
}

}  // namespace
}  // namespace cmbench::echo::process

CMBENCH_IMPL(echo, process, cmbench::echo::process::run, nullptr)
