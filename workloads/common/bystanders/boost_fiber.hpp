#pragma once
// Bystander pairs (workloads/common/bystanders.hpp) in the boost-fiber
// model, for every workload that runs them beside its own units (blocking,
// fairness): pingpong's two fibers and an unbuffered_channel each way. A
// pushes v and pops v + 1 until the workload's units are done, then closes
// `ping`; B's pop returns closed and B ends. The workload's main fiber joins
// them with its own.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "harness/cell/histogram.hpp"
#include "models/boost_fiber/runtime.hpp"
#include "workloads/common/bystanders.hpp"

namespace cmbench::bystanders::boost_fiber {

class Pairs {
 public:
  Pairs(std::span<Tally> tallies, std::span<Histogram> hists) : tallies_(tallies), hists_(hists) {
    for (size_t i = 0; i < tallies.size(); ++i) channels_.push_back(std::make_unique<Channels>());
  }

  // Starts A and B of every pair as fibers appended to `units`, with the
  // workload's stack allocator. A checks done() once per round trip (so it
  // makes at least one) and stops when it returns true.
  template <typename StackAllocator, typename Done>
  void spawn(std::vector<boost::fibers::fiber>& units, StackAllocator& salloc, Done done) {
    namespace fibers = boost::fibers;
    for (size_t i = 0; i < tallies_.size(); ++i) {
      units.emplace_back(std::allocator_arg, salloc, [this, i, done] {  // A
        Channels& c = *channels_[i];
        Tally t;
        RoundTrips laps(hists_[i]);
        uint64_t v = 0;
        do {
          c.ping.push(v);
          uint64_t got = 0;
          if (c.pong.pop(got) != fibers::channel_op_status::success) got = 0;
          laps.lap();
          reply(t, v, got);
          ++v;
        } while (!done());
        c.ping.close();
        tallies_[i].replies = t.replies;
        tallies_[i].wrong = t.wrong;
      });
      units.emplace_back(std::allocator_arg, salloc, [this, i] {  // B
        Channels& c = *channels_[i];
        uint64_t v = 0, answered = 0;
        while (c.ping.pop(v) == fibers::channel_op_status::success) {
          ++answered;
          c.pong.push(v + 1);
        }
        tallies_[i].answered = answered;
      });
    }
  }

 private:
  struct Channels {
    boost::fibers::unbuffered_channel<uint64_t> ping, pong;
  };

  std::span<Tally> tallies_;
  std::span<Histogram> hists_;
  std::vector<std::unique_ptr<Channels>> channels_;
};

}  // namespace cmbench::bystanders::boost_fiber
