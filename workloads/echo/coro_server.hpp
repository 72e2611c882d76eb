#pragma once
// echo's server in the coro model, which echo and idle both run
// (workloads/echo/coro.cpp, workloads/idle/coro.cpp): an accept loop
// coroutine and a coroutine per connection on one io_context, co_await
// async_read_some / async_write until end of stream. Each workload writes
// its own watcher of the load generator, which ends with stop().
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/write.hpp>

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <list>

#include "models/coro/runtime.hpp"
#include "workloads/echo/asio_done.hpp"
#include "workloads/echo/read_buffer.hpp"
#include "workloads/echo/spec.hpp"

namespace cmbench::echo::coro {

// The sockets of the open connections, so that shutdown can close them; a
// connection removes its own entry when it ends.
using Sockets = std::list<boost::asio::ip::tcp::socket>;

struct Server {
  boost::asio::io_context& io;
  boost::asio::ip::tcp::acceptor& acceptor;
  Sockets sockets;
  boost::system::error_code accept_error;
  boost::asio::posix::stream_descriptor& done;
  ServeError serve_error = {};
  uint64_t accepted = 0;
  bool stopping = false;
};

// A connection's coroutine, start to end: reads of up to N bytes, each
// written back whole before the next read.
template <size_t N, BufferOn where>
cmbench::coro::Task<> serve(Server& server, Sockets::iterator it) {
  namespace rt = cmbench::coro;
  namespace asio = boost::asio;
  asio::ip::tcp::socket& conn = *it;
  ReadBuffer<N, where> buf;
  for (;;) {
    auto [rec, got] = co_await conn.async_read_some(asio::buffer(buf.data(), buf.size()), rt::kAwaitTuple);
    if (rec) {  // end of stream, the client gone, closed at shutdown, or a failure
      server.serve_error.note("read (connection)", rec);
      break;
    }
    auto [wec, sent] = co_await asio::async_write(conn, asio::buffer(buf.data(), got), rt::kAwaitTuple);
    if (wec) {
      server.serve_error.note("write (connection)", wec);
      break;
    }
  }
  boost::system::error_code ignored;
  conn.close(ignored);
  server.sockets.erase(it);
}

template <size_t N, BufferOn where>
cmbench::coro::Task<> accept_loop(Server& server) {
  namespace rt = cmbench::coro;
  namespace asio = boost::asio;
  for (;;) {
    auto [ec, conn] = co_await server.acceptor.async_accept(rt::kAwaitTuple);
    if (ec == asio::error::connection_aborted) continue;
    if (ec) {
      if (ec != asio::error::operation_aborted && !server.stopping) {
        server.accept_error = ec;
        server.done.cancel();  // wakes the watcher: stop serving
      }
      co_return;
    }
    ++server.accepted;
    conn.set_option(asio::ip::tcp::no_delay(true));
    server.sockets.push_back(std::move(conn));
    rt::spawn(server.io, serve<N, where>(server, std::prev(server.sockets.end())));
  }
}

// The watcher's last step: closes the acceptor and every open connection,
// so that the accept loop and every connection's coroutine end.
inline void stop(Server& server) {
  server.stopping = true;
  boost::system::error_code ignored;
  server.acceptor.close(ignored);
  for (boost::asio::ip::tcp::socket& s : server.sockets)
    if (s.is_open()) s.close(ignored);
}

}  // namespace cmbench::echo::coro
