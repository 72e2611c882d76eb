// echo in the coro model: a TCP echo server of C++20 coroutines on one
// io_context (one thread) with Boost.Asio sockets, in the shape of Asio's own
// coroutine echo server example (an acceptor coroutine that co_spawns one
// coroutine per connection, which loops async_read_some / async_write until
// end of stream).
//
// As the spec asks, accepted connections get TCP_NODELAY and each reads into
// a buffer of echo::kReadBuffer bytes allocated once per connection.
//
// Shutdown: a watcher coroutine waits for the generator's done_fd with
// async_wait on a posix::stream_descriptor, collects the result
// (gen.finish(), which then does not block), then closes the acceptor and
// every socket still open (their pending operations complete with
// operation_aborted) and the connection coroutines end; io_context::run()
// returns once every coroutine has ended. A server-side accept error (EMFILE
// when C connections do not fit) cancels the watcher's wait; it then shuts
// down the same way and the cell throws the error without waiting for the
// generator.
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/write.hpp>

#include <cstdint>
#include <exception>
#include <list>
#include <memory>

#include "harness/cell/errors.hpp"
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/coro/runtime.hpp"
#include "workloads/echo/asio_done.hpp"
#include "workloads/echo/coro_server.hpp"
#include "workloads/echo/spec.hpp"

namespace cmbench::echo::coro {

namespace rt = cmbench::coro;
namespace asio = boost::asio;
using asio::ip::tcp;
using rt::error_code;

namespace {

rt::Task<> watcher(Server& server, LoadGen& gen, Probe& probe, Verdict& verdict,
                   std::exception_ptr& failure) {
  co_await server.done.async_wait(asio::posix::stream_descriptor::wait_read, rt::kAwaitTuple);
  if (!server.accept_error) {
    try {
      verdict = gen.finish(probe);
    } catch (...) {
      failure = std::current_exception();
    }
  }
  stop(server);
}

void run(const Params& params, Probe& probe) {
  const uint64_t connections = params.u("connections");
  raise_fd_limit(connections);
  asio::io_context io(1);
  uint16_t port = 0;
  tcp::acceptor acceptor(io, tcp::v4(),
                         listen_loopback(kBacklog(connections), SOCK_NONBLOCK, port));

  rt::prepare(probe);
  probe.note("io",
             "Boost.Asio on one io_context(1): a coroutine per connection, co_await "
             "async_read_some / async_write (asio::deferred)");
  probe.note("tcp_nodelay", true);
  probe.note("read_buffer", kReadBuffer);

  Verdict verdict = Verdict::fail("the load generator's result was never collected");
  std::exception_ptr failure;

  probe.start();
  LoadGen gen(params, port);
  DoneDescriptor done(io, gen);  // LoadGen's descriptor: released, not closed
  Server server{io, acceptor, {}, {}, done};

  rt::spawn(io, accept_loop<kReadBuffer, BufferOn::heap>(server));
  rt::spawn(io, watcher(server, gen, probe, verdict, failure));
  io.run();
  probe.stop();

  // A connection's own failure first: the generator's error is its echo.
  if (server.serve_error) throw_errno(server.serve_error.call, server.serve_error.ec.value());
  if (failure) std::rethrow_exception(failure);
  if (server.accept_error) throw_errno("accept", server.accept_error.value());
  probe.note("connections_accepted", server.accepted);
  probe.verify(verdict);
}

// Coroutines of this workload share the list of open sockets and the acceptor unguarded: one thread only
// (models/coro/runtime.hpp, Threads).
std::optional<std::string> unsupported(const Params& params) {
  return rt::one_thread_only(params, "the list of open sockets and the acceptor");
}

}  // namespace

}  // namespace cmbench::echo::coro

CMBENCH_IMPL(echo, coro, cmbench::echo::coro::run, cmbench::echo::coro::unsupported)
