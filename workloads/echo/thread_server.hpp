#pragma once
// echo's thread-per-connection server, which the thread model's echo and
// idle both run (workloads/echo/thread.cpp, workloads/idle/thread.cpp). An
// acceptor thread blocks in accept(); every connection gets a std::thread
// that blocks in read() into a buffer of ReadBuffer bytes on its own stack
// and writes back what it read, until end of file.
//
// Stopping the acceptor: shutdown(SHUT_RDWR) on the listening socket wakes
// a thread blocked in accept() on Linux (accept fails with EINVAL), which is
// the usual way to stop a blocking acceptor there; a stop flag set before
// tells the acceptor that this failure is the request to stop.
//
// Errors: accept() failing (EMFILE/ENFILE), a thread that cannot be created
// (pthread_create's EAGAIN) or a connection's read or send failing other
// than by the client going away records the first error and writes the
// eventfd `wake_fd`, on which the caller polls; the caller then stops the
// server (abort: every connection shut down, so every blocked read() returns
// end of file, and every thread joined) and reports error() its own way.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "harness/cell/errors.hpp"
#include "harness/cell/fd.hpp"
#include "workloads/echo/spec.hpp"

namespace cmbench::echo::thread {

template <size_t ReadBuffer>
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
      for (auto& c : conns_) ::shutdown(c.fd.get(), SHUT_RDWR);
    for (auto& c : conns_) {
      if (c.thread.joinable()) c.thread.join();
      c.fd.reset();
    }
  }

  bool failed() {
    std::lock_guard lock(error_mutex_);
    return error_.err != 0;
  }
  // The first error: the call that failed, its errno, and for a connection
  // thread that could not be created the connection's number (else 0).
  struct Error {
    std::string call;
    int err = 0;
    uint64_t connection = 0;
  };
  Error error() {
    std::lock_guard lock(error_mutex_);
    return error_;
  }
  // Connections accepted and given a thread.
  uint64_t accepted() const noexcept { return accepted_.load(); }

 private:
  struct Connection {
    Fd fd;
    std::thread thread;
  };

  // Records the first error and wakes the main thread.
  void fail(std::string call, int err, uint64_t connection = 0) {
    {
      std::lock_guard lock(error_mutex_);
      if (error_.err == 0) error_ = Error{std::move(call), err, connection};
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
      // On a failure the error is recorded before the connection is closed:
      // closing it resets the generator's side, and the generator, done with
      // that error, wakes the main thread, which must then find the server's
      // error already there (else the run ended `failed` on the reset, not
      // `limit` on EAGAIN: Echo/EchoProcessLimit/"thread", 1 in 20 runs).
      if (::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
        fail("setsockopt(TCP_NODELAY)", errno);
        ::close(c);
        return;
      }
      std::thread t;
      try {
        t = std::thread(&Server::serve, this, c);
      } catch (const std::system_error& e) {
        fail("std::thread (pthread_create)", e.code().value(), conns_.size() + 1);
        ::close(c);
        return;
      }
      conns_.push_back({Fd(c), std::move(t)});
      ++accepted_;
    }
  }

  // A connection's thread: blocking reads of up to ReadBuffer bytes into a
  // buffer on its stack, each written back whole before the next read, until
  // end of file.
  void serve(int fd) {
    char buf[ReadBuffer];
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
  std::atomic<uint64_t> accepted_{0};
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;
  std::mutex error_mutex_;
  Error error_;
};

}  // namespace cmbench::echo::thread
