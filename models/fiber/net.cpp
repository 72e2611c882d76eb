#include "models/fiber/net.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "harness/cell/errors.hpp"

namespace cmbench::fiber::net {

void Socket::close() noexcept {
  if (fd_ < 0) return;
  // The reactor forgets the descriptor before its number can be reused;
  // close() is never retried (on Linux the descriptor is gone either way).
  if (sched_) {
    try {
      sched_->forget(fd_);
    } catch (...) {
      // EPOLL_CTL_DEL failing otherwise than ENOENT/EBADF means the epoll set
      // is broken; the close below removes the descriptor from it anyway.
    }
  }
  ::close(fd_);
  fd_ = -1;
}

Socket listen_loopback(Scheduler& sched, int backlog, uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_errno("socket");
  Socket listener(sched, fd);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) throw_errno("bind");
  if (::listen(fd, backlog) != 0) throw_errno("listen");
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) throw_errno("getsockname");
  port = ntohs(addr.sin_port);
  return listener;
}

Socket accept(Socket& listener) {
  Scheduler* sched = Scheduler::current();
  for (;;) {
    if (!listener) return Socket();
    int fd = ::accept4(listener.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return Socket(*sched, fd);
    const int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      if (!sched->wait_readable(listener.fd())) return Socket();
      continue;
    }
    // A connection that was reset while queued is the client's business.
    if (err == EINTR || err == ECONNABORTED) continue;
    // Linux: a listener that was shut down is no longer listening.
    if (err == EINVAL) return Socket();
    throw_errno("accept4", err);
  }
}

void shutdown(int fd) noexcept {
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);  // ENOTCONN (never connected): nothing to wake
}

void set_nodelay(Socket& s) {
  const int on = 1;
  if (::setsockopt(s.fd(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) != 0)
    throw_errno("setsockopt(TCP_NODELAY)");
}

std::size_t read_some(Socket& s, void* buf, std::size_t n) {
  for (;;) {
    if (!s) return 0;
    const ssize_t got = ::read(s.fd(), buf, n);
    if (got >= 0) return static_cast<std::size_t>(got);
    const int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      if (!Scheduler::current()->wait_readable(s.fd())) return 0;
      continue;
    }
    if (err == EINTR) continue;
    throw_errno("read(socket)", err);
  }
}

bool write_all(Socket& s, const void* buf, std::size_t n) {
  const char* p = static_cast<const char*>(buf);
  while (n > 0) {
    if (!s) return false;
    // send() with MSG_NOSIGNAL: a peer gone away is an EPIPE error here, not
    // a SIGPIPE that kills the process.
    const ssize_t put = ::send(s.fd(), p, n, MSG_NOSIGNAL);
    if (put >= 0) {
      p += put;
      n -= static_cast<std::size_t>(put);
      continue;
    }
    const int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      if (!Scheduler::current()->wait_writable(s.fd())) return false;
      continue;
    }
    if (err == EINTR) continue;
    throw_errno("send(socket)", err);
  }
  return true;
}

}  // namespace cmbench::fiber::net
