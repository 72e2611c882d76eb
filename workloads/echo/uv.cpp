// echo in the uv model: one libuv loop on one thread serves every
// connection (workloads/echo/uv_server.hpp, which idle runs too). A uv_tcp_t
// listens; its connection callback accepts into a fresh uv_tcp_t and starts
// reading; every read callback writes back what was read; end of file
// closes the connection. No thread but the cell's, no
// blocking call: the flow of one connection is split over callbacks.
//
// Each connection reads into its own buffer of kReadBuffer bytes (the alloc
// callback hands out the same buffer every time), so a request costs no
// allocation. The buffer may be reused only once libuv no longer needs the
// bytes being echoed: the read callback first tries uv_try_write() (the
// common case on loopback: the bytes are in the socket before it returns, and
// reading goes on); only when the socket cannot take everything does it queue
// the rest with uv_write() and stop reading until the write callback, so a
// pending write's bytes are never overwritten. This is how Node.js writes to
// a stream (try first, queue the rest) and it spares the uv_read_stop /
// uv_read_start pair (each an epoll_ctl) on every request.
//
// The load generator's done_fd is watched with a uv_poll_t. When it is
// readable the generator has closed every connection: the callback closes
// the listener and the poll handle, every connection closes on its end of
// file, and uv_run() returns when no handle is left — every unit has ended
// before probe.stop().
//
// Limits: the connection callback reporting an error, or a connection that
// cannot be set up, stops serving: the listener, the poll handle and every
// connection are closed, uv_run() returns, and the error is thrown
// (LimitError for EMFILE & co: the cell is a `limit`); LoadGen's destructor
// kills the generator. accept() failing with EMFILE or ENFILE, though, mostly
// never reaches the callback: libuv keeps a spare descriptor, and on EMFILE
// it closes the spare, accepts every waiting connection and closes it at
// once ("shedding load", as Node.js servers do), and calls the callback only
// if that trick fails. The generator then sees connections closed before
// their first response and stops. So after a failed run the server checks
// whether its descriptor table was full: the descriptors open once the loop
// has returned, plus the listener and the most connections it held at once,
// reach RLIMIT_NOFILE; with fewer than C connections accepted, accept() hit
// EMFILE, and the run is a `limit` with that errno, as in the other models.
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <new>
#include <optional>
#include <string>

#include "harness/cell/errors.hpp"
#include "harness/registry/registry.hpp"
#include "models/uv/error.hpp"
#include "models/uv/loop.hpp"
#include "workloads/echo/spec.hpp"
#include "workloads/echo/uv_server.hpp"

namespace cmbench::echo::uv {
namespace {

using cmbench::uv::Loop;
using cmbench::uv::throw_uv;

// Each connection reads into a buffer of its own.
using LoopServer = Server<kReadBuffer, Reading::per_connection>;

void run(const Params& p, Probe& probe) {
  const uint64_t connections = p.u("connections");
  const uint64_t fd_limit = raise_fd_limit(connections);
  // Declared in this order so that the loop, whose destructor closes any
  // handle still open, goes before the server that holds the handles and
  // after the generator whose descriptor the poll handle watches.
  LoopServer server;
  std::optional<LoadGen> gen;
  Loop loop;

  const uint16_t port = server.listen(loop.get(), kBacklog(connections));
  // The generator has closed every connection: stop accepting, and let
  // every connection end on its end of file.
  server.on_done = [&server] { server.stop_serving(/*all=*/false); };
  probe.note("server", "one libuv loop: uv_listen, uv_accept, uv_read_start into a per-connection "
                       "buffer, uv_try_write (uv_write for what the socket did not take), "
                       "uv_close on EOF");
  probe.note("continuation", "not used: every callback of echo is an I/O callback run by the loop");

  probe.start();
  gen.emplace(p, port);
  server.watch_done(loop.get(), gen->done_fd());
  loop.run();
  // uv_run returned: no handle is open any more, every connection is closed.
  if (server.error != 0) throw_uv(server.error_call, server.error);
  // Fewer connections accepted than the generator opened: count the
  // descriptors in use now, while the generator's are still open (finish()
  // closes them), to tell below whether the table was full.
  const int64_t open_now = server.accepted < connections ? open_descriptors() : -1;
  // A generator error with an errno is thrown by finish(); here it is held
  // until the check below, since libuv's shedding of connections it cannot
  // hold shows to the generator as resets.
  std::optional<SystemError> generator_error;
  Verdict verdict = Verdict::fail("");
  try {
    verdict = gen->finish(probe);
  } catch (const SystemError& e) {
    generator_error = e;
    verdict = Verdict::fail(e.what());
  }
  // Shed connections: fewer accepted here than the generator opened, the
  // generator lost one (closed or reset by the server, which closes no
  // connection it has not accepted), and the descriptors had run out: what
  // is open now, plus the listener and the most connections open at once,
  // reaches the limit (read now: it may have been lowered since the start).
  // Only accept() failing with EMFILE or ENFILE makes libuv shed, and it
  // does not say which. (Not the highest descriptor a connection got: the
  // generator's descriptors, opened after the listener, may sit above the
  // connections, with the limit right above them.)
  rlimit nofile{};
  const uint64_t limit_now = ::getrlimit(RLIMIT_NOFILE, &nofile) == 0 ? nofile.rlim_cur : fd_limit;
  const uint64_t in_use_at_peak = open_now < 0 ? 0 : static_cast<uint64_t>(open_now) + 1 + server.peak_open;
  const bool shed = !verdict.ok && open_now >= 0 &&
                    (!generator_error || generator_error->err() == ECONNRESET) && in_use_at_peak >= limit_now;
  if (shed)
    throw LimitError(fmt::format("accept: {} (libuv shed the connections it could not hold: its "
                                 "EMFILE trick closes them without calling the connection "
                                 "callback; {} of {} accepted, {} descriptors in use at the most "
                                 "of RLIMIT_NOFILE {}); {}",
                                 std::strerror(EMFILE), server.accepted, connections,
                                 in_use_at_peak, limit_now, verdict.message),
                     EMFILE);
  if (generator_error) throw *generator_error;
  probe.stop();
  probe.note("connections_accepted", server.accepted);
  probe.note("queued_writes", server.queued_writes);
  probe.verify(verdict);
}

}  // namespace
}  // namespace cmbench::echo::uv

CMBENCH_IMPL(echo, uv, cmbench::echo::uv::run, nullptr)
