// prodcons in the coro model: P producer and C consumer coroutines on one
// io_context (one thread) share one boost::asio::experimental::channel.
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
#include <cstdint>
#include <limits>
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

template <typename Msg>
struct Shared {
  rt::Channel<Msg>& channel;
  uint64_t m, producers, consumers;
  uint64_t producers_left;
};

template <typename Msg>
rt::Task<> producer(Shared<Msg>& s, uint64_t p) {
  const uint64_t n = messages_of(s.m, s.producers, p);
  Msg msg;
  for (uint64_t seq = 0; seq < n; ++seq) {
    stamp(msg, static_cast<uint32_t>(p), seq);
    if (!s.channel.try_send(rt::error_code{}, msg))  // fast path: runtime.hpp
      co_await s.channel.async_send(rt::error_code{}, msg, rt::kAwait);
  }
  if (--s.producers_left == 0) {
    Msg end{};
    end.header.producer = kEndOfStream;
    for (uint64_t c = 0; c < s.consumers; ++c)
      co_await s.channel.async_send(rt::error_code{}, end, rt::kAwait);
  }
}

template <typename Msg>
rt::Task<> consumer(Shared<Msg>& s, Tally& tally, std::span<uint64_t> seen, Histogram& hist) {
  for (;;) {
    Msg msg;
    if (!rt::try_receive(s.channel, msg)) msg = co_await s.channel.async_receive(rt::kAwait);
    if (msg.header.producer == kEndOfStream) co_return;
    take(tally, seen, s.m, s.producers, msg, hist);
  }
}

void run(const Params& params, Probe& probe) {
  const uint64_t capacity = params.u("capacity");
  const uint64_t m = params.u("messages");
  const uint64_t producers = params.u("producers");
  const uint64_t consumers = params.u("consumers");
  rt::prepare(probe);
  probe.note("channel",
             capacity == 0
                 ? "boost::asio::experimental::channel(ex, 0): async_send completes once a "
                   "consumer took the value (rendezvous)"
                 : "boost::asio::experimental::channel(ex, " + std::to_string(capacity) +
                       "): buffers exactly " + std::to_string(capacity) + " messages");
  probe.note("termination",
             "the last producer to finish sends one end-of-stream message per consumer (Asio's "
             "close() would drop buffered messages); io_context::run() returning is the join");
  with_message(params, [&]<typename Msg>() {
    boost::asio::io_context io(1);
    rt::Channel<Msg> channel(io.get_executor(), capacity);
    Shared<Msg> shared{channel, m, producers, consumers, producers};
    std::span<Histogram> hists = probe.latency_histograms(consumers);
    std::vector<Tally> tallies(consumers);
    SeenRows last(consumers, producers);

    probe.start();
    for (uint64_t p = 0; p < producers; ++p) rt::spawn(io, producer(shared, p));
    for (uint64_t c = 0; c < consumers; ++c)
      rt::spawn(io, consumer(shared, tallies[c],
                             last.row(c),
                             hists[c]));
    io.run();
    probe.stop();

    probe.verify(verify(params, tallies));
  });
}

}  // namespace

}  // namespace cmbench::prodcons::coro

CMBENCH_IMPL(prodcons, coro, cmbench::prodcons::coro::run, nullptr)
