// echo in the uv model: one libuv loop on one thread serves every
// connection. A uv_tcp_t listens; its connection callback accepts into a
// fresh uv_tcp_t and starts reading; every read callback writes back what was
// read; end of file closes the connection. No thread but the cell's, no
// blocking call: the flow of one connection is split over callbacks.
//
// Each connection reads into its own buffer of kReadBuffer bytes (the alloc
// callback hands out the same buffer every time), so a request costs no
// allocation. The buffer may be reused only once libuv no longer needs the
// bytes being echoed: the read callback first tries uv_try_write() (the
// common case on loopback: the bytes are in the socket before it returns, and
// reading goes on); only when the socket cannot take everything does it queue
// the rest with uv_write() and stop reading until the write callback, so a
// pending write's bytes are never overwritten. This is how Node.js writes to
// a stream (try first, queue the rest) and it spares the uv_read_stop /
// uv_read_start pair (each an epoll_ctl) on every request.
//
// The load generator's done_fd is watched with a uv_poll_t. When it is
// readable the generator has closed every connection: the callback closes
// the listener and the poll handle, every connection closes on its end of
// file, and uv_run() returns when no handle is left — every unit has ended
// before probe.stop().
//
// Limits: the connection callback reporting an error, or a connection that
// cannot be set up, stops serving: the listener, the poll handle and every
// connection are closed, uv_run() returns, and the error is thrown
// (LimitError for EMFILE & co: the cell is a `limit`); LoadGen's destructor
// kills the generator. accept() failing with EMFILE or ENFILE, though, mostly
// never reaches the callback: libuv keeps a spare descriptor, and on EMFILE
// it closes the spare, accepts every waiting connection and closes it at
// once ("shedding load", as Node.js servers do), and calls the callback only
// if that trick fails. The generator then sees connections closed before
// their first response and stops. So after a failed run the server checks
// whether its descriptor table was full: the descriptors open once the loop
// has returned, plus the listener and the most connections it held at once,
// reach RLIMIT_NOFILE; with fewer than C connections accepted, accept() hit
// EMFILE, and the run is a `limit` with that errno, as in the other models.
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <uv.h>

#include <algorithm>
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
#include "workloads/echo/spec.hpp"

namespace cmbench::echo::uv {
namespace {

using cmbench::uv::check_uv;
using cmbench::uv::Loop;
using cmbench::uv::throw_uv;

struct Server;

struct Conn {
  uv_tcp_t tcp;
  uv_write_t write_req;
  Server* server = nullptr;
  Conn* prev = nullptr;  // the server's list of open connections
  Conn* next = nullptr;
  char buf[kReadBuffer];
};

struct Server {
  uv_tcp_t listener;
  uv_poll_t done;
  bool listener_open = false;
  bool done_open = false;
  Conn* conns = nullptr;  // open connections (not yet closing)
  uint64_t open_count = 0; // how many: the length of `conns`
  uint64_t peak_open = 0;  // the most at once
  uint64_t accepted = 0;
  uint64_t queued_writes = 0;  // reads whose echo had to wait for uv_write
  // The first error: libuv's code and the call that returned it.
  int error = 0;
  std::string error_call;

  void link(Conn* c) noexcept {
    c->next = conns;
    if (conns) conns->prev = c;
    conns = c;
    peak_open = std::max(peak_open, ++open_count);
  }
  void unlink(Conn* c) noexcept {
    if (c->prev) c->prev->next = c->next;
    else conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = nullptr;
    --open_count;
  }
};

void on_conn_closed_cb(uv_handle_t* h) { delete static_cast<Conn*>(h->data); }

void close_conn(Conn* c) {
  c->server->unlink(c);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), on_conn_closed_cb);
}

// Stops accepting and watching the generator; open connections stay open
// (they end on their end of file) unless `all`.
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

// Records the first error and tears everything down, so uv_run() returns.
void fail(Server* s, const char* call, int code) {
  if (s->error == 0) {
    s->error = code;
    s->error_call = call;
  }
  stop_serving(s, /*all=*/true);
}

void alloc_cb(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* c = static_cast<Conn*>(h->data);
  *buf = uv_buf_init(c->buf, sizeof c->buf);
}

void read_cb(uv_stream_t* stream, ssize_t nread, const uv_buf_t*);

void write_cb(uv_write_t* req, int status) {
  auto* c = static_cast<Conn*>(req->data);
  if (status == UV_ECANCELED) return;  // the connection is closing
  if (status == UV_EPIPE || status == UV_ECONNRESET) {
    close_conn(c);
    return;
  }
  if (status < 0) {
    fail(c->server, "uv_write", status);
    return;
  }
  // The buffer is free again.
  if (int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), alloc_cb, read_cb); rc < 0)
    fail(c->server, "uv_read_start", rc);
}

