#pragma once
// echo's server in the uv model, which echo and idle both run
// (workloads/echo/uv.cpp, workloads/idle/uv.cpp): one libuv loop on one
// thread. A uv_tcp_t listens; its connection callback accepts into a fresh
// Conn and starts reading; every read callback writes back what was read
// (uv_try_write() first, uv_write() for what the socket did not take); end
// of file closes the connection. A uv_poll_t watches the load generator's
// done_fd and calls the workload's on_done; stop_serving() then closes the
// listener and the poll handle, every connection closes on its end of file,
// and uv_run() returns when no handle is left. The first error stops
// serving altogether (fail()); the workload words it.
//
// Where the bytes are read is the one thing echo and idle choose
// differently (Reading):
//   per_connection  echo: each Conn has its own buffer of N bytes, handed
//                   out by the alloc callback every time, so a request costs
//                   no allocation; when the socket does not take a whole
//                   echo, the rest is queued with uv_write() from that buffer
//                   and reading stops until the write callback, so the
//                   pending bytes are never overwritten.
//   one_buffer      idle: one buffer of N bytes for the whole loop, handed
//                   out per read, so a connection waiting for data holds
//                   none; the rest of an echo the socket did not take is
//                   copied into a write request of its own.
#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <new>
#include <string>

#include "models/uv/error.hpp"

namespace cmbench::echo::uv {

enum class Reading { per_connection, one_buffer };

template <size_t N, Reading how>
struct Server;

// What a Conn holds for its reads: its buffer and write request, or nothing.
template <size_t N, Reading how>
struct ConnReading {
  uv_write_t write_req;
  char buf[N];
};
template <size_t N>
struct ConnReading<N, Reading::one_buffer> {};

template <size_t N, Reading how>
struct Conn : ConnReading<N, how> {
  uv_tcp_t tcp;
  Server<N, how>* server = nullptr;
  Conn* prev = nullptr;  // the server's list of open connections
  Conn* next = nullptr;
};

// What the server holds for the reads: the loop's one buffer, or nothing.
template <size_t N, Reading how>
struct ServerReading {};
template <size_t N>
struct ServerReading<N, Reading::one_buffer> {
  char buf[N];  // the loop's one read buffer
};

// The bytes uv_try_write() did not take (one_buffer), with the request that
// writes them; the bytes follow the struct in the same allocation.
template <size_t N, Reading how>
struct PendingWrite {
  uv_write_t req;
  Conn<N, how>* conn;
  char* data() noexcept { return reinterpret_cast<char*>(this + 1); }
};

template <size_t N, Reading how>
struct Server : ServerReading<N, how> {
  using Connection = Conn<N, how>;

  uv_tcp_t listener;
  uv_poll_t done;
  // The load generator's done_fd is readable: the workload's to handle.
  std::function<void()> on_done;
  bool listener_open = false;
  bool done_open = false;
  Connection* conns = nullptr;  // open connections (not yet closing)
  uint64_t open_count = 0;      // how many: the length of `conns`
  uint64_t peak_open = 0;       // the most at once
  uint64_t accepted = 0;
  int max_fd = -1;              // the highest descriptor a connection got
  uint64_t queued_writes = 0;   // reads whose echo had to wait for uv_write
  // The first error: libuv's code and the call that returned it.
  int error = 0;
  std::string error_call;

  void link(Connection* c) noexcept {
    c->next = conns;
    if (conns) conns->prev = c;
    conns = c;
    peak_open = std::max(peak_open, ++open_count);
  }
  void unlink(Connection* c) noexcept {
    if (c->prev) c->prev->next = c->next;
    else conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = nullptr;
    --open_count;
  }

  // Listens on 127.0.0.1, port 0, on `loop`; returns the port.
  uint16_t listen(uv_loop_t* loop, int backlog) {
    using cmbench::uv::check_uv;
    check_uv("uv_tcp_init", uv_tcp_init(loop, &listener));
    listener.data = this;
    listener_open = true;
    sockaddr_in addr{};
    check_uv("uv_ip4_addr", uv_ip4_addr("127.0.0.1", 0, &addr));
    check_uv("uv_tcp_bind", uv_tcp_bind(&listener, reinterpret_cast<const sockaddr*>(&addr), 0));
    check_uv("uv_listen", uv_listen(reinterpret_cast<uv_stream_t*>(&listener), backlog, on_connection_cb));
    int len = sizeof addr;
    check_uv("uv_tcp_getsockname", uv_tcp_getsockname(&listener, reinterpret_cast<sockaddr*>(&addr), &len));
    return ntohs(addr.sin_port);
  }

  // Watches the load generator's done_fd: on_done runs when it is readable.
  void watch_done(uv_loop_t* loop, int done_fd) {
    using cmbench::uv::check_uv;
    check_uv("uv_poll_init", uv_poll_init(loop, &done, done_fd));
    done.data = this;
    done_open = true;
    check_uv("uv_poll_start", uv_poll_start(&done, UV_READABLE, on_done_cb));
  }

  // Stops accepting and watching the generator; open connections stay open
  // (they end on their end of file) unless `all`.
  void stop_serving(bool all) {
    if (listener_open) {
      listener_open = false;
      uv_close(reinterpret_cast<uv_handle_t*>(&listener), nullptr);
    }
    if (done_open) {
      done_open = false;
      uv_close(reinterpret_cast<uv_handle_t*>(&done), nullptr);
    }
    if (all)
      while (conns) close_conn(conns);
  }

