// idle in the boost-fiber model: echo's server of Boost.Fiber fibers doing
// Boost.Asio I/O (workloads/echo/boost_fiber.cpp): an acceptor fiber, a fiber
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
#include "workloads/idle/spec.hpp"

namespace cmbench::idle::boost_fiber {

namespace bf = cmbench::boost_fiber;
namespace fibers = boost::fibers;
namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

class PollingRoundRobin : public fibers::algo::round_robin {
 public:
  explicit PollingRoundRobin(PollingRoundRobin** self) { *self = this; }
};

struct IoResult {
  error_code ec;
  std::size_t bytes = 0;
};

template <typename Start>
IoResult await_io(Start&& start) {
  fibers::promise<IoResult> promise;
  fibers::future<IoResult> future = promise.get_future();
  start([&promise](const error_code& ec, std::size_t n) { promise.set_value(IoResult{ec, n}); });
  return future.get();
}

void serve(tcp::socket& conn) {
  char buf[kReadBuffer];
  for (;;) {
    IoResult r = await_io([&](auto handler) { conn.async_read_some(asio::buffer(buf), std::move(handler)); });
    if (r.ec) break;
    const std::size_t got = r.bytes;
    r = await_io([&](auto handler) { asio::async_write(conn, asio::buffer(buf, got), std::move(handler)); });
    if (r.ec) break;
  }
  error_code ignored;
  conn.close(ignored);
}

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

  PollingRoundRobin* algo = nullptr;
  fibers::use_scheduling_algorithm<PollingRoundRobin>(&algo);
  struct Restore {
    ~Restore() { fibers::use_scheduling_algorithm<fibers::algo::round_robin>(); }
  } restore;

  std::deque<tcp::socket> sockets;
  std::vector<fibers::fiber> conns;
  conns.reserve(connections);
  uint64_t live = 0;
  bool stopping = false;
  error_code accept_error;
  uint64_t accepted = 0;

  probe.memory_baseline();
  probe.start();
  echo::LoadGen gen(load(params), port);
  echo::DoneDescriptor done(io, gen);

  fibers::fiber poller(std::allocator_arg, salloc, [&] {
    while (!(stopping && live == 0)) {
      if (algo->has_ready_fibers()) {
        io.poll();
        boost::this_fiber::yield();
      } else {
        io.run_one();
      }
    }
  });
  ++live;
  fibers::fiber acceptor_fiber(std::allocator_arg, salloc, [&] {
    for (;;) {
      tcp::socket conn(io);
      IoResult r = await_io([&](auto handler) {
        acceptor.async_accept(conn, [h = std::move(handler)](const error_code& ec) mutable { h(ec, 0); });
      });
      if (r.ec == asio::error::connection_aborted) continue;
      if (r.ec) {
        if (r.ec != asio::error::operation_aborted) {
          accept_error = r.ec;
          done.cancel();
        }
        break;
      }
      ++accepted;
      conn.set_option(tcp::no_delay(true));
      tcp::socket& mine = sockets.emplace_back(std::move(conn));
      ++live;
      conns.emplace_back(std::allocator_arg, salloc, [&mine, &live] {
        serve(mine);
        --live;
      });
    }
    --live;
  });

  for (bool finished = false; !finished && !accept_error;) {
    switch (gen.next_signal()) {
      case echo::LoadGen::Signal::ready:
        probe.memory_parked(connections);
        gen.go();
        break;
      case echo::LoadGen::Signal::done:
        finished = true;
        break;
      case echo::LoadGen::Signal::none:
        await_io([&](auto handler) {
          done.async_wait(asio::posix::stream_descriptor::wait_read,
                          [h = std::move(handler)](const error_code& ec) mutable { h(ec, 0); });
        });
        break;
    }
  }
  Verdict verdict = Verdict::fail("the load generator's result was never collected");
  std::exception_ptr failure;
  if (!accept_error) {
    try {
      verdict = gen.finish(probe);
    } catch (...) {
      failure = std::current_exception();
    }
  }
  stopping = true;
  error_code ignored;
  acceptor.close(ignored);
  acceptor_fiber.join();
  for (tcp::socket& s : sockets)
    if (s.is_open()) s.close(ignored);
  for (fibers::fiber& f : conns) f.join();
  poller.join();
  probe.stop();

  if (failure) std::rethrow_exception(failure);
  if (accept_error) {
    probe.note("reached", accepted);
    const int err = accept_error.value();
    const std::string msg = limit_message(params, accepted, "accept", err);
    if (is_limit_errno(err)) throw LimitError(msg, err);
    throw SystemError(msg, err);
  }
  probe.note("connections_accepted", accepted);
  if (verdict.ok) verdict = verify_accepted(params, accepted);
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
