// idle in the coro model: echo's server of C++20 coroutines on one
// io_context with Boost.Asio sockets, in the shape of Asio's coroutine echo
// server example: an acceptor coroutine co_spawns one coroutine per
// connection, which loops async_read_some / async_write until end of stream.
// Its read buffer is a local array, so it lives in the coroutine's frame. An
// idle connection is a coroutine suspended in async_read_some: its frame
// (with the buffer), co_spawn's entry frame, the pending read operation,
// Asio's per-descriptor reactor state, and its socket.
//
// A watcher coroutine waits for the load generator's done_fd (async_wait on
// a posix::stream_descriptor): on ready it reads memory and says go; on done
// it collects the result, closes the acceptor and every socket still open,
// and every coroutine ends; io_context::run() returns (as echo's,
// workloads/echo/coro.cpp). An accept error (EMFILE) cancels the watcher's
// wait; the cell then throws a LimitError naming the connections reached.
#include <fmt/format.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <cstdint>
#include <exception>
#include <list>

#include "harness/cell/errors.hpp"
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/coro/runtime.hpp"
#include "workloads/echo/asio_done.hpp"
#include "workloads/echo/coro_server.hpp"
#include "workloads/idle/spec.hpp"

namespace cmbench::idle::coro {

namespace rt = cmbench::coro;
namespace asio = boost::asio;
using asio::ip::tcp;
using rt::error_code;

namespace {

using echo::BufferOn;
using echo::coro::Server;

rt::Task<> watcher(Server& server, echo::LoadGen& gen, Probe& probe, uint64_t connections, Verdict& verdict,
                   std::exception_ptr& failure) {
  for (bool done = false; !done && !server.accept_error;) {
    switch (gen.next_signal()) {
      case echo::LoadGen::Signal::ready:
        probe.memory_parked(connections);
        gen.go();
        break;
      case echo::LoadGen::Signal::done:
        done = true;
        break;
      case echo::LoadGen::Signal::none:
        co_await server.done.async_wait(asio::posix::stream_descriptor::wait_read, rt::kAwaitTuple);
        break;
    }
  }
  if (!server.accept_error) {
    try {
      verdict = gen.finish(probe);
    } catch (...) {
      failure = std::current_exception();
    }
  }
  echo::coro::stop(server);
}

void run(const Params& params, Probe& probe) {
  const uint64_t connections = params.u("connections");
  probe.note("fd_limit", raise_fd_limit(connections));
  asio::io_context io(1);
  uint16_t port = 0;
  tcp::acceptor acceptor(io, tcp::v4(), echo::listen_loopback(echo::kBacklog(connections), SOCK_NONBLOCK, port));

  rt::prepare(probe);
  probe.note("io", "Boost.Asio on one io_context(1): a coroutine per connection, co_await "
                   "async_read_some / async_write (asio::deferred)");
  probe.note("read_buffer", fmt::format("{} bytes, a local array in the connection coroutine's frame", kReadBuffer));

  Verdict verdict = Verdict::fail("the load generator's result was never collected");
  std::exception_ptr failure;

  probe.memory_baseline();
  probe.start();
  echo::LoadGen gen(load(params), port);
  echo::DoneDescriptor done(io, gen);
  Server server{io, acceptor, {}, {}, done};

  rt::spawn(io, echo::coro::accept_loop<kReadBuffer, BufferOn::unit>(server));
  rt::spawn(io, watcher(server, gen, probe, connections, verdict, failure));
  io.run();
  probe.stop();

  // A connection's own failure first: the generator's error is its echo.
  if (server.serve_error) throw_errno(server.serve_error.call, server.serve_error.ec.value());
  if (failure) std::rethrow_exception(failure);
  if (server.accept_error) {
    probe.note("reached", server.accepted);
    const int err = server.accept_error.value();
    const std::string msg = limit_message(params, server.accepted, "accept", err);
    if (is_limit_errno(err)) throw LimitError(msg, err);
    throw SystemError(msg, err);
  }
  probe.note("connections_accepted", server.accepted);
  if (verdict.ok) verdict = verify_accepted(params, server.accepted);
  probe.verify(verdict);
}

// Coroutines of this workload share the list of open sockets and the acceptor unguarded: one thread only
// (models/coro/runtime.hpp, Threads).
std::optional<std::string> unsupported(const Params& params) {
  return rt::one_thread_only(params, "the list of open sockets and the acceptor");
}

}  // namespace

}  // namespace cmbench::idle::coro

CMBENCH_IMPL(idle, coro, cmbench::idle::coro::run, cmbench::idle::coro::unsupported)
