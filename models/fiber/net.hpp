#pragma once
// Synchronous-looking socket I/O for fibers, on the scheduler's reactor: the
// descriptor is non-blocking, every call first tries the system call, and on
// EAGAIN parks the calling fiber in wait_readable()/wait_writable() and tries
// again when epoll reports the edge — the shape of Go's net package over its
// netpoller. The code of a connection reads like blocking code; the thread
// never blocks in read(), write() or accept().
//
// Errors: setup (socket, bind, listen) throws via throw_errno. On an
// established connection read_some()/write_all() throw SystemError for errors
// other than EAGAIN and EINTR (ECONNRESET, EPIPE...): for the runtime an
// exception escaping a fiber stops the program, as an unhandled error would.
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <utility>

#include "models/fiber/scheduler.hpp"

namespace cmbench::fiber::net {

// An owned, non-blocking descriptor known to one scheduler's reactor. Closing
// it (or destroying it) first makes the reactor forget it — waking a fiber
// parked on it, whose call then reports the descriptor closed — then closes
// it. Move-only, like fmt's file.
class Socket {
 public:
  Socket() = default;
  Socket(Scheduler& sched, int fd) noexcept : sched_(&sched), fd_(fd) {}
  Socket(Socket&& other) noexcept
      : sched_(other.sched_), fd_(std::exchange(other.fd_, -1)) {}
  Socket& operator=(Socket&& other) noexcept {
    if (this != &other) {
      close();
      sched_ = other.sched_;
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~Socket() { close(); }

  int fd() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  void close() noexcept;

 private:
  Scheduler* sched_ = nullptr;
  int fd_ = -1;
};

// A TCP listener on 127.0.0.1, port 0 (the kernel picks one), non-blocking.
// Returns the socket and writes the port it got.
Socket listen_loopback(Scheduler& sched, int backlog, uint16_t& port);

// Accepts one connection (non-blocking, close-on-exec), parking while none is
// pending. Returns an empty Socket once the listener has been closed (by
// another fiber, through Socket::close()) or shut down (shutdown() below).
Socket accept(Socket& listener);

// Shuts socket `fd` down (SHUT_RDWR) without closing it: a fiber reading it
// then reads end of stream, one accepting on a listener gets an empty Socket.
// Unlike close() this is safe while that fiber runs on another thread (M:N
// mode): the descriptor stays valid until its owner closes it. Takes the
// number, not the Socket, so the caller reads no Socket its owner may be
// closing.
void shutdown(int fd) noexcept;

// Sets TCP_NODELAY: a small write goes out at once instead of waiting for
// the previous segment's acknowledgement (Nagle's algorithm).
void set_nodelay(Socket& s);

// Reads up to n bytes, parking while none are available. Returns the count,
// 0 at end of stream (or once the socket was closed by another fiber).
std::size_t read_some(Socket& s, void* buf, std::size_t n);

// Writes all n bytes, parking while the socket's send buffer is full.
// Returns false if the socket was closed by another fiber meanwhile.
bool write_all(Socket& s, const void* buf, std::size_t n);

}  // namespace cmbench::fiber::net
