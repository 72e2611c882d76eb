// prodcons on the pool: P producer tasks and C consumer tasks share one
// Channel of capacity B. The main thread waits until every producer task
// has returned, closes the channel, and waits until the pool is idle. What
// is checked and how is the workload's own (workloads/prodcons/spec.hpp:
// stamp, take, verify), through the installed headers.
#include <fmt/format.h>

#include <latch>
#include <optional>
#include <span>
#include <vector>

#include "pool.hpp"
#include "threadpool.hpp"
#include "workloads/prodcons/spec.hpp"

namespace threadpool {

using namespace cmbench;
using namespace cmbench::prodcons;

std::optional<std::string> prodcons_unsupported(const Params& p) {
  const uint64_t threads = p.u("threads");
  const uint64_t units = p.u("producers") + p.u("consumers");
  // A consumer task blocks its worker until the channel closes: with fewer
  // workers than tasks, the consumers can hold every worker while a
  // producer waits in the queue, and the cell would hang.
  if (threads != 0 && threads < units)
    return fmt::format("parameter 'threads': {} is fewer than producers + consumers ({}); accepted: 0 or at least {}",
                       threads, units, units);
  return std::nullopt;
}

void prodcons(const Params& p, Probe& probe) {
  const uint64_t m = p.u("messages");
  const uint64_t producers = p.u("producers");
  const uint64_t consumers = p.u("consumers");
  const uint64_t capacity = p.u("capacity");
  const uint64_t workers = p.u("threads") == 0 ? producers + consumers : p.u("threads");

  std::span<Histogram> latency = probe.latency_histograms(consumers);
  std::vector<Tally> tallies(consumers);
  SeenRows last(consumers, producers);

  with_message(p, [&]<typename Msg>() {
    Channel<Msg> channel(capacity);
    // Declared after the channel: the pool's destructor runs every task to
    // its end before the channel they use goes.
    Pool pool(workers);
    std::latch produced(static_cast<std::ptrdiff_t>(producers));

    probe.start();
    for (uint64_t i = 0; i < producers; ++i) {
      pool.submit([&channel, &produced, m, producers, i] {
        Msg msg;
        const uint64_t n = messages_of(m, producers, i);
        for (uint64_t seq = 0; seq < n; ++seq) {
          stamp(msg, static_cast<uint32_t>(i), seq);
          channel.push(msg);
        }
        produced.count_down();
      });
    }
    for (uint64_t c = 0; c < consumers; ++c) {
      pool.submit([&channel, &tallies, &last, latency, m, producers, c] {
        std::span<uint64_t> seen = last.row(c);
        while (std::optional<Msg> msg = channel.pop()) take(tallies[c], seen, m, producers, *msg, latency[c]);
      });
    }
    produced.wait();
    channel.close();
    pool.wait_idle();
    probe.stop();
  });

  probe.verify(verify(p, tallies));
  probe.note("workers", workers);
  probe.note("channel", capacity > 0 ? "Channel: a std::deque of at most B values, std::mutex, not_full/not_empty"
                                     : "Channel(0): a push waits on a condition variable until a pop took it");
  probe.note("start", "the pool's workers exist before the timed region; submitting and running the tasks is inside it");
}

}  // namespace threadpool