void read_cb(uv_stream_t* stream, ssize_t nread, const uv_buf_t*) {
  auto* c = static_cast<Conn*>(stream->data);
  // End of file, or the client went away (which is the generator's to
  // report, not a failure of the server): the connection is over.
  if (nread == UV_EOF || nread == UV_ECONNRESET) {
    close_conn(c);
    return;
  }
  if (nread < 0) {
    fail(c->server, "read", static_cast<int>(nread));
    return;
  }
  if (nread == 0) return;  // EAGAIN: nothing this time
  uv_buf_t out = uv_buf_init(c->buf, static_cast<unsigned>(nread));
  const int written = uv_try_write(stream, &out, 1);
  if (written == nread) return;
  if (written == UV_EPIPE || written == UV_ECONNRESET) {
    close_conn(c);
    return;
  }
  if (written < 0 && written != UV_EAGAIN) {
    fail(c->server, "uv_try_write", written);
    return;
  }
  // The socket took only part of it: queue the rest and stop reading into
  // the buffer until it is written.
  const unsigned done = written > 0 ? static_cast<unsigned>(written) : 0;
  out = uv_buf_init(c->buf + done, static_cast<unsigned>(nread) - done);
  ++c->server->queued_writes;
  if (int rc = uv_read_stop(stream); rc < 0) {
    fail(c->server, "uv_read_stop", rc);
    return;
  }
  if (int rc = uv_write(&c->write_req, stream, &out, 1, write_cb); rc < 0)
    fail(c->server, "uv_write", rc);
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
  c->write_req.data = c;
  s->link(c);
  if (int rc = uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->tcp)); rc < 0) {
    fail(s, "uv_accept", rc);
    return;
  }
  ++s->accepted;
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
  stop_serving(s, /*all=*/false);
}

void run(const Params& p, Probe& probe) {
  const uint64_t connections = p.u("connections");
  const uint64_t fd_limit = raise_fd_limit();
  // Declared in this order so that the loop, whose destructor closes any
  // handle still open, goes before the server that holds the handles and
  // after the generator whose descriptor the poll handle watches.
  Server server;
  std::optional<LoadGen> gen;
  Loop loop;

  check_uv("uv_tcp_init", uv_tcp_init(loop.get(), &server.listener));
  server.listener.data = &server;
  server.listener_open = true;
  sockaddr_in addr{};
  check_uv("uv_ip4_addr", uv_ip4_addr("127.0.0.1", 0, &addr));
  check_uv("uv_tcp_bind", uv_tcp_bind(&server.listener, reinterpret_cast<const sockaddr*>(&addr), 0));
  check_uv("uv_listen", uv_listen(reinterpret_cast<uv_stream_t*>(&server.listener),
                                  kBacklog(connections), on_connection_cb));
  int len = sizeof addr;
  check_uv("uv_tcp_getsockname",
           uv_tcp_getsockname(&server.listener, reinterpret_cast<sockaddr*>(&addr), &len));
  const uint16_t port = ntohs(addr.sin_port);
  probe.note("server", "one libuv loop: uv_listen, uv_accept, uv_read_start into a per-connection "
                       "buffer, uv_try_write (uv_write for what the socket did not take), "
                       "uv_close on EOF");
  probe.note("continuation", "not used: every callback of echo is an I/O callback run by the loop");

  probe.start();
  gen.emplace(p, port);
  check_uv("uv_poll_init", uv_poll_init(loop.get(), &server.done, gen->done_fd()));
  server.done.data = &server;
  server.done_open = true;
  check_uv("uv_poll_start", uv_poll_start(&server.done, UV_READABLE, on_done_cb));
  loop.run();
  // uv_run returned: no handle is open any more, every connection is closed.
  if (server.error != 0) throw_uv(server.error_call, server.error);
  // Fewer connections accepted than the generator opened: count the
  // descriptors in use now, while the generator's are still open (finish()
  // closes them), to tell below whether the table was full.
  const int64_t open_now = server.accepted < connections ? open_descriptors() : -1;
  // A generator error with an errno is thrown by finish(); here it is held
  // until the check below, since libuv's shedding of connections it cannot
  // hold shows to the generator as resets.
  std::optional<SystemError> generator_error;
  Verdict verdict = Verdict::fail("");
  try {
    verdict = gen->finish(probe);
  } catch (const SystemError& e) {
    generator_error = e;
    verdict = Verdict::fail(e.what());
  }
  // Shed connections: fewer accepted here than the generator opened, the
  // generator lost one (closed or reset by the server, which closes no
  // connection it has not accepted), and the descriptors had run out: what
  // is open now, plus the listener and the most connections open at once,
  // reaches the limit (read now: it may have been lowered since the start).
  // Only accept() failing with EMFILE or ENFILE makes libuv shed, and it
  // does not say which. (Not the highest descriptor a connection got: the
  // generator's descriptors, opened after the listener, may sit above the
  // connections, with the limit right above them.)
  rlimit nofile{};
  const uint64_t limit_now = ::getrlimit(RLIMIT_NOFILE, &nofile) == 0 ? nofile.rlim_cur : fd_limit;
  const uint64_t in_use_at_peak = open_now < 0 ? 0 : static_cast<uint64_t>(open_now) + 1 + server.peak_open;
  const bool shed = !verdict.ok && open_now >= 0 &&
                    (!generator_error || generator_error->err() == ECONNRESET) && in_use_at_peak >= limit_now;
  if (shed)
    throw LimitError(fmt::format("accept: {} (libuv shed the connections it could not hold: its "
                                 "EMFILE trick closes them without calling the connection "
                                 "callback; {} of {} accepted, {} descriptors in use at the most "
                                 "of RLIMIT_NOFILE {}); {}",
                                 std::strerror(EMFILE), server.accepted, connections,
                                 in_use_at_peak, limit_now, verdict.message),
                     EMFILE);
  if (generator_error) throw *generator_error;
  probe.stop();
  probe.note("connections_accepted", server.accepted);
  probe.note("queued_writes", server.queued_writes);
  probe.verify(verdict);
}

}  // namespace
}  // namespace cmbench::echo::uv

CMBENCH_IMPL(echo, uv, cmbench::echo::uv::run, nullptr)
