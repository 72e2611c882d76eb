// pingpong in the thread model: two threads hand one value back and forth
// through a condition-variable handoff, the way a C++ programmer passes a
// turn between two threads:
//   one std::mutex guards the value and whose turn it is;
//   one condition variable on which the thread that does not hold the turn
//   waits for it (the model's Condition, a futex word: models/thread/
//   condition.hpp says why not std::condition_variable).
// One condition variable is enough, and is what an expert writes for two
// threads: the notifier never waits while it notifies, so the only thread
// notify_one() can wake is the peer it just handed the turn to. (A
// notification delayed until after the peer has already answered and waits
// again only wakes it spuriously; it re-checks the turn under the mutex and
// waits on.) A second condition variable, one per direction, would change
// nothing but the line count.
//
// A round trip: A writes v and hands the turn to B, B answers v + 1 and hands
// it back. Each handoff is a futex wake of the peer and a futex wait of the
// sender (two kernel context switches per round trip on one core, a cross-core
// wake-up on two), which is the price this workload exists to show.
#include <cstdint>
#include <span>

#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/thread/court.hpp"
#include "models/thread/thread_group.hpp"
#include "workloads/pingpong/spec.hpp"

namespace cmbench::pingpong {
namespace {

using models::thread::Court;
using models::thread::ThreadGroup;

void run(const Params& p, Probe& probe) {
  const uint64_t rounds = p.u("rounds");
  Histogram& round_trip = probe.latency_histograms(1)[0];
  Tally tally;
  Court court;
  // Declared after the court, so that on any exit both threads are joined
  // before the court they use is destroyed.
  ThreadGroup units(2);

  probe.start();
  // Unit A: sends v, waits for the answer, checks it. One clock read per
  // round trip; the sample is the difference of consecutive readings.
  units.spawn([&court, &tally, &round_trip, rounds] {
    Tally t;
    RoundTrips laps(round_trip);
    for (uint64_t v = 0; v < rounds; ++v) {
      court.hand(Court::Turn::b, v);
      const uint64_t reply = court.await(Court::Turn::a);
      ++t.replies;
      if (reply != v + 1) ++t.wrong;
      laps.lap();
    }
    tally = t;
  });
  // Unit B: answers every value with value + 1, exactly `rounds` times.
  units.spawn([&court, rounds] {
    for (uint64_t i = 0; i < rounds; ++i) {
      const uint64_t v = court.await(Court::Turn::b);
      court.hand(Court::Turn::a, v + 1);
    }
  });
  units.start();
  units.join_all();
  probe.stop();

  probe.verify(verify(p, tally));
  probe.note("threads", 2);
  probe.note("channel",
             "a condition-variable handoff: one std::mutex guards the value and whose turn it is; "
             "the thread without the turn waits on one condition variable (a futex word; glibc's "
             "std::condition_variable can lose a wake-up, glibc bug 25847), notified after "
             "the mutex is released");
  probe.note("start",
             "both threads wait at a std::latch until both exist; creation and joining are inside "
             "the timed region");
}

}  // namespace
}  // namespace cmbench::pingpong

CMBENCH_IMPL(pingpong, thread, ::cmbench::pingpong::run, nullptr)
