// The exact-count side of the regression gate (`--count instructions`):
// reading callgrind's totals, refusing cells Valgrind cannot count, and
// judging exact metrics by their change alone.
#include <gtest/gtest.h>

#include <stdexcept>

#include "harness/sandbox/instructions.hpp"
#include "harness/stats/compare.hpp"

namespace cmbench {
namespace {

// A counted results document: one cell, one repetition per value of
// instructions_per_op, with a time per operation that says the opposite.
nlohmann::json counted_doc(const std::vector<double>& instructions_per_op, double ns_per_op) {
  nlohmann::json d = {{"schema", "cmbench-results"},
                      {"schema_version", 1},
                      {"context", {{"cpu_model", "x"}}},
                      {"options", {{"count", "instructions"}}}};
  nlohmann::json c = {{"name", "prodcons/fiber/threads:1"}, {"outcome", "ok"}, {"repetitions", nlohmann::json::array()}};
  for (double v : instructions_per_op)
    c["repetitions"].push_back({{"outcome", "ok"},
                                {"metrics",
                                 {{"ns_per_op", ns_per_op},
                                  {"instructions_per_op", v},
                                  {"d1_misses_per_op", 0.5},
                                  {"ll_misses_per_op", 0.01}}}});
  d["cells"] = nlohmann::json::array({c});
  return d;
}

const MetricResult* metric(const Comparison& c, const std::string& name) {
  for (const auto& m : c.cells.at(0).metrics)
    if (m.metric->name == name) return &m;
  return nullptr;
}

TEST(ExactCount, OnePercentMoreInstructionsIsARegressionWithOneRepetitionASide) {
  // 1.2% more: flagged with no test, although one value a side could never
  // be significant for Mann-Whitney.
  Comparison c = compare_results(counted_doc({300.0}, 10), counted_doc({303.6}, 10), CompareOptions{});
  ASSERT_NE(metric(c, "instructions_per_op"), nullptr);
  EXPECT_EQ(metric(c, "instructions_per_op")->change, Change::regressed);
  EXPECT_EQ(c.regressed, 1u);
  EXPECT_EQ(c.tests, 0u);  // exact metrics are not in the corrected family
  // Times under Valgrind are not compared by default in counted runs.
  EXPECT_EQ(metric(c, "ns_per_op"), nullptr);
}

TEST(ExactCount, BelowTheThresholdIsUnchangedAndTheThresholdIsSettable) {
  const auto base = counted_doc({300.0, 300.01, 300.02}, 10);
  const auto head = counted_doc({302.0, 302.01, 302.0}, 1000);  // +0.67%
  Comparison c = compare_results(base, head, CompareOptions{});
  EXPECT_EQ(metric(c, "instructions_per_op")->change, Change::unchanged);
  EXPECT_EQ(c.regressed, 0u);
  CompareOptions half;
  parse_exact_threshold("0.5%", half);
  EXPECT_DOUBLE_EQ(half.exact_threshold, 0.005);
  EXPECT_EQ(metric(compare_results(base, head, half), "instructions_per_op")->change, Change::regressed);
  // And per metric, as --threshold METRIC=PCT.
  CompareOptions per;
  parse_threshold("instructions_per_op=0.5", per);
  EXPECT_EQ(metric(compare_results(base, head, per), "instructions_per_op")->change, Change::regressed);
  // Fewer instructions: improved.
  EXPECT_EQ(metric(compare_results(head, base, half), "instructions_per_op")->change, Change::improved);
  EXPECT_THROW(parse_exact_threshold("one", half), std::invalid_argument);
}

TEST(ExactCount, JsonSaysTheMetricIsExact) {
  Comparison c = compare_results(counted_doc({300.0}, 10), counted_doc({310.0}, 10), CompareOptions{});
  const auto j = comparison_json(c);
  EXPECT_TRUE(j["cells"][0]["metrics"]["instructions_per_op"]["exact"].get<bool>());
  EXPECT_EQ(j["cells"][0]["metrics"]["instructions_per_op"]["change"], "regressed");
  EXPECT_DOUBLE_EQ(j["options"]["exact_threshold"].get<double>(), 0.01);
}

TEST(ExactCount, ReadsCallgrindTotalsNotItsZeroedSummary) {
  const std::string text =
      "# callgrind format\nversion: 1\nevents: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw\nsummary: 0\n"
      "fn=(1) main\n0 5 1 1\n"
      "totals: 947161 264912 204451 237 175 286 237 174 286\n";
  const CallgrindCounts c = parse_callgrind(text);
  EXPECT_EQ(c.instructions, 947161u);
  EXPECT_EQ(c.i1_misses, 237u);
  EXPECT_EQ(c.d1_misses, 175u + 286u);
  EXPECT_EQ(c.ll_misses, 237u + 174u + 286u);
  nlohmann::json m = {{"operations", 1000}};
  add_count_metrics(m, c);
  EXPECT_DOUBLE_EQ(m["instructions_per_op"].get<double>(), 947.161);
  EXPECT_THROW(parse_callgrind("events: Ir\n"), std::runtime_error);
  EXPECT_THROW(parse_callgrind("totals: 5\n"), std::runtime_error);
  // Without the cache simulator there are no miss events: an error, not zeros.
  EXPECT_THROW(parse_callgrind("events: Ir\ntotals: 5\n"), std::runtime_error);
}

TEST(ExactCount, RefusesCellsWhoseUnitsAreNotOnOneThread) {
  EXPECT_TRUE(count_refusal("prodcons", "process", {}));
  EXPECT_TRUE(count_refusal("prodcons", "thread", {}));
  EXPECT_TRUE(count_refusal("prodcons", "fiber", {{"threads", "0"}}));
  EXPECT_TRUE(count_refusal("prodcons", "fiber", {{"threads", "4"}}));
  EXPECT_TRUE(count_refusal("prodcons", "coro", {{"threads", "2"}}));  // counted before bfcc962
  EXPECT_TRUE(count_refusal("prodcons", "boost-fiber", {{"threads", "0"}}));
  EXPECT_TRUE(count_refusal("prodcons", "go", {{"gomaxprocs", "1"}}));
  EXPECT_TRUE(count_refusal("echo", "uv", {}));
  EXPECT_FALSE(count_refusal("prodcons", "fiber", {{"threads", "1"}}));
  EXPECT_FALSE(count_refusal("prodcons", "boost-fiber", {}));
  EXPECT_FALSE(count_refusal("prodcons", "coro", {}));
  EXPECT_FALSE(count_refusal("pingpong", "uv", {}));
  const auto why = count_refusal("prodcons", "thread", {});
  EXPECT_NE(why->find("Valgrind"), std::string::npos);
}

}  // namespace
}  // namespace cmbench
