// idle in the process model: echo's forking server
// (workloads/echo/process_server.hpp). The cell process owns the listener
// and accepts; every connection gets a forked child that closes
// its copy of the listener and echoes with blocking read()/send() into a
// buffer on its stack until end of file. An idle connection is a process
// asleep in read(): its task, kernel stack and page tables, the pages it
// wrote since the fork (copy-on-write), and its socket. Memory is PSS summed
// over the process tree (Probe::memory_parked for a process model), so the
// pages the children still share with the cell are counted once.
//
// The acceptor's poll() watches the (non-blocking) listener and the load
// generator's done_fd, and reaps ended children with waitpid(WNOHANG) after
// every wake-up (at least every kReapIntervalMs). On the generator's ready it
// reads memory and says go; on done it closes the listener and reaps every
// child (each reading its end of file) before probe.stop().
//
// Limits: fork() failing (EAGAIN: pid_max, threads-max, RLIMIT_NPROC; ENOMEM)
// or accept() failing (EMFILE) ends serving at once: every child is killed
// and reaped, and the error is thrown as a LimitError naming the connections
// reached; LoadGen's destructor kills the generator.
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <unordered_set>

#include "harness/cell/errors.hpp"
#include "harness/registry/registry.hpp"
#include "models/process/process.hpp"
#include "workloads/echo/process_server.hpp"
#include "workloads/idle/spec.hpp"

namespace cmbench::idle::process {
namespace {

using models::process::Fd;

using echo::process::ConnectionChildren;
using echo::process::kReapIntervalMs;
using echo::process::ServerError;

void run(const Params& p, Probe& probe) {
  const uint64_t connections = p.u("connections");
  probe.note("fd_limit", raise_fd_limit(connections));
  uint16_t port = 0;
  Fd listener(echo::listen_loopback(echo::kBacklog(connections), SOCK_NONBLOCK, port));
  probe.note("server", "the cell accepts (poll on a non-blocking listener); fork() per connection; "
                       "the child echoes with blocking read()/send() until EOF");
  probe.note("read_buffer", fmt::format("{} bytes on the child's stack", kReadBuffer));
  probe.note("reaping", fmt::format("waitpid(WNOHANG) after every poll() wake-up, at least every {} ms",
                                    kReapIntervalMs));

  probe.memory_baseline();
  probe.start();
  echo::LoadGen gen(load(p), port);
  ConnectionChildren children(connections);
  ServerError error;
  pollfd fds[2] = {{listener.get(), POLLIN, 0}, {gen.done_fd(), POLLIN, 0}};
  bool done = false;
  while (!done && !error) {
    const int n = ::poll(fds, 2, kReapIntervalMs);
    if (n < 0 && errno != EINTR) {
      error = {"poll", errno};
      break;
    }
    children.reap_ended();
    if (!children.failure().empty()) break;
    if (n <= 0) continue;
    if (fds[1].revents != 0) {
      switch (gen.next_signal()) {
        case echo::LoadGen::Signal::ready:
          probe.memory_parked(connections);
          gen.go();
          break;
        case echo::LoadGen::Signal::done:
          done = true;
          continue;
        case echo::LoadGen::Signal::none:
          break;
      }
    }
    if (fds[0].revents == 0) continue;
    echo::process::accept_waiting<kReadBuffer>(listener, children, error);
  }
  if (children.failure().empty() && !error) {
    Verdict verdict = gen.finish(probe);
    listener.close();
    children.reap_all();
    probe.stop();
    if (!children.failure().empty()) throw SystemError(children.failure(), children.failure_err());
    probe.note("processes", children.forked());
    probe.note("connections_accepted", children.forked());
    if (verdict.ok) verdict = verify_accepted(p, children.forked());
    probe.verify(verdict);
    return;
  }
  listener.close();
  const uint64_t reached = children.forked();
  children.kill_all();
  probe.note("reached", reached);
  if (error) {
    const std::string msg = limit_message(p, reached, error.call, error.err);
    if (is_limit_errno(error.err)) throw LimitError(msg, error.err);
    throw SystemError(msg, error.err);
  }
  throw SystemError(children.failure(), children.failure_err());
}

}  // namespace
}  // namespace cmbench::idle::process

CMBENCH_IMPL(idle, process, cmbench::idle::process::run, nullptr)
