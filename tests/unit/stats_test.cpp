#include "harness/stats.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace cmbench {
namespace {

TEST(Stats, OddAndEvenMedians) {
  std::vector<double> odd = {5, 1, 3};
  std::vector<double> even = {4, 1, 3, 2};
  EXPECT_DOUBLE_EQ(median(odd), 3);
  EXPECT_DOUBLE_EQ(median(even), 2.5);
}

TEST(Stats, KnownSummary) {
  // mean 5, sample variance 32/7, median 4.5, |x - 4.5| = 2.5 .5 .5 .5 .5 .5 1.5 4.5 -> MAD 0.5
  std::vector<double> v = {2, 4, 4, 4, 5, 5, 7, 9};
  Summary s = summarize(v);
  EXPECT_EQ(s.n, 8u);
  EXPECT_DOUBLE_EQ(s.mean, 5);
  EXPECT_DOUBLE_EQ(s.median, 4.5);
  EXPECT_DOUBLE_EQ(s.min, 2);
  EXPECT_DOUBLE_EQ(s.max, 9);
  EXPECT_NEAR(s.stddev, 2.138089935, 1e-9);
  EXPECT_NEAR(s.cv, 2.138089935 / 5, 1e-9);
  EXPECT_DOUBLE_EQ(s.mad, 0.5);
}

TEST(Stats, SingleValueHasNoSpread) {
  std::vector<double> v = {7};
  Summary s = summarize(v);
  EXPECT_EQ(s.n, 1u);
  EXPECT_DOUBLE_EQ(s.median, 7);
  EXPECT_DOUBLE_EQ(s.stddev, 0);
  EXPECT_DOUBLE_EQ(s.cv, 0);
}

TEST(Stats, EmptyIsZero) {
  Summary s = summarize({});
  EXPECT_EQ(s.n, 0u);
  EXPECT_DOUBLE_EQ(s.median, 0);
}

}  // namespace
}  // namespace cmbench
