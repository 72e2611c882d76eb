// echo in the boost-fiber model: a TCP echo server of Boost.Fiber fibers
// doing Boost.Asio I/O, in the pattern Boost.Fiber's documentation gives for
// sharing a thread with Asio ("Integrating Fibers with Asynchronous
// Callbacks", "Sharing a Thread with Another Main Loop"):
//
// - An acceptor fiber, and a fiber per connection that reads and writes back
//   until end of stream, in synchronous-looking code: each call starts the
//   Asio asynchronous operation with a completion handler that fulfils a
//   boost::fibers::promise, and waits on its future, which parks only the
//   calling fiber. (Each operation allocates the future's shared state: the
//   price of the documented pattern, part of what is measured.)
// - A polling fiber drives the io_context on the same thread: while other
//   fibers are ready it runs io_context::poll() (the handlers that are ready,
//   without blocking) and yields to them; when none is ready it blocks in
//   io_context::run_one() (epoll) until a handler runs. It asks the scheduler
//   whether fibers are ready through round_robin::has_ready_fibers(), which is
//   why the scheduling algorithm here is PollingRoundRobin: Boost.Fiber's own
//   round_robin, unchanged, that lets the poller reach it. So the thread never
//   spins: it sleeps in epoll exactly when no fiber can run, as with Boost's
//   own asio::round_robin example.
//
// As the spec asks, accepted connections get TCP_NODELAY and each reads into
// a buffer of echo::kReadBuffer bytes allocated once per connection.
//
// Shutdown: the main fiber (on the thread's own stack, which gen.finish()
// needs) waits for the generator's done_fd with an async_wait on a
// posix::stream_descriptor, collects the result, then closes the acceptor and
// every socket still open (their pending operations complete with
// operation_aborted), joins the acceptor and every connection fiber, and
// finally the poller, which ends once shutdown began and no connection fiber
// is left. A server-side accept error (EMFILE when C connections do not fit)
// cancels main's wait; main then shuts down the same way and throws the
// error without waiting for the generator.
#include <sys/socket.h>

#include <boost/asio.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <vector>

#include "harness/cell/errors.hpp"
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/boost_fiber/runtime.hpp"
#include "workloads/echo/asio_done.hpp"
#include "workloads/echo/boost_fiber_server.hpp"
#include "workloads/echo/spec.hpp"

namespace cmbench::echo::boost_fiber {

namespace bf = cmbench::boost_fiber;
namespace fibers = boost::fibers;
namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

void run(const Params& params, Probe& probe) {
  const uint64_t connections = params.u("connections");
  auto salloc = bf::stack_allocator(params.u("stack_size"));
  raise_fd_limit(connections);
  asio::io_context io(1);
  // Keeps run_one() and poll() from ever finding the io_context out of work
  // (which would stop it): the poller decides when to end.
  auto work = asio::make_work_guard(io);
  uint16_t port = 0;
  tcp::acceptor acceptor(io, tcp::v4(),
                         listen_loopback(kBacklog(connections), SOCK_NONBLOCK, port));

  bf::prepare(probe, params.u("stack_size"));
  probe.note("io",
             "Boost.Asio on one io_context(1): a fiber per connection; every async operation's "
             "handler fulfils a boost::fibers::promise that the fiber waits on (one future per "
             "operation)");
  probe.note("poll_policy",
             "a polling fiber: io_context::poll() then yield while other fibers are ready "
             "(round_robin::has_ready_fibers), else io_context::run_one() blocking in epoll");
  probe.note("tcp_nodelay", true);
  probe.note("read_buffer", kReadBuffer);

  Server server(io, acceptor, 0);

  probe.start();
  LoadGen gen(params, port);
  DoneDescriptor done(io, gen);  // LoadGen's descriptor: released, not closed
  server.start<kReadBuffer, BufferOn::heap>(salloc, done);

  wait_readable(done);
  Verdict verdict = Verdict::fail("the load generator's result was never collected");
  std::exception_ptr failure;
  if (!server.accept_error()) {
    try {
      verdict = gen.finish(probe);
    } catch (...) {
      failure = std::current_exception();
    }
  }
  server.stop();
  probe.stop();

  // A connection's own failure first: the generator's error is its echo.
  if (server.serve_error()) throw_errno(server.serve_error().call, server.serve_error().ec.value());
  if (failure) std::rethrow_exception(failure);
  if (server.accept_error()) throw_errno("accept", server.accept_error().value());
  probe.note("connections_accepted", server.accepted());
  probe.note("polls", server.polls());
  probe.note("blocking_polls", server.blocking_polls());
  probe.verify(verdict);
}

// This workload's fibers share one io_context, polled by one fiber, and the list of open sockets unguarded: one thread only
// (models/boost_fiber/runtime.hpp, 3).
std::optional<std::string> unsupported(const Params& params) {
  return bf::one_thread_only(params, "one io_context, polled by one fiber, and the list of open sockets");
}

}  // namespace

}  // namespace cmbench::echo::boost_fiber

CMBENCH_IMPL(echo, boost_fiber, cmbench::echo::boost_fiber::run, cmbench::echo::boost_fiber::unsupported)
