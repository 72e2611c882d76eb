// The parts of `cmbench run` that decide without running a cell: which
// outcomes fail a run.
#include "harness/driver/run.hpp"

#include <gtest/gtest.h>

namespace cmbench {
namespace {

TEST(RunStatus, ALimitIsAResultUnlessStrict) {
  EXPECT_TRUE(outcome_passes(Outcome::ok, false));
  EXPECT_TRUE(outcome_passes(Outcome::ok, true));
  EXPECT_TRUE(outcome_passes(Outcome::limit, false));
  EXPECT_FALSE(outcome_passes(Outcome::limit, true));
  for (Outcome o : {Outcome::crashed, Outcome::invalid, Outcome::timeout, Outcome::failed}) {
    EXPECT_FALSE(outcome_passes(o, false)) << to_string(o);
    EXPECT_FALSE(outcome_passes(o, true)) << to_string(o);
  }
}

}  // namespace
}  // namespace cmbench
