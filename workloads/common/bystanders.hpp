#pragma once
// Bystanders: ping-pong pairs that run beside the units a workload is about
// (blocking's blockers, fairness's hogs) for as long as those units run, so
// that their round trips say how long the others kept them from running. A
// pair is pingpong's exchange in the model's own channel: unit A sends v,
// unit B answers v + 1, A checks the answer and records the round trip.
//
// A pair runs until the workload's other units are all done, not for a fixed
// number of rounds, so that it is measured over the whole time they run
// (however long that is in each model): A reads a done flag once per round
// trip, always completes at least one, and then ends B the way the model ends
// a stream (close, or a stop value). Its count is therefore not known in
// advance, and the verifier checks what can be checked: every answer was
// v + 1, B answered exactly as many values as A got back, A got back at
// least one, and A recorded exactly one latency sample per round trip.
//
// Latency is sampled as in pingpong (workloads/pingpong/spec.hpp): one clock
// read per round trip on the sample clock, the difference of consecutive
// reads recorded into the pair's own histogram (probe.latency_histograms(P)).
// The first sample of a pair is measured from A's start.
//
// Each model's pairs are written once, in workloads/common/bystanders/<m>.hpp
// (a class Pairs the workloads construct before probe.start() and start
// first, with the condition that ends them), and every workload that runs
// bystanders uses them.
#include <fmt/format.h>

#include <cstdint>
#include <span>

#include "harness/cell/histogram.hpp"
#include "harness/cell/probe.hpp"
#include "harness/cell/sample_clock.hpp"

namespace cmbench::bystanders {

// What one pair tallies: A counts replies and wrong replies, B the values it
// answered. Plain data, so a process model keeps it in shared memory.
struct Tally {
  uint64_t replies = 0;
  uint64_t wrong = 0;
  uint64_t answered = 0;
};

// Unit A's clock: made when A starts; lap() records the time since the
// previous lap (or the start) into the pair's histogram.
class RoundTrips {
 public:
  explicit RoundTrips(Histogram& hist) noexcept : hist_(&hist), prev_(sample_ns()) {}
  void lap() noexcept {
    const int64_t now = sample_ns();
    hist_->record(sample_since(prev_, now));
    prev_ = now;
  }

 private:
  Histogram* hist_;
  int64_t prev_;
};

// A's check of one reply to the value v it sent; counts it.
inline void reply(Tally& t, uint64_t v, uint64_t got) noexcept {
  ++t.replies;
  if (got != v + 1) ++t.wrong;
}

inline Verdict verify(std::span<const Tally> pairs, std::span<const Histogram> hists) {
  for (size_t i = 0; i < pairs.size(); ++i) {
    const Tally& t = pairs[i];
    if (t.wrong != 0)
      return Verdict::fail(fmt::format("bystander pair {}: {} replies were not the value sent plus one", i, t.wrong));
    if (t.replies == 0) return Verdict::fail(fmt::format("bystander pair {} made no round trip", i));
    if (t.answered != t.replies)
      return Verdict::fail(fmt::format("bystander pair {}: B answered {} values but A got {} replies", i,
                                       t.answered, t.replies));
    if (i < hists.size() && hists[i].count() != t.replies)
      return Verdict::fail(fmt::format("bystander pair {}: {} latency samples for {} round trips", i,
                                       hists[i].count(), t.replies));
  }
  return Verdict::pass();
}

// The round trips of every pair together.
inline uint64_t round_trips(std::span<const Tally> pairs) noexcept {
  uint64_t n = 0;
  for (const Tally& t : pairs) n += t.replies;
  return n;
}

}  // namespace cmbench::bystanders
