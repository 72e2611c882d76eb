// idle in the uv model: echo's server on one libuv loop. A uv_tcp_t listens;
// its connection callback accepts into a fresh Conn (a uv_tcp_t and its
// links) and starts reading; every read callback writes back what was read;
// end of file closes the connection.
//
// The buffer is the callback model's own idiom, and its claim to little
// memory per connection: libuv asks the alloc callback for a buffer only when
// a read is about to happen, so a connection waiting for data holds none.
// One buffer of the loop (kReadBuffer bytes, like every model's) serves every
// connection: the loop runs one callback at a time and the read callback
// is done with the bytes before it returns, because uv_try_write() puts them
// in the socket at once (on loopback nearly always); the rest, if any, is
// copied into a write request of its own for uv_write() (noted as
// `queued_writes`). An idle connection therefore costs its Conn (noted as
// `conn_bytes`), libuv's epoll registration and its socket.
//
// The load generator's done_fd is watched with a uv_poll_t: on ready the
// callback reads memory and says go; on done it closes the listener and the
// poll handle, every connection closes on its end of file, and uv_run()
// returns when no handle is left.
//
// Limits: as echo's (workloads/echo/uv.cpp): the connection callback's error,
// or libuv's EMFILE trick (it sheds the connections it cannot hold; the
// server then finds its descriptor table full), is a LimitError naming the
// connections reached.
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <uv.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <new>
#include <optional>
#include <string>

#include "harness/cell/errors.hpp"
#include "harness/registry/registry.hpp"
#include "models/uv/error.hpp"
#include "models/uv/loop.hpp"
#include "workloads/idle/spec.hpp"

namespace cmbench::idle::uv {
namespace {

using cmbench::uv::check_uv;
using cmbench::uv::Loop;

struct Server;

struct Conn {
  uv_tcp_t tcp;
  Server* server = nullptr;
  Conn* prev = nullptr;  // the server's list of open connections
  Conn* next = nullptr;
};

// The bytes uv_try_write() did not take, with the request that writes them;
// the bytes follow the struct in the same allocation.
struct PendingWrite {
  uv_write_t req;
  Conn* conn;
  char* data() noexcept { return reinterpret_cast<char*>(this + 1); }
};

struct Server {
  uv_tcp_t listener;
  uv_poll_t done;
  echo::LoadGen* gen = nullptr;
  Probe* probe = nullptr;
  uint64_t connections = 0;
  bool listener_open = false;
  bool done_open = false;
  Conn* conns = nullptr;
  uint64_t accepted = 0;
  int max_fd = -1;
  uint64_t queued_writes = 0;
  int error = 0;
  std::string error_call;
  char buf[kReadBuffer];  // the loop's one read buffer

  void link(Conn* c) noexcept {
    c->next = conns;
    if (conns) conns->prev = c;
    conns = c;
  }
  void unlink(Conn* c) noexcept {
    if (c->prev) c->prev->next = c->next;
    else conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = nullptr;
  }
};

void on_conn_closed_cb(uv_handle_t* h) { delete static_cast<Conn*>(h->data); }

void close_conn(Conn* c) {
  c->server->unlink(c);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), on_conn_closed_cb);
}

void stop_serving(Server* s, bool all) {
  if (s->listener_open) {
    s->listener_open = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&s->listener), nullptr);
  }
  if (s->done_open) {
    s->done_open = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&s->done), nullptr);
  }
  if (all)
    while (s->conns) close_conn(s->conns);
}

void fail(Server* s, const char* call, int code) {
  if (s->error == 0) {
    s->error = code;
    s->error_call = call;
  }
  stop_serving(s, /*all=*/true);
}

void alloc_cb(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* c = static_cast<Conn*>(h->data);
  *buf = uv_buf_init(c->server->buf, sizeof c->server->buf);
}

void write_cb(uv_write_t* req, int status) {
  auto* w = static_cast<PendingWrite*>(req->data);
  Conn* c = w->conn;
  ::operator delete(w);
  if (status == UV_ECANCELED) return;  // the connection is closing
  if (status == UV_EPIPE || status == UV_ECONNRESET) {
    close_conn(c);
    return;
  }
  if (status < 0) fail(c->server, "uv_write", status);
}

void read_cb(uv_stream_t* stream, ssize_t nread, const uv_buf_t*) {
  auto* c = static_cast<Conn*>(stream->data);
  Server* s = c->server;
  if (nread == UV_EOF || nread == UV_ECONNRESET) {
    close_conn(c);
    return;
  }
  if (nread < 0) {
    fail(s, "read", static_cast<int>(nread));
    return;
  }
  if (nread == 0) return;
  uv_buf_t out = uv_buf_init(s->buf, static_cast<unsigned>(nread));
  const int written = uv_try_write(stream, &out, 1);
  if (written == nread) return;
  if (written == UV_EPIPE || written == UV_ECONNRESET) {
    close_conn(c);
    return;
  }
  if (written < 0 && written != UV_EAGAIN) {
    fail(s, "uv_try_write", written);
    return;
  }
  // The socket took only part of it: the loop's buffer is reused by the
  // next read callback, so the rest is copied into a request of its own.
  const size_t done = written > 0 ? static_cast<size_t>(written) : 0;
  const size_t rest = static_cast<size_t>(nread) - done;
  auto* w = static_cast<PendingWrite*>(::operator new(sizeof(PendingWrite) + rest, std::nothrow));
  if (!w) {
    fail(s, "new PendingWrite", UV_ENOMEM);
    return;
  }
  w->req.data = w;
  w->conn = c;
  std::memcpy(w->data(), s->buf + done, rest);
  ++s->queued_writes;
  uv_buf_t pending = uv_buf_init(w->data(), static_cast<unsigned>(rest));
  if (int rc = uv_write(&w->req, stream, &pending, 1, write_cb); rc < 0) {
    ::operator delete(w);
    fail(s, "uv_write", rc);
  }
}

