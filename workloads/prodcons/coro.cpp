// prodcons in the coro model: P producer and C consumer coroutines on one
// io_context share one boost::asio::experimental::channel (one thread, the
// default) or experimental::concurrent_channel (threads > 1: the io_context
// run by that many threads; models/coro/runtime.hpp).
//
// Capacity (models/coro/runtime.hpp, 1): channel(ex, B) buffers exactly B
// messages, so B > 0 needs no wrapper; B = 0 is Asio's unbuffered channel, a
// rendezvous: async_send completes only once a consumer's async_receive took
// the value.
//
// Termination: Asio's close() drops the values still buffered (runtime.hpp,
// 2), so it cannot end this stream. Instead the last producer to finish sends
// one end-of-stream message per consumer (a header whose producer is
// kEndOfStream) through the same channel; as the channel is FIFO, each
// consumer gets its marker after every real message, and ends. That costs C
// extra sends, the counterpart of Go's close(). Join: io_context::run()
// returns once every coroutine has ended.
#include <atomic>
#include <cstdint>
#include <limits>
#include <string>
#include <span>
#include <vector>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/coro/runtime.hpp"
#include "workloads/prodcons/spec.hpp"

namespace cmbench::prodcons::coro {

namespace rt = cmbench::coro;

namespace {

constexpr uint32_t kEndOfStream = std::numeric_limits<uint32_t>::max();

// Ch is rt::Channel<Msg> on one thread, rt::ConcurrentChannel<Msg> on
// several (threads > 1: runtime.hpp); the count of producers still sending
// is atomic for the same reason.
template <typename Ch>
struct Shared {
  Ch& channel;
  uint64_t m, producers, consumers;
  std::atomic<uint64_t> producers_left;
};

template <typename Msg, typename Ch>
rt::Task<> producer(Shared<Ch>& s, uint64_t p) {
  const uint64_t n = messages_of(s.m, s.producers, p);
  Msg msg;
  for (uint64_t seq = 0; seq < n; ++seq) {
    stamp(msg, static_cast<uint32_t>(p), seq);
    if (!s.channel.try_send(rt::error_code{}, msg))  // fast path: runtime.hpp
      co_await s.channel.async_send(rt::error_code{}, msg, rt::kAwait);
  }
  if (s.producers_left.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    Msg end{};
    end.header.producer = kEndOfStream;
    for (uint64_t c = 0; c < s.consumers; ++c)
      co_await s.channel.async_send(rt::error_code{}, end, rt::kAwait);
  }
}

template <typename Msg, typename Ch>
rt::Task<> consumer(Shared<Ch>& s, Tally& tally, std::span<uint64_t> seen, Histogram& hist) {
  for (;;) {
    Msg msg;
    if (!rt::try_receive(s.channel, msg)) msg = co_await s.channel.async_receive(rt::kAwait);
    if (msg.header.producer == kEndOfStream) co_return;
    take(tally, seen, s.m, s.producers, msg, hist);
  }
}

template <typename Msg, typename Ch>
void run_with(const Params& params, Probe& probe, unsigned threads) {
  const uint64_t capacity = params.u("capacity");
  const uint64_t m = params.u("messages");
  const uint64_t producers = params.u("producers");
  const uint64_t consumers = params.u("consumers");
  boost::asio::io_context io(static_cast<int>(threads));
  Ch channel(io.get_executor(), capacity);
  Shared<Ch> shared{channel, m, producers, consumers, producers};
  std::span<Histogram> hists = probe.latency_histograms(consumers);
  std::vector<Tally> tallies(consumers);
  SeenRows last(consumers, producers);

  probe.start();
  for (uint64_t p = 0; p < producers; ++p) rt::spawn(io, producer<Msg>(shared, p));
  for (uint64_t c = 0; c < consumers; ++c) rt::spawn(io, consumer<Msg>(shared, tallies[c], last.row(c), hists[c]));
  rt::run_threads(io, threads);
  probe.stop();

  probe.verify(verify(params, tallies));
}

void run(const Params& params, Probe& probe) {
  const uint64_t capacity = params.u("capacity");
  const unsigned threads = rt::threads_of(params);
  rt::prepare(probe, threads);
  const std::string kind = threads == 1 ? "boost::asio::experimental::channel" : "boost::asio::experimental::concurrent_channel";
  probe.note("channel",
             capacity == 0
                 ? kind + "(ex, 0): async_send completes once a consumer took the value (rendezvous)"
                 : kind + "(ex, " + std::to_string(capacity) + "): buffers exactly " + std::to_string(capacity) +
                       " messages");
  probe.note("termination",
             "the last producer to finish sends one end-of-stream message per consumer (Asio's "
             "close() would drop buffered messages); io_context::run() returning is the join");
  with_message(params, [&]<typename Msg>() {
    if (threads == 1)
      run_with<Msg, rt::Channel<Msg>>(params, probe, threads);
    else
      run_with<Msg, rt::ConcurrentChannel<Msg>>(params, probe, threads);
  });
}

}  // namespace

}  // namespace cmbench::prodcons::coro

CMBENCH_IMPL(prodcons, coro, cmbench::prodcons::coro::run, nullptr)
