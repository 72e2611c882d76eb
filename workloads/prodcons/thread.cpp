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

// The line size of x86-64 and most ARM cores. Consumers' `last` rows are
// padded to it so that no two consumers write to the same cache line, which
// would charge the thread model for false sharing the workload does not ask
// for. (std::hardware_destructive_interference_size would say the same, but
// GCC warns that its value may differ between compilers.)
constexpr size_t kCacheLine = 64;

// One row of P zeroed sequence counters per consumer, each row starting on
// its own cache line, in one allocation made before the timed region.
class LastRows {
 public:
  LastRows(size_t consumers, size_t producers)
      : producers_(producers),
        stride_((producers * sizeof(uint64_t) + kCacheLine - 1) / kCacheLine * kCacheLine /
                sizeof(uint64_t)),
        storage_(stride_ * consumers + kCacheLine / sizeof(uint64_t)) {
    void* p = storage_.data();
    size_t space = storage_.size() * sizeof(uint64_t);
    base_ = static_cast<uint64_t*>(
        std::align(kCacheLine, stride_ * consumers * sizeof(uint64_t), p, space));
  }
  std::span<uint64_t> row(size_t consumer) {
    return {base_ + consumer * stride_, producers_};
  }

 private:
  size_t producers_;
  size_t stride_;
  std::vector<uint64_t> storage_;
  uint64_t* base_ = nullptr;
};

void run(const Params& p, Probe& probe) {
  const uint64_t m = p.u("messages");
  const uint64_t producers = p.u("producers");
  const uint64_t consumers = p.u("consumers");
  const uint64_t capacity = p.u("capacity");

  std::span<Histogram> latency = probe.latency_histograms(consumers);
  std::vector<Tally> tallies(consumers);
  LastRows last(consumers, producers);

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
        // The tally lives on this thread's own stack while it counts and is
        // stored once at the end, so consumers never share a cache line.
        Tally tally;
        std::span<uint64_t> seen = last.row(c);
        Histogram& hist = latency[c];
        while (std::optional<Msg> msg = queue.pop()) take(tally, seen, m, producers, *msg, hist);
        tallies[c] = tally;
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
