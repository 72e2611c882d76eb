// echo in the thread model: the thread-per-connection server. An acceptor
// thread blocks in accept(); every connection gets a std::thread that blocks
// in read() and writes back what it read, until end of file. The kernel
// schedules them all; a request is a wake-up of the connection's thread.
//
// The main thread blocks in poll() on two descriptors: the load generator's
// done_fd and an eventfd the server's threads write when serving fails. When
// the generator is done, it has already closed every connection, so every
// connection thread is returning from its end of file; the main thread stops
// the acceptor and joins every thread before probe.stop().
//
// Stopping the acceptor: shutdown(SHUT_RDWR) on the listening socket wakes
// a thread blocked in accept() on Linux (accept fails with EINVAL), which is
// the usual way to stop a blocking acceptor there; a stop flag set before
// tells the acceptor that this failure is the request to stop.
//
// Limits: accept() failing (EMFILE/ENFILE) or a thread that cannot be
// created (pthread_create's EAGAIN: RLIMIT_NPROC, threads-max, pid_max,
// memory for the stack) stops serving at once: the main thread wakes, shuts
// every connection down (shutdown(SHUT_RDWR) makes each blocked read() return
// end of file), joins every thread and throws the error (LimitError: the
// cell is a `limit`). LoadGen's destructor then kills the generator.
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "harness/cell/errors.hpp"
#include "harness/cell/fd.hpp"
#include "harness/registry/registry.hpp"
#include "models/thread/stack.hpp"
#include "workloads/echo/spec.hpp"

namespace cmbench::echo::thread {
namespace {

class Server {
 public:
  Server(int listen_fd, int wake_fd, size_t expected) : listen_fd_(listen_fd), wake_fd_(wake_fd) {
    conns_.reserve(expected);
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  // Never leaves a thread running, whatever way the run ends.
  ~Server() { stop(/*abort=*/true); }

  // Starts the acceptor thread; LimitError if it cannot be created.
  void start() {
    try {
      acceptor_ = std::thread(&Server::accept_loop, this);
    } catch (const std::system_error& e) {
      throw_errno("std::thread (acceptor)", e.code().value());
    }
  }

  // Stops the acceptor and joins every thread; `abort` first shuts every
  // connection down, so threads still serving one return at once. Without
  // it the connection threads are expected to be ending on their own (the
  // generator closed every connection). Then closes the connections.
  void stop(bool abort) {
    if (stopped_) return;
    stopped_ = true;
    stopping_.store(true);
    ::shutdown(listen_fd_, SHUT_RDWR);
    if (acceptor_.joinable()) acceptor_.join();
    // The acceptor is gone: conns_ is this thread's now.
    if (abort)
      for (auto& c : conns_) ::shutdown(c.fd, SHUT_RDWR);
    for (auto& c : conns_) {
      if (c.thread.joinable()) c.thread.join();
      ::close(c.fd);
    }
  }

  bool failed() {
    std::lock_guard lock(error_mutex_);
    return error_err_ != 0;
  }
  [[noreturn]] void throw_error() {
    std::lock_guard lock(error_mutex_);
    throw_errno(error_call_, error_err_);
  }
  size_t connections() const noexcept { return conns_.size(); }

 private:
  struct Connection {
    int fd;
    std::thread thread;
  };

  // Records the first error and wakes the main thread.
  void fail(std::string call, int err) {
    {
      std::lock_guard lock(error_mutex_);
      if (error_err_ == 0) {
        error_call_ = std::move(call);
        error_err_ = err;
      }
    }
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t w = ::write(wake_fd_, &one, sizeof one);
  }

  void accept_loop() {
    for (;;) {
      const int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        if (stopping_.load()) return;
        if (errno == EINTR || errno == ECONNABORTED) continue;
        fail("accept", errno);
        return;
      }
      if (stopping_.load()) {
        ::close(c);
        return;
      }
      const int one = 1;
      if (::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
        fail("setsockopt(TCP_NODELAY)", errno);
        ::close(c);
        return;
      }
      std::thread t;
      try {
        t = std::thread(&Server::serve, this, c);
      } catch (const std::system_error& e) {
        ::close(c);
        fail(fmt::format("std::thread (pthread_create) for connection {}", conns_.size() + 1),
             e.code().value());
        return;
      }
      conns_.push_back({c, std::move(t)});
    }
  }

  // A connection's thread: blocking reads of up to kReadBuffer bytes, each
  // written back whole before the next read, until end of file.
  void serve(int fd) {
    char buf[kReadBuffer];
    for (;;) {
      ssize_t n;
      do {
        n = ::read(fd, buf, sizeof buf);
      } while (n < 0 && errno == EINTR);
      if (n == 0 || (n < 0 && client_gone(errno))) return;
      if (n < 0) {
        fail("read (connection)", errno);
        return;
      }
      for (ssize_t off = 0; off < n;) {
        const ssize_t w = ::send(fd, buf + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && client_gone(errno)) return;
        if (w < 0) {
          fail("send (connection)", errno);
          return;
        }
        off += w;
      }
    }
  }

  const int listen_fd_;
  const int wake_fd_;
  std::thread acceptor_;
  // Written only by the acceptor until it is joined, then only by stop().
  std::vector<Connection> conns_;
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;
  std::mutex error_mutex_;
  std::string error_call_;
  int error_err_ = 0;
};

void run(const Params& p, Probe& probe) {
  const uint64_t connections = p.u("connections");
  raise_fd_limit();
  uint16_t port = 0;
  Fd listener(listen_loopback(kBacklog(connections), 0, port));
  Fd wake(::eventfd(0, EFD_CLOEXEC));
  if (!wake) throw_errno("eventfd");
  probe.note("server", "an acceptor std::thread blocking in accept(); a std::thread per "
                       "connection, blocking read/send until EOF");
  probe.note("stack_bytes", models::thread::default_stack_bytes());

  probe.start();
  LoadGen gen(p, port);
  Server server(listener.get(), wake.get(), connections);
  server.start();
  pollfd fds[2] = {{gen.done_fd(), POLLIN, 0}, {wake.get(), POLLIN, 0}};
  while (::poll(fds, 2, -1) < 0) {
    if (errno != EINTR) throw_errno("poll");
  }
  if (server.failed()) {
    server.stop(/*abort=*/true);
    server.throw_error();
  }
  Verdict verdict = gen.finish(probe);
  server.stop(/*abort=*/false);
  listener.reset();
  probe.stop();
  // A connection that failed after the generator was done (it would have
  // seen the failure otherwise) still fails the run.
  if (server.failed()) server.throw_error();
  probe.note("threads", server.connections() + 1);
  probe.verify(verdict);
}

}  // namespace
}  // namespace cmbench::echo::thread

CMBENCH_IMPL(echo, thread, cmbench::echo::thread::run, nullptr)
