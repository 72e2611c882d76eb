// prodcons in the thread model: P producer threads and C consumer threads
// share one BoundedQueue<Msg> of capacity B (std::mutex + condition
// variables; see models/thread/bounded_queue.hpp for how capacity 0 is a
// rendezvous and capacity B bounds what is in flight). When every producer
// has been joined, the main thread closes the queue; consumers pop until
// pop() returns std::nullopt, that is until the queue is closed and drained.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/thread/bounded_queue.hpp"
#include "models/thread/thread_group.hpp"
#include "workloads/prodcons/spec.hpp"

namespace cmbench::prodcons {
namespace {

using models::thread::BoundedQueue;
using models::thread::ThreadGroup;

void run(const Params& p, Probe& probe) {
  const uint64_t m = p.u("messages");
  const uint64_t producers = p.u("producers");
  const uint64_t consumers = p.u("consumers");
  const uint64_t capacity = p.u("capacity");

  std::span<Histogram> latency = probe.latency_histograms(consumers);
  std::vector<Tally> tallies(consumers);
  SeenRows last(consumers, producers);

  with_message(p, [&]<typename Msg>() {
    BoundedQueue<Msg> queue(capacity);
    // Declared after the queue, so that on any exit the threads are joined
    // before the queue they use is destroyed.
    ThreadGroup units(producers + consumers);

    probe.start();
    for (uint64_t i = 0; i < producers; ++i) {
      units.spawn([&queue, m, producers, i] {
        const auto self = static_cast<uint32_t>(i);
        const uint64_t n = messages_of(m, producers, i);
        Msg msg;
        for (uint64_t seq = 0; seq < n; ++seq) {
          stamp(msg, self, seq);
          queue.push(msg);
        }
      });
    }
    for (uint64_t c = 0; c < consumers; ++c) {
      units.spawn([&queue, &tallies, &last, latency, m, producers, c] {
        Tally& tally = tallies[c];
        std::span<uint64_t> seen = last.row(c);
        Histogram& hist = latency[c];
        while (std::optional<Msg> msg = queue.pop()) take(tally, seen, m, producers, *msg, hist);
      });
    }
    units.start();
    units.join(0, producers);
    // Every message has been pushed, and (capacity 0) taken: consumers can
    // now drain the rest and see the end.
    queue.close();
    units.join(producers, producers + consumers);
    probe.stop();
  });

  probe.verify(verify(p, tallies));

  probe.note("threads", producers + consumers);
  probe.note("channel",
             capacity > 0
                 ? "BoundedQueue: std::mutex, condition variables not_full and not_empty, a ring "
                   "of B slots allocated before the run; notify only when a thread waits"
                 : "BoundedQueue(0): one handoff slot under std::mutex; push deposits its value, "
                   "then waits on a condition variable until a popper has taken it");
  probe.note("termination",
             "the main thread joins the producers, then closes the queue; consumers pop until "
             "it is closed and drained");
  probe.note("start",
             "threads wait at a std::latch until all P + C exist, then start together; creation "
             "and joining are inside the timed region");
}

}  // namespace
}  // namespace cmbench::prodcons

CMBENCH_IMPL(prodcons, thread, ::cmbench::prodcons::run, nullptr)
