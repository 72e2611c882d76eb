// run --min-time: how many passes a repetition runs, and how a probe adds
// the passes up.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "harness/cell/probe.hpp"
#include "harness/driver/run.hpp"
#include "harness/sandbox/runner.hpp"

namespace cmbench {
namespace {

// run --interleave: the order of each round.
TEST(Interleave, EachRoundIsAPermutationDrawnFromTheSeedAndTheRound) {
  const size_t n = 7;
  std::vector<int> first_place(n, 0);
  for (uint32_t seed = 1; seed <= 2000; ++seed) {
    std::vector<size_t> order = round_order(seed, 3, n);
    ASSERT_EQ(order.size(), n);
    ++first_place[order[0]];
    std::sort(order.begin(), order.end());
    for (size_t k = 0; k < n; ++k) ASSERT_EQ(order[k], k) << "seed " << seed;
  }
  // Every cell leads a round about as often as any other (2000 / 7 = 286).
  for (size_t k = 0; k < n; ++k) EXPECT_NEAR(first_place[k], 2000.0 / n, 70) << "cell " << k;
  // The seed and the round decide the order, and nothing else.
  EXPECT_EQ(round_order(42, 0, 50), round_order(42, 0, 50));
  EXPECT_NE(round_order(42, 0, 50), round_order(42, 1, 50));
  EXPECT_NE(round_order(42, 0, 50), round_order(43, 0, 50));
  EXPECT_TRUE(round_order(42, 0, 0).empty());
  EXPECT_EQ(round_order(42, 0, 1), std::vector<size_t>{0});
}

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

// A cell whose passes cannot share a process (spawn, skynet) runs each in a
// fresh one, and the repetition adds them up as a probe adds its passes.
TEST(Passes, PassesInFreshProcessesAddUpAsAProbesDo) {
  std::vector<RepetitionResult> parts;
  for (int k = 0; k < 3; ++k) {
    Probe probe;
    one_pass(probe, 1000, 0, 0, 7 + k);  // no latency samples, as in spawn
    probe.metric("workload_figure", 10.0 + k);
    RepetitionResult r;
    r.outcome = Outcome::ok;
    r.metrics = probe.metrics();
    r.metrics["wall_s"] = 0.001 * (k + 1);  // 1, 2 and 3 ms
    r.metrics["cpu_user_s"] = 0.0005;
    r.metrics["cpu_sys_s"] = 0.0005 * k;
    r.metrics["ctx_voluntary"] = k;
    r.metrics["ctx_involuntary"] = 1;
    r.metrics["ref_loop_ns"] = 1000.0 * (k + 1);
    r.metrics["ref_cross_cpu_ns"] = 100.0 * (k + 1);
    r.metrics["memory_peak_bytes"] = k == 1 ? 9000.0 : 8000.0;
    r.cell_rusage = {{"cpu_user_s", 0.01}, {"ctx_voluntary", 2}};
    r.elapsed_s = 0.005;
    r.notes = {{"pass", k}};
    parts.push_back(std::move(r));
  }
  const RepetitionResult sum = add_process_passes(parts);
  const auto& m = sum.metrics;
  EXPECT_EQ(sum.outcome, Outcome::ok);
  EXPECT_EQ(m["passes"], 3);
  EXPECT_EQ(m["operations"], 3000u);
  EXPECT_DOUBLE_EQ(m["wall_s"].get<double>(), 0.006);
  EXPECT_DOUBLE_EQ(m["ns_per_op"].get<double>(), 2000.0);  // 6 ms over 3,000
  EXPECT_DOUBLE_EQ(m["ops_per_s"].get<double>(), 500000.0);
  EXPECT_DOUBLE_EQ(m["cpu_ns_per_op"].get<double>(), (0.0015 + 0.0015) * 1e9 / 3000);
  EXPECT_EQ(m["ctx_voluntary"], 3u);
  EXPECT_EQ(m["ctx_involuntary"], 3u);
  EXPECT_DOUBLE_EQ(m["ctx_per_op"].get<double>(), 6.0 / 3000);
  EXPECT_DOUBLE_EQ(m["ref_loop_ns"].get<double>(), 2000.0);  // their mean
  EXPECT_DOUBLE_EQ(m["ref_cross_cpu_ns"].get<double>(), 200.0);  // their mean
  EXPECT_DOUBLE_EQ(m["memory_peak_bytes"].get<double>(), 9000.0);  // the highest
  EXPECT_EQ(m["memory_units"], 7u) << "memory per unit is the first pass's";
  EXPECT_EQ(m["workload_figure"], 12.0) << "a workload's own metric is the last pass's";
  EXPECT_EQ(sum.notes["pass"], 0);
  EXPECT_DOUBLE_EQ(sum.elapsed_s, 0.015);
  EXPECT_DOUBLE_EQ(sum.cell_rusage["cpu_user_s"].get<double>(), 0.03);
  EXPECT_DOUBLE_EQ(sum.cell_rusage["ctx_voluntary"].get<double>(), 6.0);
  // One part is itself; none, or latency percentiles, cannot be added up.
  EXPECT_EQ(add_process_passes({parts[1]}).metrics, parts[1].metrics);
  EXPECT_THROW(add_process_passes({}), std::invalid_argument);
  parts[2].metrics["latency_ns"] = {{"count", 4}, {"p50", 100}};
  EXPECT_THROW(add_process_passes(parts), std::invalid_argument);
}

}  // namespace
}  // namespace cmbench
