#pragma once
// Bystander pairs (workloads/common/bystanders.hpp) in the thread model, for
// every workload that runs them beside its own units (blocking, fairness):
// two std::threads passing the turn through a condition variable handoff
// (models/thread/court.hpp, as pingpong does). A sends v and waits for v + 1
// until the workload's units are done, then hands B the value kStop, on
// which B returns.
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "harness/cell/histogram.hpp"
#include "models/thread/court.hpp"
#include "models/thread/thread_group.hpp"
#include "workloads/common/bystanders.hpp"

namespace cmbench::bystanders::thread {

class Pairs {
 public:
  Pairs(std::span<Tally> tallies, std::span<Histogram> hists)
      : tallies_(tallies), hists_(hists), courts_(tallies.size()) {}

  // Spawns A and B of every pair into `units`. A checks done() once per
  // round trip (so it makes at least one) and stops when it returns true.
  template <typename Done>
  void spawn(models::thread::ThreadGroup& units, Done done) {
    using models::thread::Court;
    for (size_t i = 0; i < tallies_.size(); ++i) {
      units.spawn([this, i, done] {  // A
        Court& court = courts_[i];
        Tally t;
        RoundTrips laps(hists_[i]);
        uint64_t v = 0;
        do {
          court.hand(Court::Turn::b, v);
          const uint64_t got = court.await(Court::Turn::a);
          laps.lap();
          reply(t, v, got);
          ++v;
        } while (!done());
        court.hand(Court::Turn::b, kStop);
        tallies_[i].replies = t.replies;
        tallies_[i].wrong = t.wrong;
      });
      units.spawn([this, i] {  // B
        Court& court = courts_[i];
        uint64_t answered = 0;
        for (;;) {
          const uint64_t v = court.await(Court::Turn::b);
          if (v == kStop) break;
          ++answered;
          court.hand(Court::Turn::a, v + 1);
        }
        tallies_[i].answered = answered;
      });
    }
  }

 private:
  // A never sends it as a value: v counts round trips, far below it.
  static constexpr uint64_t kStop = std::numeric_limits<uint64_t>::max();

  std::span<Tally> tallies_;
  std::span<Histogram> hists_;
  std::vector<models::thread::Court> courts_;
};

}  // namespace cmbench::bystanders::thread
