// ring in the coro model: N coroutines on one io_context (one thread), each
// with its own unbuffered boost::asio::experimental::channel inbox, as in the
// Go version of the thread-ring benchmark. Coroutine i receives the token
// (hops left) from its inbox and sends it, decremented, into coroutine i+1's
// inbox; every other coroutine is parked in its receive, so each hop is one
// rendezvous hand-off and one trip through the io_context's queue. The unit
// that receives the token with 0 hops left records its index and close()s
// every inbox: they are empty and their owners parked receivers, so every
// receive completes with channel_closed (models/coro/runtime.hpp, 2) and the
// units end. A starter coroutine sends the token, with T hops left, into
// inbox 0; io_context::run() returning joins them all.
#include <cstdint>
#include <deque>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/coro/runtime.hpp"
#include "workloads/ring/spec.hpp"

namespace cmbench::ring::coro {

namespace rt = cmbench::coro;

namespace {

struct Ring {
  std::deque<rt::Channel<uint64_t>>& inbox;
  uint64_t n;
  uint64_t last_holder;
  uint64_t hops_made = 0;
};

rt::Task<> unit(Ring& ring, uint64_t i) {
  rt::Channel<uint64_t>& in = ring.inbox[i];
  rt::Channel<uint64_t>& out = ring.inbox[(i + 1) % ring.n];
  for (;;) {
    uint64_t left = 0;
    if (!rt::try_receive(in, left)) {  // fast path: runtime.hpp
      auto [ec, got] = co_await in.async_receive(rt::kAwaitTuple);
      if (ec) co_return;  // closed: the ring is done
      left = got;
    }
    if (left == 0) {
      ring.last_holder = i;
      for (auto& c : ring.inbox) c.close();
      co_return;
    }
    ++ring.hops_made;
    if (!out.try_send(rt::error_code{}, left - 1))
      co_await out.async_send(rt::error_code{}, left - 1, rt::kAwait);
  }
}

rt::Task<> starter(rt::Channel<uint64_t>& first, uint64_t hops) {
  co_await first.async_send(rt::error_code{}, hops, rt::kAwait);
}

void run(const Params& params, Probe& probe) {
  const uint64_t n = params.u("units");
  const uint64_t hops = params.u("hops");
  boost::asio::io_context io(1);
  // A deque: channels are made before the timed region, like Go's slice of
  // channels, and keep their addresses.
  std::deque<rt::Channel<uint64_t>> inbox;
  for (uint64_t i = 0; i < n; ++i) inbox.emplace_back(io.get_executor(), 0);
  Ring ring{inbox, n, n};  // last_holder n: none yet

  rt::prepare(probe);
  probe.note("channel", "one asio::experimental::channel(ex, 0) (rendezvous) per coroutine");
  probe.note("termination", "the final holder close()s every inbox");

  probe.start();
  for (uint64_t i = 0; i < n; ++i) rt::spawn(io, unit(ring, i));
  rt::spawn(io, starter(inbox[0], hops));
  io.run();
  probe.stop();
  probe.verify(verify(params, ring.last_holder, ring.hops_made));
}

// Coroutines of this workload share the ring's experimental::channels unguarded: one thread only
// (models/coro/runtime.hpp, Threads).
std::optional<std::string> unsupported(const Params& params) {
  return rt::one_thread_only(params, "the ring's experimental::channels");
}

}  // namespace

}  // namespace cmbench::ring::coro

CMBENCH_IMPL(ring, coro, cmbench::ring::coro::run, cmbench::ring::coro::unsupported)
