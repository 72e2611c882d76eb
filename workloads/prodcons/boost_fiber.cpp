// prodcons in the boost-fiber model (threads > 1: the same fibers under
// work_stealing on that many threads, models/boost_fiber/runtime.hpp, 3): P producer fibers and C consumer fibers
// on Boost.Fiber's round_robin scheduler (one thread) share one channel.
//
// Capacity, with Boost.Fiber's channels (models/boost_fiber/runtime.hpp):
//   B = 0  boost::fibers::unbuffered_channel: push() parks the producer with
//          its value in a slot until a consumer's pop() takes it, so a send
//          completes only once a receiver took the value;
//   B > 0  buffered_channel holds size - 1 values and its size must be a
//          power of two >= 2. When B + 1 is a power of two (1, 3, 7, ...,
//          1023) buffered_channel(B + 1) is exactly B; otherwise (the
//          default 1024) the channel is the next power of two and a counting
//          semaphore of B credits (fibers::mutex + condition_variable) bounds
//          the values in flight at B: a producer takes a credit before push(),
//          a consumer returns it after pop(). The note says which.
//
// Termination, as Boost.Fiber's documentation shows for channels: the main
// fiber (the thread's own context) joins every producer, then close()s the
// channel; a consumer's pop() returns channel_op_status::closed once the
// channel is closed and drained, and the consumer ends; main joins them.
#include <cstdint>
#include <span>
#include <vector>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/boost_fiber/runtime.hpp"
#include "workloads/prodcons/spec.hpp"

namespace cmbench::prodcons::boost_fiber {

namespace bf = cmbench::boost_fiber;
namespace fibers = boost::fibers;

namespace {

template <typename T>
bool receive(fibers::unbuffered_channel<T>& ch, T& v) {
  return ch.pop(v) == fibers::channel_op_status::success;
}
template <typename T>
bool receive(bf::ExactChannel<T>& ch, T& v) {
  return ch.pop(v);
}

template <typename Msg, typename Channel>
void run_on(const Params& params, Probe& probe, Channel& channel, unsigned threads) {
  const uint64_t m = params.u("messages");
  const uint64_t producers = params.u("producers");
  const uint64_t consumers = params.u("consumers");
  auto salloc = bf::stack_allocator(params.u("stack_size"), threads);
  std::span<Histogram> hists = probe.latency_histograms(consumers);
  std::vector<Tally> tallies(consumers);
  SeenRows last(consumers, producers);
  std::vector<fibers::fiber> producer_fibers, consumer_fibers;
  producer_fibers.reserve(producers);
  consumer_fibers.reserve(consumers);

  probe.start();
  for (uint64_t p = 0; p < producers; ++p) {
    producer_fibers.emplace_back(std::allocator_arg, salloc, [&channel, m, producers, p] {
      const uint64_t n = messages_of(m, producers, p);
      Msg msg;
      for (uint64_t seq = 0; seq < n; ++seq) {
        stamp(msg, static_cast<uint32_t>(p), seq);
        channel.push(msg);
      }
    });
  }
  for (uint64_t c = 0; c < consumers; ++c) {
    consumer_fibers.emplace_back(
        std::allocator_arg, salloc, [&channel, &tallies, &last, hists, m, producers, c] {
          Tally& tally = tallies[c];
          std::span<uint64_t> seen = last.row(c);
          Msg msg;
          while (receive(channel, msg)) take(tally, seen, m, producers, msg, hists[c]);
        });
  }
  for (fibers::fiber& f : producer_fibers) f.join();
  channel.close();
  for (fibers::fiber& f : consumer_fibers) f.join();
  probe.stop();

  probe.verify(verify(params, tallies));
}

void run(const Params& params, Probe& probe) {
  const uint64_t capacity = params.u("capacity");
  const unsigned threads = bf::threads_of(params);
  bf::prepare(probe, params.u("stack_size"), threads);
  // Before the first fiber; with threads > 1 the fibers (and ExactChannel's
  // credits: an atomic, a fibers::mutex and condition_variable) are shared
  // by that many threads, which Boost.Fiber's primitives allow.
  bf::WorkStealing workers(threads);
  probe.note("termination",
             "the main fiber joins the producers, then close()s the channel; consumers pop() "
             "until it returns closed");
  with_message(params, [&]<typename Msg>() {
    if (capacity == 0) {
      probe.note("channel",
                 "boost::fibers::unbuffered_channel: push() returns once a consumer's pop() took "
                 "the value (rendezvous)");
      fibers::unbuffered_channel<Msg> channel;
      run_on<Msg>(params, probe, channel, threads);
    } else {
      probe.note("channel", bf::ExactChannel<Msg>::describe(capacity));
      bf::ExactChannel<Msg> channel(capacity);
      run_on<Msg>(params, probe, channel, threads);
    }
  });
}

}  // namespace

}  // namespace cmbench::prodcons::boost_fiber

CMBENCH_IMPL(prodcons, boost_fiber, cmbench::prodcons::boost_fiber::run, nullptr)
