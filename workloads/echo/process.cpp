// echo in the process model: the classic forking server
// (workloads/echo/process_server.hpp, which idle runs too). The cell process
// owns the listener and accepts; every connection gets a forked child that
// closes its copy of the listener, echoes with blocking read/write until end
// of file, and _exit()s. The acceptor reaps its children without a SIGCHLD
// handler: waitpid(WNOHANG) after every wake-up of its poll(), which wakes at
// least every kReapIntervalMs, so an ended child is a zombie for a bounded
// time only.
//
// The acceptor's poll() watches two descriptors: the (non-blocking)
// listener, and the load generator's done_fd. When the generator is done,
// every connection has already been closed by it, so every child is reading
// its end of file and exiting; the acceptor closes the listener and reaps
// them all (blocking) before probe.stop(), so their CPU time counts.
//
// Limits: accept() failing with EMFILE/ENFILE, or fork() failing with EAGAIN
// (pid_max, threads-max, RLIMIT_NPROC) or ENOMEM, ends serving at once: the
// listener is closed, every child is killed and reaped, and the error is
// thrown (LimitError: the cell is a `limit`). The generator, which would
// wait for responses that never come, is killed by LoadGen's destructor.
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <unordered_set>

#include "harness/cell/errors.hpp"
#include "harness/registry/registry.hpp"
#include "models/process/process.hpp"
#include "workloads/echo/process_server.hpp"
#include "workloads/echo/spec.hpp"

namespace cmbench::echo::process {
namespace {

void run(const Params& p, Probe& probe) {
  const uint64_t connections = p.u("connections");
  raise_fd_limit(connections);
  uint16_t port = 0;
  Fd listener(listen_loopback(kBacklog(connections), SOCK_NONBLOCK, port));
  probe.note("server", "the cell accepts (poll on a non-blocking listener); fork() per "
                       "connection; the child echoes with blocking read/send until EOF");
  probe.note("reaping", fmt::format("waitpid(WNOHANG) after every poll() wake-up, at least every "
                                    "{} ms; no SIGCHLD handler",
                                    kReapIntervalMs));

  probe.start();
  LoadGen gen(p, port);
  ConnectionChildren children(connections);
  ServerError error;
  pollfd fds[2] = {{listener.get(), POLLIN, 0}, {gen.done_fd(), POLLIN, 0}};
  for (;;) {
    const int n = ::poll(fds, 2, kReapIntervalMs);
    if (n < 0 && errno != EINTR) {
      error = {"poll", errno};
      break;
    }
    children.reap_ended();
    if (n <= 0) continue;
    if (fds[1].revents != 0) break;  // the generator is done
    if (fds[0].revents == 0) continue;
    accept_waiting<kReadBuffer>(listener, children, error);
    if (error) break;
  }
  if (children.failure().empty() && !error) {
    Verdict verdict = Verdict::fail("");
    try {
      verdict = gen.finish(probe);
    } catch (const SystemError&) {
      // The generator's error may be the echo of a connection's own failure
      // (its child reset the connection as it exited): that failure first.
      listener.close();
      children.reap_all();
      if (!children.failure().empty()) throw SystemError(children.failure(), children.failure_err());
      throw;
    }
    listener.close();
    children.reap_all();
    probe.stop();
    if (!children.failure().empty()) throw SystemError(children.failure(), children.failure_err());
    probe.note("processes", children.forked());
    probe.verify(verdict);
    return;
  }
  // Serving failed: nothing may be left behind, and nothing waits for the
  // generator (LoadGen's destructor kills it).
  listener.close();
  children.kill_all();
  if (error)
    throw_errno(error.connection ? fmt::format("{} (connection {} of {})", error.call, error.connection, connections)
                                 : error.call,
                error.err);
  throw SystemError(children.failure(), children.failure_err());
}

}  // namespace
}  // namespace cmbench::echo::process

CMBENCH_IMPL(echo, process, cmbench::echo::process::run, nullptr)
