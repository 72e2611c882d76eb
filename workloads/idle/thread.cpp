// idle in the thread model: echo's thread-per-connection server
// (workloads/echo/thread_server.hpp) with idle's read buffer. An acceptor
// thread blocks in accept(); every connection gets a std::thread
// that blocks in read() into a buffer on its own stack and writes back what
// it read, until end of file. An idle connection is a thread asleep in
// read(): its stack (std::thread's default mapping, of which the pages it
// touched are resident), its kernel stack and task, and its socket.
//
// The main thread blocks in poll() on the load generator's done_fd and an
// eventfd the server's threads write when serving fails. On the generator's
// ready it reads memory (every connection is accepted and its thread parked
// in read()) and says go; on done it joins every thread (each returning from
// its end of file) before probe.stop().
//
// Limits: a thread that cannot be created (pthread_create's EAGAIN: pid_max,
// threads-max, vm.max_map_count for the stacks, RLIMIT_NPROC) or an accept
// failing (EMFILE) stops serving at once: every connection is shut down
// (shutdown(SHUT_RDWR) makes each blocked read() return end of file), every
// thread joined, and the error thrown as a LimitError naming the connections
// reached. LoadGen's destructor then kills the generator.
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "harness/cell/errors.hpp"
#include "harness/cell/fd.hpp"
#include "harness/registry/registry.hpp"
#include "models/thread/stack.hpp"
#include "workloads/echo/thread_server.hpp"
#include "workloads/idle/spec.hpp"

namespace cmbench::idle::thread {
namespace {

using Server = echo::thread::Server<kReadBuffer>;

// After stop(): the server's first error, as the cell's outcome, naming the
// connections reached.
[[noreturn]] void throw_error(const Params& p, Server& server) {
  const Server::Error e = server.error();
  const std::string msg = limit_message(p, server.accepted(), e.call, e.err);
  if (is_limit_errno(e.err)) throw LimitError(msg, e.err);
  throw SystemError(msg, e.err);
}

void run(const Params& p, Probe& probe) {
  const uint64_t connections = p.u("connections");
  probe.note("fd_limit", raise_fd_limit(connections));
  uint16_t port = 0;
  Fd listener(echo::listen_loopback(echo::kBacklog(connections), 0, port));
  Fd wake(::eventfd(0, EFD_CLOEXEC));
  if (!wake) throw_errno("eventfd");
  probe.note("server", "an acceptor std::thread blocking in accept(); a std::thread per connection, "
                       "blocking read() into a buffer on its stack and send() until EOF");
  probe.note("read_buffer", fmt::format("{} bytes on the connection thread's stack", kReadBuffer));
  probe.note("stack_bytes", models::thread::default_stack_bytes());

  probe.memory_baseline();
  probe.start();
  echo::LoadGen gen(load(p), port);
  Server server(listener.get(), wake.get(), connections);
  server.start();
  pollfd fds[2] = {{gen.done_fd(), POLLIN, 0}, {wake.get(), POLLIN, 0}};
  bool done = false;
  while (!done && !server.failed()) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      throw_errno("poll");
    }
    if (fds[0].revents == 0) continue;
    switch (gen.next_signal()) {
      case echo::LoadGen::Signal::ready:
        probe.memory_parked(connections);
        gen.go();
        break;
      case echo::LoadGen::Signal::done:
        done = true;
        break;
      case echo::LoadGen::Signal::none:
        break;
    }
  }
  if (server.failed()) {
    server.stop(/*abort=*/true);
    probe.note("reached", server.accepted());
    throw_error(p, server);
  }
  Verdict verdict = gen.finish(probe);
  server.stop(/*abort=*/false);
  listener.reset();
  probe.stop();
  if (server.failed()) throw_error(p, server);
  probe.note("threads", server.accepted() + 1);
  probe.note("connections_accepted", server.accepted());
  if (verdict.ok) verdict = verify_accepted(p, server.accepted());
  probe.verify(verdict);
}

}  // namespace
}  // namespace cmbench::idle::thread

CMBENCH_IMPL(idle, thread, cmbench::idle::thread::run, nullptr)
