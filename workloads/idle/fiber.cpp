// idle in the fiber model: echo's server on the project's own runtime
// (its connection fibers: workloads/echo/fiber_server.hpp), as Go would
// write it: an accept-loop fiber, and a fiber per connection that
// reads into a buffer on its own stack and writes back, in synchronous-
// looking code over models/fiber/net.hpp (each call tries the non-blocking
// system call and parks the fiber in the reactor on EAGAIN). An idle
// connection is a fiber parked in wait_readable(): its control block, the
// pages of its stack it touched, one epoll registration and its socket.
//
// A controller fiber watches the load generator's done_fd: on ready it has
// memory read on the thread's stack (on_thread_stack: the probe reads /proc,
// too deep for a small fiber stack) and says go; on done it collects the
// result and shuts the listener and every open connection down, so every
// fiber ends and run() returns (as echo's, workloads/echo/fiber.cpp).
//
// A server-side error (accept failing with EMFILE; a fiber that cannot get a
// stack: LimitError from spawn) escapes: the runtime unwinds every fiber
// (their sockets close), run() rethrows, and the cell ends as `limit` with
// the connections reached.
#include <fmt/format.h>

#include <atomic>
#include <cstdint>
#include <mutex>

#include "harness/cell/errors.hpp"
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/fiber/net.hpp"
#include "models/fiber/scheduler.hpp"
#include "workloads/echo/fiber_server.hpp"
#include "workloads/idle/spec.hpp"

namespace cmbench::idle::fiber {

namespace rt = cmbench::fiber;
namespace net = cmbench::fiber::net;

namespace {

using echo::BufferOn;
using echo::fiber::OpenList;

void run(const Params& params, Probe& probe) {
  const uint64_t connections = params.u("connections");
  probe.note("fd_limit", raise_fd_limit(connections));
  rt::Scheduler sched(params.u("stack_size"), static_cast<unsigned>(params.u("threads")));
  uint16_t port = 0;
  net::Socket listener = net::listen_loopback(sched, echo::kBacklog(connections), port);
  const int listen_fd = listener.fd();
  OpenList open;
  Verdict verdict = Verdict::fail("the load generator's result was never collected");
  std::atomic<uint64_t> accepted{0};

  probe.note("scheduler", "cmbench's own, cooperative (run-queue order: the threads note); with nothing "
                          "runnable the thread waits in epoll_pwait2");
  probe.note("io", "a fiber per connection; read/write/accept park the fiber on EAGAIN until epoll "
                   "(edge-triggered, registered once per descriptor) reports it ready");
  probe.note("read_buffer", fmt::format("{} bytes on the connection fiber's stack", kReadBuffer));
  probe.note("threads", sched.threading());
  probe.note("stack_size", sched.stack_size());
  probe.note("stack_protection", sched.stack_protection());

  probe.memory_baseline();
  probe.start();
  echo::LoadGen gen(load(params), port);
  sched.spawn([&] {  // the accept loop
    while (net::Socket conn = net::accept(listener)) {
      accepted.fetch_add(1, std::memory_order_relaxed);
      net::set_nodelay(conn);
      sched.spawn([conn = std::move(conn), &open]() mutable {
        echo::fiber::serve<kReadBuffer, BufferOn::unit>(conn, open);
      });
    }
    listener.close();
  });
  sched.spawn([&] {  // the controller
    for (bool done = false; !done;) {
      switch (gen.next_signal()) {
        case echo::LoadGen::Signal::ready:
          sched.on_thread_stack([&] { probe.memory_parked(connections); });
          gen.go();
          break;
        case echo::LoadGen::Signal::done:
          done = true;
          break;
        case echo::LoadGen::Signal::none:
          sched.wait_readable(gen.done_fd());
          break;
      }
    }
    sched.forget(gen.done_fd());
    sched.on_thread_stack([&] { verdict = gen.finish(probe); });
    net::shutdown(listen_fd);
    open.shutdown_all();
  });
  try {
    sched.run();
  } catch (const LimitError& e) {
    listener.close();
    probe.note("reached", accepted.load());
    throw LimitError(fmt::format("{} after {} of {} connections", e.what(), accepted.load(), connections),
                     e.err());
  } catch (...) {
    listener.close();
    throw;
  }
  probe.stop();

  probe.note("connections_accepted", accepted.load());
  probe.note("blocking_polls", sched.blocking_polls());
  if (verdict.ok) verdict = verify_accepted(params, accepted.load());
  probe.verify(verdict);
}

}  // namespace

}  // namespace cmbench::idle::fiber

CMBENCH_IMPL(idle, fiber, cmbench::idle::fiber::run, nullptr)
