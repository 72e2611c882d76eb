// What `cmbench run` prints while it runs: the estimate of the time left and
// the lines of a log and of a terminal.
#include "harness/driver/progress.hpp"

#include <gtest/gtest.h>

namespace cmbench {
namespace {

using Size = EtaEstimator::CellSize;

TEST(Eta, NothingIsKnownBeforeTheFirstOkCell) {
  EtaEstimator eta({{"counter", "thread", 100}, {"counter", "thread", 100}}, 1e9);
  EXPECT_FALSE(eta.remaining_s(0, 0));
  // A crash did not do its work: its time says nothing of the cost.
  eta.finished(0, 5, false);
  EXPECT_FALSE(eta.remaining_s(1, 0));
}

TEST(Eta, ScalesTheSameCellKindByItsWork) {
  EtaEstimator eta({{"counter", "thread", 100}, {"counter", "thread", 300}, {"counter", "thread", 50}}, 1e9);
  eta.finished(0, 2, true);  // 0.02 s per unit of work
  EXPECT_DOUBLE_EQ(*eta.cell_s(1), 6);
  EXPECT_DOUBLE_EQ(*eta.remaining_s(1, 0), 6 + 1);
  // The running cell has spent 4 of its 6 s; one past its estimate has nothing left.
  EXPECT_DOUBLE_EQ(*eta.remaining_s(1, 4), 2 + 1);
  EXPECT_DOUBLE_EQ(*eta.remaining_s(1, 60), 0 + 1);
  eta.finished(1, 3, true);  // now 5 s for 400 units
  EXPECT_DOUBLE_EQ(*eta.remaining_s(2, 0), 5.0 / 400 * 50);
  eta.finished(2, 1, true);
  EXPECT_DOUBLE_EQ(*eta.remaining_s(2, 0), 0);
}

TEST(Eta, TakesTheCostOfTheClosestKin) {
  EtaEstimator eta({{"spawn", "thread", 10},     // 0: 1 s per unit
                    {"counter", "fiber", 10},    // 1: 0.01 s per unit
                    {"spawn", "thread", 20},     // same workload and model
                    {"spawn", "fiber", 20},      // same workload, another model
                    {"counter", "process", 20},  // same workload
                    {"ring", "fiber", 20},       // same model only
                    {"ring", "uv", 20}},         // nothing in common: the whole run
                   1e9);
  eta.finished(0, 10, true);
  eta.finished(1, 0.1, true);
  EXPECT_DOUBLE_EQ(*eta.cell_s(2), 20);
  EXPECT_DOUBLE_EQ(*eta.cell_s(3), 20);
  EXPECT_DOUBLE_EQ(*eta.cell_s(4), 0.2);
  EXPECT_DOUBLE_EQ(*eta.cell_s(5), 0.2);
  EXPECT_DOUBLE_EQ(*eta.cell_s(6), 10.1 / 20 * 20);
}

TEST(Eta, NoCellTakesLongerThanItsTimeoutsAndSkippedCellsCostNothing) {
  EtaEstimator eta({{"spawn", "thread", 1}, {"spawn", "thread", 1000}, {"spawn", "thread", 1}}, 30);
  eta.finished(0, 1, true);
  EXPECT_DOUBLE_EQ(*eta.cell_s(1), 30);
  eta.skipped(1);
  EXPECT_DOUBLE_EQ(*eta.remaining_s(2, 0), 1);
}

TEST(Progress, DurationsReadAtAGlance) {
  EXPECT_EQ(human_duration(0), "0s");
  EXPECT_EQ(human_duration(59.4), "59s");
  EXPECT_EQ(human_duration(65), "1m05s");
  EXPECT_EQ(human_duration(3600 + 120 + 7), "1h02m");
  EXPECT_EQ(human_duration(-3), "0s");
}

TEST(Progress, ALogGetsOneAlignedLinePerCell) {
  nlohmann::json ok = {{"name", "counter/thread/units:2"},
                       {"outcome", "ok"},
                       {"aggregates", {{"ns_per_op", {{"median", 1234.0}, {"cv", 0.008}}}}}};
  EXPECT_EQ(finished_line(ok, 2, 40), "[ 3/40] ok         1.23 us   0.8%  counter/thread/units:2");
  nlohmann::json limit = {{"name", "spawn/thread/units:100000"},
                          {"outcome", "limit"},
                          {"message", "Resource temporarily unavailable after 32,454 units"}};
  EXPECT_EQ(finished_line(limit, 39, 40),
            "[40/40] limit            -      -  spawn/thread/units:100000: Resource temporarily unavailable after "
            "32,454 units");
}

TEST(Progress, TheLiveLineShowsTimeSpentAndLeftAndFitsTheTerminal) {
  EXPECT_EQ(live_line(2, 40, 72, 245, "counter/thread/units:2", "2/5", 200),
            "[3/40 1m12s, ~4m05s left] counter/thread/units:2 (2/5)");
  EXPECT_EQ(live_line(0, 40, 1, std::nullopt, "counter/thread/units:2", "warm-up", 200),
            "[1/40 1s] counter/thread/units:2 (warm-up)");
  EXPECT_EQ(live_line(2, 40, 72, 245, "counter/thread/units:2", "2/5", 20).size(), 20u);
}

}  // namespace
}  // namespace cmbench
