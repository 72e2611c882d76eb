#pragma once
// Bystander pairs (workloads/common/bystanders.hpp) in the fiber model, for
// every workload that runs them beside its own units (blocking, fairness):
// pingpong's two fibers and an unbuffered channel each way. A sends v and
// receives v + 1 until the workload's units are done, then closes `ping`;
// B's receive returns nothing and B ends.
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "harness/cell/histogram.hpp"
#include "models/fiber/channel.hpp"
#include "models/fiber/scheduler.hpp"
#include "workloads/common/bystanders.hpp"

namespace cmbench::bystanders::fiber {

class Pairs {
 public:
  Pairs(std::span<Tally> tallies, std::span<Histogram> hists)
      : tallies_(tallies), hists_(hists), channels_(tallies.size()) {}

  // Spawns A and B of every pair on `sched`. A checks done() once per round
  // trip (so it makes at least one) and stops when it returns true; with
  // threads > 1 the fibers may run on different threads, so done() must
  // read what the workload's units write atomically.
  template <typename Done>
  void spawn(cmbench::fiber::Scheduler& sched, Done done) {
    for (size_t i = 0; i < tallies_.size(); ++i) {
      sched.spawn([this, i, done] {  // A
        Channels& c = channels_[i];
        Tally t;
        RoundTrips laps(hists_[i]);
        uint64_t v = 0;
        do {
          c.ping.send(v);
          const std::optional<uint64_t> got = c.pong.recv();
          laps.lap();
          reply(t, v, got.value_or(0));
          ++v;
        } while (!done());
        c.ping.close();
        tallies_[i].replies = t.replies;
        tallies_[i].wrong = t.wrong;
      });
      sched.spawn([this, i] {  // B
        Channels& c = channels_[i];
        uint64_t answered = 0;
        while (std::optional<uint64_t> v = c.ping.recv()) {
          ++answered;
          c.pong.send(*v + 1);
        }
        tallies_[i].answered = answered;
      });
    }
  }

 private:
  struct Channels {
    cmbench::fiber::Channel<uint64_t> ping{0}, pong{0};
  };

  std::span<Tally> tallies_;
  std::span<Histogram> hists_;
  std::vector<Channels> channels_;
};

}  // namespace cmbench::bystanders::fiber
