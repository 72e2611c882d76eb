// pingpong in the coro model: two coroutines on one io_context (one thread)
// pass one value back and forth over two unbuffered
// boost::asio::experimental::channel<void(error_code, uint64_t)>, one each
// way (capacity 0: a rendezvous). Unit A sends v on `ping` and receives the
// reply from `pong`; unit B receives v and sends v + 1 back. Each send finds
// the other coroutine parked in its receive, hands it the value and completes
// both operations; the receiver's completion handler is queued on the
// io_context, which resumes it once the sender suspends in its own receive.
// So one round trip is two trips through the io_context's queue (one per
// hand-off), no kernel involvement. Termination: A
// close()s `ping` after the last round (it is empty and B is parked in, or
// about to start, its receive, which then fails with channel_closed) and B
// ends; io_context::run() returning joins both.
#include <cstdint>
#include <tuple>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/coro/runtime.hpp"
#include "workloads/pingpong/spec.hpp"

namespace cmbench::pingpong::coro {

namespace rt = cmbench::coro;

namespace {

rt::Task<> unit_a(rt::Channel<uint64_t>& ping, rt::Channel<uint64_t>& pong, uint64_t rounds,
                  Histogram& hist, Tally& tally) {
  RoundTrips laps(hist);
  for (uint64_t v = 0; v < rounds; ++v) {
    // Fast paths (runtime.hpp): B is normally parked in its receive already.
    if (!ping.try_send(rt::error_code{}, v))
      co_await ping.async_send(rt::error_code{}, v, rt::kAwait);
    uint64_t reply = 0;
    rt::error_code ec;
    if (!rt::try_receive(pong, reply))
      std::tie(ec, reply) = co_await pong.async_receive(rt::kAwaitTuple);
    laps.lap();
    ++tally.replies;
    if (ec || reply != v + 1) ++tally.wrong;
  }
  ping.close();
}

rt::Task<> unit_b(rt::Channel<uint64_t>& ping, rt::Channel<uint64_t>& pong) {
  for (;;) {
    uint64_t v = 0;
    if (!rt::try_receive(ping, v)) {
      auto [ec, got] = co_await ping.async_receive(rt::kAwaitTuple);
      if (ec) co_return;  // channel_closed: A is done
      v = got;
    }
    if (!pong.try_send(rt::error_code{}, v + 1))
      co_await pong.async_send(rt::error_code{}, v + 1, rt::kAwait);
  }
}

void run(const Params& params, Probe& probe) {
  const uint64_t rounds = params.u("rounds");
  boost::asio::io_context io(1);
  rt::Channel<uint64_t> ping(io.get_executor(), 0), pong(io.get_executor(), 0);
  Histogram& hist = probe.latency_histograms(1)[0];
  Tally tally;

  rt::prepare(probe);
  probe.note("channel",
             "two boost::asio::experimental::channel<void(error_code, uint64_t)>(ex, 0) "
             "(rendezvous), one each way");

  probe.start();
  rt::spawn(io, unit_a(ping, pong, rounds, hist, tally));
  rt::spawn(io, unit_b(ping, pong));
  io.run();
  probe.stop();
  probe.verify(verify(params, tally));
}

// Coroutines of this workload share two experimental::channels unguarded: one thread only
// (models/coro/runtime.hpp, Threads).
std::optional<std::string> unsupported(const Params& params) {
  return rt::one_thread_only(params, "two experimental::channels");
}

}  // namespace

}  // namespace cmbench::pingpong::coro

CMBENCH_IMPL(pingpong, coro, cmbench::pingpong::coro::run, cmbench::pingpong::coro::unsupported)
