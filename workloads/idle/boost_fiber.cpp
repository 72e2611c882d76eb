// idle in the boost-fiber model: echo's server of Boost.Fiber fibers doing
// Boost.Asio I/O (workloads/echo/boost_fiber_server.hpp): an acceptor fiber, a fiber
// per connection reading into a buffer on its own stack and writing back,
// each operation's completion handler fulfilling a boost::fibers::promise
// the fiber waits on, and a polling fiber driving the io_context on the same
// thread (io_context::poll() and yield while other fibers are ready, a
// blocking run_one() when none is). An idle connection is a fiber parked on
// the future of its pending read: its stack pages, the future's shared state,
// the pending operation, Asio's reactor state, and its socket.
//
// The main fiber (on the thread's own stack) waits for the load generator's
// done_fd (async_wait on a posix::stream_descriptor): on ready it reads
// memory and says go; on done it collects the result, closes the acceptor
// and every socket, and joins every fiber. An accept error (EMFILE) cancels
// its wait; the cell then throws a LimitError naming the connections reached.
#include <fmt/format.h>
#include <sys/socket.h>

#include <boost/asio.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <cstdint>
#include <deque>
#include <exception>
#include <vector>

#include "harness/cell/errors.hpp"
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/boost_fiber/runtime.hpp"
#include "workloads/echo/asio_done.hpp"
#include "workloads/echo/boost_fiber_server.hpp"
#include "workloads/idle/spec.hpp"

namespace cmbench::idle::boost_fiber {

namespace bf = cmbench::boost_fiber;
namespace fibers = boost::fibers;
namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

using echo::BufferOn;
using echo::boost_fiber::Server;
using echo::boost_fiber::wait_readable;

void run(const Params& params, Probe& probe) {
  const uint64_t connections = params.u("connections");
  auto salloc = bf::stack_allocator(params.u("stack_size"));
  probe.note("fd_limit", raise_fd_limit(connections));
  asio::io_context io(1);
  auto work = asio::make_work_guard(io);
  uint16_t port = 0;
  tcp::acceptor acceptor(io, tcp::v4(), echo::listen_loopback(echo::kBacklog(connections), SOCK_NONBLOCK, port));

  bf::prepare(probe, params.u("stack_size"));
  probe.note("io", "Boost.Asio on one io_context(1): a fiber per connection; every async operation's "
                   "handler fulfils a boost::fibers::promise the fiber waits on");
  probe.note("poll_policy", "a polling fiber: io_context::poll() then yield while other fibers are ready, "
                            "else io_context::run_one() blocking in epoll");
  probe.note("read_buffer", fmt::format("{} bytes on the connection fiber's stack", kReadBuffer));

  Server server(io, acceptor, connections);

  probe.memory_baseline();
  probe.start();
  echo::LoadGen gen(load(params), port);
  echo::DoneDescriptor done(io, gen);
  server.start<kReadBuffer, BufferOn::unit>(salloc, done);

  for (bool finished = false; !finished && !server.accept_error();) {
    switch (gen.next_signal()) {
      case echo::LoadGen::Signal::ready:
        probe.memory_parked(connections);
        gen.go();
        break;
      case echo::LoadGen::Signal::done:
        finished = true;
        break;
      case echo::LoadGen::Signal::none:
        wait_readable(done);
        break;
    }
  }
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
  if (const error_code accept_error = server.accept_error()) {
    const uint64_t accepted = server.accepted();
    probe.note("reached", accepted);
    const int err = accept_error.value();
    const std::string msg = limit_message(params, accepted, "accept", err);
    if (is_limit_errno(err)) throw LimitError(msg, err);
    throw SystemError(msg, err);
  }
  probe.note("connections_accepted", server.accepted());
  if (verdict.ok) verdict = verify_accepted(params, server.accepted());
  probe.verify(verdict);
}

// This workload's fibers share one io_context, polled by one fiber, and the list of open sockets unguarded: one thread only
// (models/boost_fiber/runtime.hpp, 3).
std::optional<std::string> unsupported(const Params& params) {
  return bf::one_thread_only(params, "one io_context, polled by one fiber, and the list of open sockets");
}

}  // namespace

}  // namespace cmbench::idle::boost_fiber

CMBENCH_IMPL(idle, boost_fiber, cmbench::idle::boost_fiber::run, cmbench::idle::boost_fiber::unsupported)
