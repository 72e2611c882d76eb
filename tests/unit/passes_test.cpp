// run --min-time: how many passes a repetition runs, and how a probe adds
// the passes up.
#include <gtest/gtest.h>

#include "harness/cell/probe.hpp"
#include "harness/driver/run.hpp"

namespace cmbench {
namespace {

TEST(Passes, OneRoundWhenTheWorkloadIsLongEnoughOrNoMinimumIsAsked) {
  EXPECT_EQ(passes_for(0.1, 0.2, 0.3, 120), 1);
  EXPECT_EQ(passes_for(0.1, 0.1, 0.3, 120), 1);
  EXPECT_EQ(passes_for(0, 0.001, 0.01, 120), 1);
}

TEST(Passes, EnoughPassesWithAFifthToSpare) {
  // 0.1 s from passes of 10 ms: 12 passes (120 ms), not 10.
  EXPECT_EQ(passes_for(0.1, 0.01, 0.02, 120), 12);
  // 0.1 s from 3 ms: ceil(40) = 40.
  EXPECT_EQ(passes_for(0.1, 0.003, 0.01, 120), 40);
}

TEST(Passes, BoundedByTheTimeoutAndTheCeiling) {
  // A pass that times 1 us but takes 1 s whole (its set-up): at most half
  // of a 10 s timeout, 5 passes.
  EXPECT_EQ(passes_for(1.0, 1e-6, 1.0, 10), 5);
  // A pass timed at nothing asks for the ceiling.
  EXPECT_EQ(passes_for(0.1, 0, 0.001, 120), kMaxPasses);
  EXPECT_EQ(passes_for(0.1, 1e-9, 1e-9, 1e9), kMaxPasses);
}

TEST(Passes, MinTimeIsCheckedWithTheFlagsName) {
  EXPECT_EQ(check_min_time(-1), "");
  EXPECT_EQ(check_min_time(0), "");
  EXPECT_EQ(check_min_time(0.5), "");
  for (double bad : {-2.0, 61.0, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    const std::string err = check_min_time(bad);
    EXPECT_NE(err.find("--min-time"), std::string::npos) << bad;
    EXPECT_NE(err.find("accepted: seconds from 0 to 60"), std::string::npos) << bad;
  }
}

// One pass of a pretend workload: `ops` operations, `samples` latency
// samples of `ns` each, verified.
void one_pass(Probe& probe, uint64_t ops, int samples, uint64_t ns, uint64_t parked_units) {
  auto hists = probe.latency_histograms(2);
  probe.memory_baseline();
  probe.start();
  for (int i = 0; i < samples; ++i) hists[i % 2].record(ns);
  probe.memory_parked(parked_units);
  probe.stop();
  probe.verify(Verdict::pass());
  probe.set_operations(ops);
}

TEST(Passes, AProbeAddsItsPassesUp) {
  Probe probe;
  one_pass(probe, 1000, 10, 100, 7);
  probe.next_pass();
  EXPECT_FALSE(probe.started());
  EXPECT_FALSE(probe.verified());
  EXPECT_EQ(probe.operations(), 0u);
  one_pass(probe, 1000, 30, 300, 9);
  probe.next_pass();
  one_pass(probe, 1000, 20, 200, 11);
  EXPECT_EQ(probe.passes(), 3);
  const auto m = probe.metrics();
  EXPECT_EQ(m["passes"], 3);
  EXPECT_EQ(m["operations"], 3000u);
  // Every pass's samples, none lost and none counted twice.
  EXPECT_EQ(m["latency_ns"]["count"], 60u);
  EXPECT_GE(m["latency_ns"]["max"].get<double>(), 290.0);
  EXPECT_LE(m["latency_ns"]["min"].get<double>(), 110.0);
  // Time per operation over all passes: the wall time of the three timed
  // regions over their operations.
  EXPECT_NEAR(m["ns_per_op"].get<double>() * 3000, m["wall_s"].get<double>() * 1e9, 1.0);
  // Memory is the first pass's: N live units in a fresh process.
  EXPECT_EQ(m["memory_units"], 7u);
}

TEST(Passes, OneRoundIsWhatAProbeAlwaysReported) {
  Probe probe;
  one_pass(probe, 500, 4, 50, 3);
  const auto m = probe.metrics();
  EXPECT_EQ(m["passes"], 1);
  EXPECT_EQ(m["operations"], 500u);
  EXPECT_EQ(m["latency_ns"]["count"], 4u);
  EXPECT_EQ(m["memory_units"], 3u);
}

}  // namespace
}  // namespace cmbench
