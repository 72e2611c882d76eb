// echo in the thread model: the thread-per-connection server. An acceptor
// thread blocks in accept(); every connection gets a std::thread that blocks
// in read() and writes back what it read, until end of file. The kernel
// schedules them all; a request is a wake-up of the connection's thread.
//
// The main thread blocks in poll() on two descriptors: the load generator's
// done_fd and an eventfd the server's threads write when serving fails. When
// the generator is done, it has already closed every connection, so every
// connection thread is returning from its end of file; the main thread stops
// the acceptor and joins every thread before probe.stop().
//
// The server (the acceptor, the connection threads, how they stop) is
// workloads/echo/thread_server.hpp, which idle runs too.
//
// Limits: accept() failing (EMFILE/ENFILE) or a thread that cannot be
// created (pthread_create's EAGAIN: RLIMIT_NPROC, threads-max, pid_max,
// memory for the stack) stops serving at once: the main thread wakes, shuts
// every connection down (shutdown(SHUT_RDWR) makes each blocked read() return
// end of file), joins every thread and throws the error (LimitError: the
// cell is a `limit`). LoadGen's destructor then kills the generator.
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
#include "workloads/echo/spec.hpp"
#include "workloads/echo/thread_server.hpp"

namespace cmbench::echo::thread {
namespace {

// The server's first error, as the cell's outcome: LimitError or SystemError
// naming the call (and the connection whose thread could not be created).
[[noreturn]] void throw_error(const Server<kReadBuffer>::Error& e) {
  throw_errno(e.connection ? fmt::format("{} for connection {}", e.call, e.connection) : e.call, e.err);
}

void run(const Params& p, Probe& probe) {
  const uint64_t connections = p.u("connections");
  raise_fd_limit(connections);
  uint16_t port = 0;
  Fd listener(listen_loopback(kBacklog(connections), 0, port));
  Fd wake(::eventfd(0, EFD_CLOEXEC));
  if (!wake) throw_errno("eventfd");
  probe.note("server", "an acceptor std::thread blocking in accept(); a std::thread per "
                       "connection, blocking read/send until EOF");
  probe.note("stack_bytes", models::thread::default_stack_bytes());

  probe.start();
  LoadGen gen(p, port);
  Server<kReadBuffer> server(listener.get(), wake.get(), connections);
  server.start();
  pollfd fds[2] = {{gen.done_fd(), POLLIN, 0}, {wake.get(), POLLIN, 0}};
  while (::poll(fds, 2, -1) < 0) {
    if (errno != EINTR) throw_errno("poll");
  }
  if (server.failed()) {
    server.stop(/*abort=*/true);
    throw_error(server.error());
  }
  Verdict verdict = gen.finish(probe);
  server.stop(/*abort=*/false);
  listener.reset();
  probe.stop();
  // A connection that failed after the generator was done (it would have
  // seen the failure otherwise) still fails the run.
  if (server.failed()) throw_error(server.error());
  probe.note("threads", server.accepted() + 1);
  probe.verify(verdict);
}

}  // namespace
}  // namespace cmbench::echo::thread

CMBENCH_IMPL(echo, thread, cmbench::echo::thread::run, nullptr)