void on_connection_cb(uv_stream_t* listener, int status) {
  auto* s = static_cast<Server*>(listener->data);
  if (status < 0) {
    fail(s, "accept (uv_listen's connection callback)", status);
    return;
  }
  auto* c = new (std::nothrow) Conn;
  if (c == nullptr) {
    fail(s, "new Conn", UV_ENOMEM);
    return;
  }
  c->server = s;
  if (int rc = uv_tcp_init(listener->loop, &c->tcp); rc < 0) {
    delete c;
    fail(s, "uv_tcp_init", rc);
    return;
  }
  c->tcp.data = c;
  s->link(c);
  if (int rc = uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->tcp)); rc < 0) {
    fail(s, "uv_accept", rc);
    return;
  }
  ++s->accepted;
  if (uv_os_fd_t fd; uv_fileno(reinterpret_cast<uv_handle_t*>(&c->tcp), &fd) == 0 && fd > s->max_fd)
    s->max_fd = fd;
  if (int rc = uv_tcp_nodelay(&c->tcp, 1); rc < 0) {
    fail(s, "uv_tcp_nodelay", rc);
    return;
  }
  if (int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), alloc_cb, read_cb); rc < 0)
    fail(s, "uv_read_start", rc);
}

void on_done_cb(uv_poll_t* h, int status, int) {
  auto* s = static_cast<Server*>(h->data);
  if (status < 0) {
    fail(s, "uv_poll (load generator done)", status);
    return;
  }
  switch (s->gen->next_signal()) {
    case echo::LoadGen::Signal::ready:
      s->probe->memory_parked(s->connections);
      s->gen->go();
      return;
    case echo::LoadGen::Signal::done:
      stop_serving(s, /*all=*/false);
      return;
    case echo::LoadGen::Signal::none:
      return;
  }
}

void run(const Params& p, Probe& probe) {
  const uint64_t connections = p.u("connections");
  const std::string fd_note = raise_fd_limit(connections);
  probe.note("fd_limit", fd_note);
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  const uint64_t fd_limit = nofile.rlim_cur;
  Server server;
  std::optional<echo::LoadGen> gen;
  Loop loop;

  check_uv("uv_tcp_init", uv_tcp_init(loop.get(), &server.listener));
  server.listener.data = &server;
  server.listener_open = true;
  server.probe = &probe;
  server.connections = connections;
  sockaddr_in addr{};
  check_uv("uv_ip4_addr", uv_ip4_addr("127.0.0.1", 0, &addr));
  check_uv("uv_tcp_bind", uv_tcp_bind(&server.listener, reinterpret_cast<const sockaddr*>(&addr), 0));
  check_uv("uv_listen", uv_listen(reinterpret_cast<uv_stream_t*>(&server.listener),
                                  echo::kBacklog(connections), on_connection_cb));
  int len = sizeof addr;
  check_uv("uv_tcp_getsockname",
           uv_tcp_getsockname(&server.listener, reinterpret_cast<sockaddr*>(&addr), &len));
  const uint16_t port = ntohs(addr.sin_port);
  probe.note("server", "one libuv loop: uv_listen, uv_accept, uv_read_start, uv_try_write (uv_write "
                       "for what the socket did not take), uv_close on EOF");
  probe.note("read_buffer", fmt::format("one buffer of {} bytes for the whole loop, handed out by the "
                                        "alloc callback per read: an idle connection holds none",
                                        kReadBuffer));
  probe.note("conn_bytes", sizeof(Conn));

  probe.memory_baseline();
  probe.start();
  gen.emplace(load(p), port);
  server.gen = &*gen;
  check_uv("uv_poll_init", uv_poll_init(loop.get(), &server.done, gen->done_fd()));
  server.done.data = &server;
  server.done_open = true;
  check_uv("uv_poll_start", uv_poll_start(&server.done, UV_READABLE, on_done_cb));
  loop.run();
  if (server.error != 0) {
    probe.note("reached", server.accepted);
    const std::string msg =
        limit_message(p, server.accepted, server.error_call, -server.error);
    if (is_limit_errno(-server.error)) throw LimitError(msg, -server.error);
    throw SystemError(msg, -server.error);
  }
  Verdict verdict = gen->finish(probe);
  if (!verdict.ok && server.accepted < connections && server.max_fd >= 0 &&
      static_cast<uint64_t>(server.max_fd) + 1 >= fd_limit) {
    probe.note("reached", server.accepted);
    throw LimitError(limit_message(p, server.accepted, "accept (libuv shed the connections it could not hold)",
                                   EMFILE) +
                         "; " + verdict.message,
                     EMFILE);
  }
  probe.stop();
  probe.note("connections_accepted", server.accepted);
  probe.note("queued_writes", server.queued_writes);
  if (verdict.ok) verdict = verify_accepted(p, server.accepted);
  probe.verify(verdict);
}

}  // namespace
}  // namespace cmbench::idle::uv

CMBENCH_IMPL(idle, uv, cmbench::idle::uv::run, nullptr)
