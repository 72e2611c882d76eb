// echo in the fiber model: a TCP echo server on the project's own runtime,
// written as Go would write it — an accept-loop fiber, and a fiber per
// connection that reads and writes back until end of stream, in plain
// synchronous-looking code. The calls are models/fiber/net.hpp's: each tries
// the non-blocking system call and, on EAGAIN, parks the fiber in the
// scheduler's reactor (epoll, edge-triggered, one EPOLL_CTL_ADD per
// connection) until the descriptor is ready; the one thread sleeps in
// epoll_pwait2 only when no fiber is runnable. So a request costs the server
// one read, one write, a read that finds nothing (EAGAIN) and its share of an
// epoll_pwait2 — as with Go's netpoller.
//
// As the spec asks of every model, accepted connections get TCP_NODELAY (Go
// sets it too) and each reads into a buffer of echo::kReadBuffer bytes,
// allocated when the connection is accepted (not per request).
//
// Shutdown: a controller fiber waits (wait_readable) on the generator's
// done_fd and collects its result on the thread's stack (gen.finish() is too
// deep for a small fiber stack), then shuts down (SHUT_RDWR) the listener —
// the accept loop's accept returns "closed" and the loop closes it — and any
// connection still open, whose read then returns end of stream (normally none
// is: the generator closes each one after its last response). Shut down, not
// closed, because with threads > 1 the fiber that owns the socket may be
// running on another thread at that moment: only the owner closes, and the
// list of open connections is guarded by a mutex. The scheduler's run() returns
// when every fiber has ended: that is the join; probe.stop() follows it.
//
// A server-side error (accept failing with EMFILE when C connections do not
// fit) escapes the accept loop: the runtime unwinds every fiber (their
// sockets close as they unwind), run() rethrows, the listener is closed, and
// the error leaves the cell without waiting for the generator (its
// destructor kills it).
#include <cstdint>
#include <memory>
#include <mutex>

#include "harness/cell/errors.hpp"
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/fiber/net.hpp"
#include "models/fiber/scheduler.hpp"
#include "workloads/echo/fiber_server.hpp"
#include "workloads/echo/spec.hpp"

namespace cmbench::echo::fiber {

namespace rt = cmbench::fiber;
namespace net = cmbench::fiber::net;

namespace {

void run(const Params& params, Probe& probe) {
  const uint64_t connections = params.u("connections");
  raise_fd_limit(connections);
  rt::Scheduler sched(params.u("stack_size"), static_cast<unsigned>(params.u("threads")));
  uint16_t port = 0;
  net::Socket listener = net::listen_loopback(sched, kBacklog(connections), port);
  const int listen_fd = listener.fd();  // for the controller: the accept loop owns `listener`
  OpenList open;
  Verdict verdict = Verdict::fail("the load generator's result was never collected");
  uint64_t accepted = 0;

  probe.note("scheduler",
             "cmbench's own, cooperative (run-queue order: the threads note); with nothing runnable the "
             "thread waits in epoll_pwait2");
  probe.note("io",
             "a fiber per connection; read/write/accept try the non-blocking call and park the "
             "fiber on EAGAIN until epoll (edge-triggered, registered once per descriptor) "
             "reports it ready");
  probe.note("poll_policy",
             "blocking epoll only when no fiber is runnable; otherwise a zero-timeout poll once "
             "per round of the run queue (at least 64 switches)");
  probe.note("tcp_nodelay", true);
  probe.note("read_buffer", kReadBuffer);
  probe.note("threads", sched.threading());
  probe.note("stack_size", sched.stack_size());
  probe.note("stack_protection", sched.stack_protection());

  probe.start();
  LoadGen gen(params, port);
  sched.spawn([&] {  // the accept loop
    while (net::Socket conn = net::accept(listener)) {
      ++accepted;
      net::set_nodelay(conn);
      sched.spawn([conn = std::move(conn), &open]() mutable { serve<kReadBuffer, BufferOn::heap>(conn, open); });
    }
    listener.close();
  });
  sched.spawn([&] {  // the controller
    sched.wait_readable(gen.done_fd());
    sched.forget(gen.done_fd());
    sched.on_thread_stack([&] { verdict = gen.finish(probe); });
    net::shutdown(listen_fd);
    open.shutdown_all();
  });
  try {
    sched.run();
  } catch (...) {
    listener.close();
    throw;
  }
  probe.stop();

  probe.note("connections_accepted", accepted);
  probe.note("blocking_polls", sched.blocking_polls());
  probe.note("round_polls", sched.round_polls());
  probe.verify(verdict);
}

}  // namespace

}  // namespace cmbench::echo::fiber

CMBENCH_IMPL(echo, fiber, cmbench::echo::fiber::run, nullptr)
