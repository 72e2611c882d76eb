#pragma once
// echo's connection fibers in the fiber model, which echo and idle both run
// (workloads/echo/fiber.cpp, workloads/idle/fiber.cpp): a fiber per
// connection reads what arrives and writes it back until end of stream,
// each linked into an OpenList while it runs, so that the controller can
// shut every open connection down at the end.
#include <cstddef>
#include <mutex>

#include "harness/cell/errors.hpp"
#include "models/fiber/net.hpp"
#include "workloads/echo/read_buffer.hpp"
#include "workloads/echo/spec.hpp"

namespace cmbench::echo::fiber {

// The open connections, so the controller can close them at shutdown: an
// intrusive list of records on the connection fibers' own stacks.
struct Open {
  cmbench::fiber::net::Socket* socket;
  Open* prev = nullptr;
  Open* next = nullptr;
};

struct OpenList {
  std::mutex mu;  // fibers on different threads (threads > 1); never held across a park
  Open* head = nullptr;
  void link(Open* o) noexcept {
    std::lock_guard lock(mu);
    o->next = head;
    if (head) head->prev = o;
    head = o;
  }
  void unlink(Open* o) noexcept {
    std::lock_guard lock(mu);
    (o->prev ? o->prev->next : head) = o->next;
    if (o->next) o->next->prev = o->prev;
  }
  // Shuts every open connection down (the controller, at the end): each
  // connection's fiber then reads end of stream and returns.
  void shutdown_all() {
    std::lock_guard lock(mu);
    for (Open* o = head; o; o = o->next) cmbench::fiber::net::shutdown(o->socket->fd());
  }
};

// A connection's fiber, start to end: reads of up to N bytes, each written
// back whole before the next read.
template <size_t N, BufferOn where>
void serve(cmbench::fiber::net::Socket& conn, OpenList& open) {
  namespace net = cmbench::fiber::net;
  Open self{&conn};
  open.link(&self);
  struct Unlink {
    OpenList& open;
    Open* self;
    ~Unlink() { open.unlink(self); }
  } unlink{open, &self};
  ReadBuffer<N, where> buf;
  try {
    for (;;) {
      const std::size_t got = net::read_some(conn, buf.data(), buf.size());
      if (got == 0) break;  // end of stream, or closed at shutdown
      if (!net::write_all(conn, buf.data(), got)) break;
    }
  } catch (const SystemError& e) {
    // The client gone (a reset, a broken pipe) ends the connection, as end
    // of stream does (spec.hpp); any other error escapes the fiber and
    // stops the server with it.
    if (!client_gone(e.err())) throw;
  }
}

}  // namespace cmbench::echo::fiber
