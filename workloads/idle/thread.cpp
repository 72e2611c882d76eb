// idle in the thread model: echo's thread-per-connection server. An
// acceptor thread blocks in accept(); every connection gets a std::thread
// that blocks in read() into a buffer on its own stack and writes back what
// it read, until end of file. An idle connection is a thread asleep in
// read(): its stack (std::thread's default mapping, of which the pages it
// touched are resident), its kernel stack and task, and its socket.
//
// The main thread blocks in poll() on the load generator's done_fd and an
// eventfd the server's threads write when serving fails. On the generator's
// ready it reads memory (every connection is accepted and its thread parked
// in read()) and says go; on done it joins every thread (each returning from
// its end of file) before probe.stop().
//
// Limits: a thread that cannot be created (pthread_create's EAGAIN: pid_max,
// threads-max, vm.max_map_count for the stacks, RLIMIT_NPROC) or an accept
// failing (EMFILE) stops serving at once: every connection is shut down
// (shutdown(SHUT_RDWR) makes each blocked read() return end of file), every
// thread joined, and the error thrown as a LimitError naming the connections
// reached. LoadGen's destructor then kills the generator.
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
#include "workloads/idle/spec.hpp"

namespace cmbench::idle::thread {
namespace {

using echo::client_gone;

class Server {
 public:
  Server(int listen_fd, int wake_fd, size_t expected) : listen_fd_(listen_fd), wake_fd_(wake_fd) {
    conns_.reserve(expected);
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server() { stop(/*abort=*/true); }

  void start() {
    try {
      acceptor_ = std::thread(&Server::accept_loop, this);
    } catch (const std::system_error& e) {
      throw_errno("std::thread (acceptor)", e.code().value());
    }
  }

  // Stops the acceptor and joins every thread; `abort` first shuts every
  // connection down, so threads still serving one return at once.
  void stop(bool abort) {
    if (stopped_) return;
    stopped_ = true;
    stopping_.store(true);
    ::shutdown(listen_fd_, SHUT_RDWR);
    if (acceptor_.joinable()) acceptor_.join();
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
  // After stop(): the first error, as the cell's outcome.
  [[noreturn]] void throw_error(const Params& p) {
    std::lock_guard lock(error_mutex_);
    const std::string msg = limit_message(p, accepted_, error_call_, error_err_);
    if (is_limit_errno(error_err_)) throw LimitError(msg, error_err_);
    throw SystemError(msg, error_err_);
  }
  uint64_t accepted() const noexcept { return accepted_; }

 private:
  struct Connection {
    int fd;
    std::thread thread;
  };

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
        fail("std::thread (pthread_create)", e.code().value());
        return;
      }
      conns_.push_back({c, std::move(t)});
      ++accepted_;
    }
  }

  // A connection's thread: blocking reads into a buffer on its stack, each
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
  std::atomic<uint64_t> accepted_{0};
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;
  std::mutex error_mutex_;
  std::string error_call_;
  int error_err_ = 0;
};

void run(const Params& p, Probe& probe) {
  const uint64_t connections = p.u("connections");
  probe.note("fd_limit", raise_fd_limit(connections));
  uint16_t port = 0;
  Fd listener(echo::listen_loopback(echo::kBacklog(connections), 0, port));
  Fd wake(::eventfd(0, EFD_CLOEXEC));
  if (!wake) throw_errno("eventfd");
  probe.note("server", "an acceptor std::thread blocking in accept(); a std::thread per connection, "
                       "blocking read() into a buffer on its stack and send() until EOF");
  probe.note("read_buffer", fmt::format("{} bytes on the connection thread's stack", kReadBuffer));
  probe.note("stack_bytes", models::thread::default_stack_bytes());

  probe.memory_baseline();
  probe.start();
  echo::LoadGen gen(load(p), port);
  Server server(listener.get(), wake.get(), connections);
  server.start();
  pollfd fds[2] = {{gen.done_fd(), POLLIN, 0}, {wake.get(), POLLIN, 0}};
  bool done = false;
  while (!done && !server.failed()) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      throw_errno("poll");
    }
    if (fds[0].revents == 0) continue;
    switch (gen.next_signal()) {
      case echo::LoadGen::Signal::ready:
        probe.memory_parked(connections);
        gen.go();
        break;
      case echo::LoadGen::Signal::done:
        done = true;
        break;
      case echo::LoadGen::Signal::none:
        break;
    }
  }
  if (server.failed()) {
    server.stop(/*abort=*/true);
    probe.note("reached", server.accepted());
    server.throw_error(p);
  }
  Verdict verdict = gen.finish(probe);
  server.stop(/*abort=*/false);
  listener.reset();
  probe.stop();
  if (server.failed()) server.throw_error(p);
  probe.note("threads", server.accepted() + 1);
  probe.note("connections_accepted", server.accepted());
  if (verdict.ok) verdict = verify_accepted(p, server.accepted());
  probe.verify(verdict);
}

}  // namespace
}  // namespace cmbench::idle::thread

CMBENCH_IMPL(idle, thread, cmbench::idle::thread::run, nullptr)
