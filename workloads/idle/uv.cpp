// idle in the uv model: echo's server on one libuv loop
// (workloads/echo/uv_server.hpp), reading into the loop's one buffer. A
// uv_tcp_t listens; its connection callback accepts into a fresh Conn (a
// uv_tcp_t and its links) and starts reading; every read callback writes
// back what was read; end of file closes the connection.
//
// The buffer is the callback model's own idiom, and its claim to little
// memory per connection: libuv asks the alloc callback for a buffer only when
// a read is about to happen, so a connection waiting for data holds none.
// One buffer of the loop (kReadBuffer bytes, like every model's) serves every
// connection: the loop runs one callback at a time and the read callback
// is done with the bytes before it returns, because uv_try_write() puts them
// in the socket at once (on loopback nearly always); the rest, if any, is
// copied into a write request of its own for uv_write() (noted as
// `queued_writes`). An idle connection therefore costs its Conn (noted as
// `conn_bytes`), libuv's epoll registration and its socket.
//
// The load generator's done_fd is watched with a uv_poll_t: on ready the
// callback reads memory and says go; on done it closes the listener and the
// poll handle, every connection closes on its end of file, and uv_run()
// returns when no handle is left.
//
// Limits: as echo's (workloads/echo/uv.cpp): the connection callback's error,
// or libuv's EMFILE trick (it sheds the connections it cannot hold; the
// server then finds its descriptor table full), is a LimitError naming the
// connections reached.
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <uv.h>

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
#include "workloads/echo/uv_server.hpp"
#include "workloads/idle/spec.hpp"

namespace cmbench::idle::uv {
namespace {

using cmbench::uv::check_uv;
using cmbench::uv::Loop;

using echo::uv::Reading;
using Server = echo::uv::Server<kReadBuffer, Reading::one_buffer>;

void run(const Params& p, Probe& probe) {
  const uint64_t connections = p.u("connections");
  const std::string fd_note = raise_fd_limit(connections);
  probe.note("fd_limit", fd_note);
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  const uint64_t fd_limit = nofile.rlim_cur;
  Server server;
  std::optional<echo::LoadGen> gen;
  Loop loop;

  const uint16_t port = server.listen(loop.get(), echo::kBacklog(connections));
  // The generator's signals: on ready, read memory and say go; on done,
  // stop accepting and let every connection end on its end of file.
  server.on_done = [&server, &gen, &probe, connections] {
    switch (gen->next_signal()) {
      case echo::LoadGen::Signal::ready:
        probe.memory_parked(connections);
        gen->go();
        return;
      case echo::LoadGen::Signal::done:
        server.stop_serving(/*all=*/false);
        return;
      case echo::LoadGen::Signal::none:
        return;
    }
  };
  probe.note("server", "one libuv loop: uv_listen, uv_accept, uv_read_start, uv_try_write (uv_write "
                       "for what the socket did not take), uv_close on EOF");
  probe.note("read_buffer", fmt::format("one buffer of {} bytes for the whole loop, handed out by the "
                                        "alloc callback per read: an idle connection holds none",
                                        kReadBuffer));
  probe.note("conn_bytes", sizeof(Server::Connection));

  probe.memory_baseline();
  probe.start();
  gen.emplace(load(p), port);
  server.watch_done(loop.get(), gen->done_fd());
  loop.run();
  if (server.error != 0) {
    probe.note("reached", server.accepted);
    const std::string msg =
        limit_message(p, server.accepted, server.error_call, -server.error);
    if (is_limit_errno(-server.error)) throw LimitError(msg, -server.error);
    throw SystemError(msg, -server.error);
  }
  Verdict verdict = gen->finish(probe);
  if (!verdict.ok && server.accepted < connections && server.max_fd >= 0 &&
      static_cast<uint64_t>(server.max_fd) + 1 >= fd_limit) {
    probe.note("reached", server.accepted);
    throw LimitError(limit_message(p, server.accepted, "accept (libuv shed the connections it could not hold)",
                                   EMFILE) +
                         "; " + verdict.message,
                     EMFILE);
  }
  probe.stop();
  probe.note("connections_accepted", server.accepted);
  probe.note("queued_writes", server.queued_writes);
  if (verdict.ok) verdict = verify_accepted(p, server.accepted);
  probe.verify(verdict);
}

}  // namespace
}  // namespace cmbench::idle::uv

CMBENCH_IMPL(idle, uv, cmbench::idle::uv::run, nullptr)