  // Records the first error and tears everything down, so uv_run() returns.
  void fail(const char* call, int code) {
    if (error == 0) {
      error = code;
      error_call = call;
    }
    stop_serving(/*all=*/true);
  }

 private:
  static void on_conn_closed_cb(uv_handle_t* h) { delete static_cast<Connection*>(h->data); }

  static void close_conn(Connection* c) {
    c->server->unlink(c);
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), on_conn_closed_cb);
  }

  static void alloc_cb(uv_handle_t* h, size_t, uv_buf_t* buf) {
    auto* c = static_cast<Connection*>(h->data);
    if constexpr (how == Reading::per_connection) *buf = uv_buf_init(c->buf, sizeof c->buf);
    else *buf = uv_buf_init(c->server->buf, sizeof c->server->buf);
  }

  static void write_cb(uv_write_t* req, int status) {
    Connection* c;
    if constexpr (how == Reading::per_connection) {
      c = static_cast<Connection*>(req->data);
    } else {
      auto* w = static_cast<PendingWrite<N, how>*>(req->data);
      c = w->conn;
      ::operator delete(w);
    }
    if (status == UV_ECANCELED) return;  // the connection is closing
    if (status == UV_EPIPE || status == UV_ECONNRESET) {
      close_conn(c);
      return;
    }
    if (status < 0) {
      c->server->fail("uv_write", status);
      return;
    }
    if constexpr (how == Reading::per_connection) {
      // The buffer is free again.
      if (int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), alloc_cb, read_cb); rc < 0)
        c->server->fail("uv_read_start", rc);
    }
  }

  static void read_cb(uv_stream_t* stream, ssize_t nread, const uv_buf_t*) {
    auto* c = static_cast<Connection*>(stream->data);
    Server* s = c->server;
    // End of file, or the client went away (which is the generator's to
    // report, not a failure of the server): the connection is over.
    if (nread == UV_EOF || nread == UV_ECONNRESET) {
      close_conn(c);
      return;
    }
    if (nread < 0) {
      s->fail("read", static_cast<int>(nread));
      return;
    }
    if (nread == 0) return;  // EAGAIN: nothing this time
    char* const bytes = [&] {
      if constexpr (how == Reading::per_connection) return c->buf;
      else return s->buf;
    }();
    uv_buf_t out = uv_buf_init(bytes, static_cast<unsigned>(nread));
    const int written = uv_try_write(stream, &out, 1);
    if (written == nread) return;
    if (written == UV_EPIPE || written == UV_ECONNRESET) {
      close_conn(c);
      return;
    }
    if (written < 0 && written != UV_EAGAIN) {
      s->fail("uv_try_write", written);
      return;
    }
    const size_t done = written > 0 ? static_cast<size_t>(written) : 0;
    const size_t rest = static_cast<size_t>(nread) - done;
    if constexpr (how == Reading::per_connection) {
      // Queue the rest and stop reading into the buffer until it is written.
      out = uv_buf_init(bytes + done, static_cast<unsigned>(rest));
      ++s->queued_writes;
      if (int rc = uv_read_stop(stream); rc < 0) {
        s->fail("uv_read_stop", rc);
        return;
      }
      if (int rc = uv_write(&c->write_req, stream, &out, 1, write_cb); rc < 0) s->fail("uv_write", rc);
    } else {
      // The loop's buffer is reused by the next read callback, so the rest
      // is copied into a request of its own.
      auto* w = static_cast<PendingWrite<N, how>*>(::operator new(sizeof(PendingWrite<N, how>) + rest, std::nothrow));
      if (!w) {
        s->fail("new PendingWrite", UV_ENOMEM);
        return;
      }
      w->req.data = w;
      w->conn = c;
      std::memcpy(w->data(), bytes + done, rest);
      ++s->queued_writes;
      uv_buf_t pending = uv_buf_init(w->data(), static_cast<unsigned>(rest));
      if (int rc = uv_write(&w->req, stream, &pending, 1, write_cb); rc < 0) {
        ::operator delete(w);
        s->fail("uv_write", rc);
      }
    }
  }

  static void on_connection_cb(uv_stream_t* listener, int status) {
    auto* s = static_cast<Server*>(listener->data);
    if (status < 0) {
      s->fail("accept (uv_listen's connection callback)", status);
      return;
    }
    auto* c = new (std::nothrow) Connection;
    if (c == nullptr) {
      s->fail("new Conn", UV_ENOMEM);
      return;
    }
    c->server = s;
    if (int rc = uv_tcp_init(listener->loop, &c->tcp); rc < 0) {
      delete c;
      s->fail("uv_tcp_init", rc);
      return;
    }
    c->tcp.data = c;
    if constexpr (how == Reading::per_connection) c->write_req.data = c;
    s->link(c);
    if (int rc = uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->tcp)); rc < 0) {
      s->fail("uv_accept", rc);
      return;
    }
    ++s->accepted;
    if (uv_os_fd_t fd; uv_fileno(reinterpret_cast<uv_handle_t*>(&c->tcp), &fd) == 0 && fd > s->max_fd)
      s->max_fd = fd;
    if (int rc = uv_tcp_nodelay(&c->tcp, 1); rc < 0) {
      s->fail("uv_tcp_nodelay", rc);
      return;
    }
    if (int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), alloc_cb, read_cb); rc < 0)
      s->fail("uv_read_start", rc);
  }

  static void on_done_cb(uv_poll_t* h, int status, int) {
    auto* s = static_cast<Server*>(h->data);
    if (status < 0) {
      s->fail("uv_poll (load generator done)", status);
      return;
    }
    s->on_done();
  }
};

}  // namespace cmbench::echo::uv
