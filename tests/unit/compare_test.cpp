#include "harness/stats/compare.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>

#include "harness/driver/ab.hpp"
#include "harness/stats/stats.hpp"

namespace cmbench {
namespace {

// A results document with one cell per entry: name -> ns_per_op of each
// repetition (latency and memory left out, so one metric per cell).
nlohmann::json doc(const std::vector<std::pair<std::string, std::vector<double>>>& cells,
                   const std::string& outcome_of_last = "ok") {
  nlohmann::json d = {{"schema", "cmbench-results"}, {"schema_version", 1}, {"context", {{"cpu_model", "x"}}}};
  d["cells"] = nlohmann::json::array();
  for (size_t i = 0; i < cells.size(); ++i) {
    const auto& [name, values] = cells[i];
    const std::string outcome = i + 1 == cells.size() ? outcome_of_last : "ok";
    nlohmann::json c = {{"name", name}, {"outcome", outcome}, {"repetitions", nlohmann::json::array()}};
    if (outcome != "ok") c["message"] = "killed by signal 11";
    for (double v : values)
      c["repetitions"].push_back({{"outcome", "ok"}, {"metrics", {{"ns_per_op", v}, {"cpu_ns_per_op", v}}}});
    d["cells"].push_back(c);
  }
  return d;
}

std::vector<double> around(double centre, int n) {
  // Deterministic spread of +-2% around the centre.
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back(centre * (1 + 0.02 * ((i * 7 % n) / double(n) - 0.5)));
  return v;
}

const CellComparison& cell(const Comparison& c, const std::string& name) {
  for (const auto& cc : c.cells)
    if (cc.name == name) return cc;
  throw std::runtime_error("no cell " + name);
}

TEST(Compare, FlagsASignificantSlowdownAboveTheThresholdOnly) {
  auto base = doc({{"slow", around(100, 10)}, {"same", around(50, 10)}, {"tiny", around(10, 10)},
                   {"faster", around(200, 10)}});
  auto head = doc({{"slow", around(120, 10)}, {"same", around(50, 10)}, {"tiny", around(10.2, 10)},
                   {"faster", around(150, 10)}});
  Comparison c = compare_results(base, head, CompareOptions{});
  EXPECT_EQ(cell(c, "slow").change, Change::regressed);
  EXPECT_EQ(cell(c, "same").change, Change::unchanged);
  // 2% slower, and with no overlap significant, but below the 5% threshold.
  EXPECT_EQ(cell(c, "tiny").change, Change::unchanged);
  EXPECT_EQ(cell(c, "faster").change, Change::improved);
  EXPECT_EQ(c.regressed, 1u);
  EXPECT_EQ(c.improved, 1u);
  EXPECT_EQ(c.tests, 8u);  // 4 cells x (ns_per_op, cpu_ns_per_op)
  EXPECT_EQ(comparison_status(c), 1);
  const auto& m = cell(c, "slow").metrics.front();
  EXPECT_NEAR(m.ratio, 1.2, 1e-9);
  ASSERT_TRUE(m.ci.valid);
  EXPECT_LE(m.ci.lo, 1.2);
  EXPECT_GE(m.ci.hi, 1.2);
  EXPECT_LT(m.p_adjusted, 0.05);
  // A 2% change counts once the threshold is 1%.
  CompareOptions strict;
  parse_threshold("1%", strict);
  EXPECT_EQ(cell(compare_results(base, head, strict), "tiny").change, Change::regressed);
  // ... or only for one metric.
  CompareOptions one;
  parse_threshold("cpu_ns_per_op=1", one);
  const Comparison per_metric = compare_results(base, head, one);
  const auto& tiny = cell(per_metric, "tiny");
  EXPECT_EQ(tiny.change, Change::regressed);
  EXPECT_EQ(tiny.metrics[0].change, Change::unchanged);  // ns_per_op keeps 5%
}

TEST(Compare, ImprovementAndRegressionAreMirrorImages) {
  auto base = doc({{"a", around(100, 8)}});
  auto head = doc({{"a", around(80, 8)}});
  EXPECT_EQ(compare_results(base, head, CompareOptions{}).cells[0].change, Change::improved);
  EXPECT_EQ(compare_results(head, base, CompareOptions{}).cells[0].change, Change::regressed);
}

TEST(Compare, TooFewRepetitionsWarnInsteadOfDeciding) {
  auto base = doc({{"a", {100, 101, 99}}});
  auto head = doc({{"a", {150, 151, 149}}});
  Comparison c = compare_results(base, head, CompareOptions{});
  // 3 and 3 repetitions: the smallest possible p is 0.1.
  EXPECT_EQ(c.cells[0].change, Change::unchanged);
  EXPECT_FALSE(c.cells[0].metrics[0].warning.empty());
  ASSERT_FALSE(c.warnings.empty());
  EXPECT_NE(c.warnings[0].find("too few repetitions"), std::string::npos);
  EXPECT_EQ(comparison_status(c), 0);
}

// A side whose speed loop varied above 3% at the median cell gets a warning
// that names it and its figures; the verdicts are the test's, unchanged.
TEST(Compare, AnUnsteadyMachineIsNamedPerSideAndChangesNoVerdict) {
  auto base = doc({{"a", around(100, 15)}, {"b", around(100, 15)}});
  auto head = doc({{"a", around(100, 15)}, {"b", around(120, 15)}});
  const Comparison quiet = compare_results(base, head, CompareOptions{});
  for (auto& c : head["cells"]) c["aggregates"] = {{"ref_loop_ns", {{"cv", 0.06}}}};
  for (auto& c : base["cells"]) c["aggregates"] = {{"ref_loop_ns", {{"cv", 0.01}}}};
  const Comparison loud = compare_results(base, head, CompareOptions{});
  ASSERT_EQ(loud.warnings.size(), quiet.warnings.size() + 1);
  const std::string& w = loud.warnings.back();
  EXPECT_NE(w.find("varied during HEAD: the speed loop's CV over a cell's repetitions: median 6.0%"),
            std::string::npos)
      << w;
  EXPECT_EQ(w.find("BASE"), std::string::npos) << w;
  EXPECT_EQ(loud.regressed, quiet.regressed);
  EXPECT_EQ(cell(loud, "b").change, Change::regressed);
  EXPECT_NE(comparison_markdown(loud).find("> warning: the machine's own speed varied during HEAD"),
            std::string::npos);
}

TEST(Compare, ACellThatBrokeIsARegression) {
  auto base = doc({{"a", around(100, 10)}, {"b", around(100, 10)}});
  auto head = doc({{"a", around(100, 10)}, {"b", {}}}, "crashed");
  Comparison c = compare_results(base, head, CompareOptions{});
  EXPECT_TRUE(cell(c, "b").broken);
  EXPECT_EQ(c.broken, 1u);
  EXPECT_EQ(comparison_status(c), 1);
  EXPECT_NE(comparison_markdown(c).find("**broken**"), std::string::npos);
  // The other way round it is news, not a regression.
  EXPECT_EQ(comparison_status(compare_results(head, base, CompareOptions{})), 0);
}

TEST(Compare, ALimitIsAResultButALimitThatCrashesBroke) {
  auto ok = doc({{"a", around(100, 10)}, {"b", around(100, 10)}});
  auto limit = doc({{"a", around(100, 10)}, {"b", {}}}, "limit");
  auto crashed = doc({{"a", around(100, 10)}, {"b", {}}}, "crashed");
  // Where a model stops is a result: the same limit twice compares nothing.
  Comparison same = compare_results(limit, limit, CompareOptions{});
  EXPECT_FALSE(cell(same, "b").broken);
  EXPECT_EQ(comparison_status(same), 0);
  // A limit that became a crash broke; one that became ok is news.
  Comparison worse = compare_results(limit, crashed, CompareOptions{});
  EXPECT_TRUE(cell(worse, "b").broken);
  EXPECT_NE(cell(worse, "b").note.find("limit in BASE, crashed in HEAD"), std::string::npos) << cell(worse, "b").note;
  EXPECT_EQ(comparison_status(worse), 1);
  EXPECT_EQ(comparison_status(compare_results(limit, ok, CompareOptions{})), 0);
  // A model that held the size and now stops short of it holds less: broken.
  EXPECT_EQ(comparison_status(compare_results(ok, limit, CompareOptions{})), 1);
}

TEST(Compare, CellsOnOneSideOnlyAreListedAndNoCommonCellIsAnError) {
  auto base = doc({{"a", around(100, 10)}, {"old", around(1, 10)}});
  auto head = doc({{"a", around(100, 10)}, {"new", around(1, 10)}});
  Comparison c = compare_results(base, head, CompareOptions{});
  EXPECT_EQ(c.only_base, std::vector<std::string>{"old"});
  EXPECT_EQ(c.only_head, std::vector<std::string>{"new"});
  EXPECT_THROW(compare_results(doc({{"x", {1}}}), doc({{"y", {1}}}), CompareOptions{}),
               std::invalid_argument);
}

TEST(Compare, ThresholdAndMetricErrorsNameTheFlag) {
  CompareOptions o;
  for (const char* bad : {"abc", "-5", "5%%", "nosuch=5", "ns_per_op=x", ""}) {
    try {
      parse_threshold(bad, o);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("--threshold"), std::string::npos) << e.what();
    }
  }
  parse_threshold("7.5", o);
  EXPECT_DOUBLE_EQ(o.threshold, 0.075);
  CompareOptions m;
  m.metrics = {"nope"};
  EXPECT_THROW(compare_results(doc({{"a", {1}}}), doc({{"a", {1}}}), m), std::invalid_argument);
}

TEST(Compare, JsonCarriesEveryRepetitionAndTheVerdict) {
  auto base = doc({{"slow", around(100, 10)}});
  auto head = doc({{"slow", around(130, 10)}});
  auto j = comparison_json(compare_results(base, head, CompareOptions{}));
  EXPECT_EQ(j["regressed"], 1);
  const auto& m = j["cells"][0]["metrics"]["ns_per_op"];
  EXPECT_EQ(m["base"].size(), 10u);
  EXPECT_EQ(m["change"], "regressed");
  EXPECT_TRUE(m["p_exact"].get<bool>());
  EXPECT_TRUE(m["hodges_lehmann"].is_object());
}

// Time per operation of echo/uv in an A/A `cmbench ab` of one binary against
// itself (ci preset, 20 repetitions a side), in the order the 40 cell
// processes ran: consecutive processes run at related speeds.
const std::vector<double> kAAInTimeOrder = {
    4006, 4465, 4372, 4177, 4037, 4157, 4446, 4273, 4112, 4323, 4591, 4103, 4183, 4475,
    4218, 4084, 4189, 4551, 4523, 4073, 4340, 4502, 4126, 4422, 4073, 4116, 4398, 4153,
    4155, 4278, 4379, 4158, 4034, 4111, 4537, 4092, 4025, 4416, 4424, 4111};

// The p-value of the A/A above when pair k ran base first iff first[k].
double aa_p(const std::vector<bool>& first) {
  std::vector<double> base, head;
  for (size_t k = 0; k < first.size(); ++k) {
    base.push_back(kAAInTimeOrder[2 * k + (first[k] ? 0 : 1)]);
    head.push_back(kAAInTimeOrder[2 * k + (first[k] ? 1 : 0)]);
  }
  return mann_whitney(base, head).p;
}

// The two files of one ab run (the same options.ab) are compared with
// intervals over their pairs; two files of different runs are not.
TEST(Compare, TheSidesOfOneAbRunAreComparedAsPairs) {
  std::vector<double> b, h;
  for (int i = 0; i < 20; ++i) {
    const double speed = 1 + 0.2 * ((i * 7) % 20) / 20.0;  // shared by repetition i of each side
    b.push_back(100 * speed);
    h.push_back(100 * speed * (1 + 0.004 * (i % 3 - 1)));
  }
  auto base = doc({{"c", b}});
  auto head = doc({{"c", h}});
  const nlohmann::json ab = {{"base", "a/cmbench"}, {"head", "b/cmbench"}, {"order", "random pairs"}, {"seed", 7}};
  base["options"]["ab"] = ab;
  head["options"]["ab"] = ab;
  const Comparison paired = compare_results(base, head, CompareOptions{});
  EXPECT_TRUE(paired.paired);
  const auto& pm = cell(paired, "c").metrics.front();
  EXPECT_TRUE(pm.paired);
  ASSERT_TRUE(pm.ci.valid);
  const auto j = comparison_json(paired);
  EXPECT_EQ(j["paired"], true);
  EXPECT_EQ(j["cells"][0]["metrics"]["ns_per_op"]["ratio_ci_resampling"], "pairs");
  EXPECT_NE(comparison_markdown(paired).find("resample the pairs"), std::string::npos);

  head["options"]["ab"]["seed"] = 8;  // another run's head
  const Comparison apart = compare_results(base, head, CompareOptions{});
  EXPECT_FALSE(apart.paired);
  const auto& am = cell(apart, "c").metrics.front();
  EXPECT_FALSE(am.paired);
  ASSERT_TRUE(am.ci.valid);
  EXPECT_EQ(comparison_json(apart)["cells"][0]["metrics"]["ns_per_op"]["ratio_ci_resampling"], "independent");
  // The speed the pairs share is out of the paired interval only.
  EXPECT_LT(pm.ci.hi - pm.ci.lo, (am.ci.hi - am.ci.lo) / 4);
  // The verdict is the test's, the same either way.
  EXPECT_EQ(pm.test.p, am.test.p);
}

TEST(ABOrder, AFixedOrderCanLineUpWithTheMachineAndACoinFlipPerPairCannot) {
  // The order `ab` used to run, B A A B B A ... here: this A/A's test calls
  // the one binary different from itself (compare flagged it as a 6.7%
  // improvement, p = 1e-5; 3e-5 on these rounded values).
  std::vector<bool> fixed;
  for (int k = 0; k < 20; ++k) fixed.push_back(k % 2 == 1);
  EXPECT_LT(aa_p(fixed), 1e-4);
  // A coin flip per pair: over 1,000 seeds, p < 0.001 about as rarely as
  // for independent repetitions (1 in 1,000; 5 here, where the fixed order
  // gives it every time).
  int small = 0, base_first = 0;
  for (uint32_t seed = 1; seed <= 1000; ++seed) {
    const auto order = base_first_in_pairs(seed, 7, 20);
    ASSERT_EQ(order.size(), 20u);
    small += aa_p(order) < 1e-3;
    base_first += std::count(order.begin(), order.end(), true);
  }
  EXPECT_LE(small, 10);
  EXPECT_NEAR(base_first / 20000.0, 0.5, 0.02);
  // The order is the seed's: the same seed and cell give the same order,
  // another cell another.
  EXPECT_EQ(base_first_in_pairs(42, 3, 21), base_first_in_pairs(42, 3, 21));
  EXPECT_NE(base_first_in_pairs(42, 3, 21), base_first_in_pairs(42, 4, 21));
}

}  // namespace
}  // namespace cmbench
