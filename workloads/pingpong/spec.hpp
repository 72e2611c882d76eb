#pragma once
// pingpong: two units pass one message back and forth `rounds` times over
// the model's own channel — the price of one switch in each model:
//   process  a pair of pipes between two forked processes;
//   thread   a condition-variable handoff between two threads;
//   uv       two callbacks on one loop handing the value to each other;
//   fiber    an unbuffered (rendezvous) channel each way between two fibers.
// Unit A sends v, unit B answers v + 1, A checks it and sends the next. A
// reads the clock once per round trip and records the difference of
// consecutive readings (one clock read per round, so a sample costs one read
// and one histogram update). After the timed region A's count of good
// replies must equal `rounds`.
#include <cstdint>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "harness/cell/sample_clock.hpp"

namespace cmbench::pingpong {

const WorkloadSpec& spec();

// What unit A tallies: replies received, and replies that were not v + 1.
struct Tally {
  uint64_t replies = 0;
  uint64_t wrong = 0;
};

Verdict verify(const Params& params, const Tally& tally);

// Unit A's latency sample: made when A starts, lap() at the end of every
// round trip records the time since the previous lap (or the start).
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

}  // namespace cmbench::pingpong
