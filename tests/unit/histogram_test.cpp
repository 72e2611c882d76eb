// The histogram's percentiles against distributions whose quantiles are known.
#include "harness/cell/histogram.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace cmbench {
namespace {

// A recorded value is known to within one sub-bucket: 1/128 of its magnitude.
constexpr double kRelErr = 1.0 / Histogram::kSub;

void expect_near_rel(double actual, double expected) {
  EXPECT_LE(std::fabs(actual - expected), expected * kRelErr + 1) << "expected " << expected;
}

TEST(Histogram, EmptyReportsZero) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.quantile(0.5), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
}

TEST(Histogram, SmallValuesAreExact) {
  Histogram h;
  for (uint64_t v = 1; v <= 100; ++v) h.record(v);
  EXPECT_EQ(h.quantile(0.5), 50u);
  EXPECT_EQ(h.quantile(0.9), 90u);
  EXPECT_EQ(h.quantile(0.99), 99u);
  EXPECT_EQ(h.quantile(1.0), 100u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), 100u);
  EXPECT_DOUBLE_EQ(h.mean(), 50.5);
}

TEST(Histogram, UniformQuantilesWithinOneBucket) {
  Histogram h;
  const uint64_t n = 1'000'000;
  for (uint64_t v = 1; v <= n; ++v) h.record(v);
  for (double q : {0.5, 0.9, 0.99, 0.999}) expect_near_rel(h.quantile(q), q * n);
  EXPECT_EQ(h.quantile(1.0), n);  // max is exact
}

TEST(Histogram, ExponentialQuantiles) {
  // Quantile q of Exp(mean) is -mean * ln(1 - q); with a million samples the
  // sampling error is far below a bucket's width at these quantiles.
  std::mt19937_64 rng(42);
  const double mean = 20'000;
  std::exponential_distribution<double> dist(1.0 / mean);
  Histogram h;
  for (int i = 0; i < 1'000'000; ++i) h.record(static_cast<uint64_t>(dist(rng)));
  for (double q : {0.5, 0.9, 0.99}) {
    double want = -mean * std::log(1 - q);
    EXPECT_NEAR(h.quantile(q), want, want * (kRelErr + 0.01)) << "q=" << q;
  }
}

TEST(Histogram, BucketBoundsAreContiguous) {
  for (size_t i = 1; i + 1 < Histogram::kBuckets; ++i) {
    ASSERT_EQ(Histogram::lowest_in(i), Histogram::highest_in(i - 1) + 1) << i;
    ASSERT_EQ(Histogram::index_of(Histogram::lowest_in(i)), i);
    ASSERT_EQ(Histogram::index_of(Histogram::highest_in(i)), i);
  }
}

TEST(Histogram, HugeValuesLandInTheTopBucketAndMaxStaysExact) {
  Histogram h;
  h.record(uint64_t{1} << 60);
  EXPECT_EQ(Histogram::index_of(uint64_t{1} << 60), Histogram::kBuckets - 1);
  EXPECT_EQ(h.quantile(0.5), uint64_t{1} << 60);
}

TEST(Histogram, MergeEqualsRecordingEverything) {
  Histogram a, b, all;
  for (uint64_t v = 1; v < 5000; v += 3) {
    (v % 2 ? a : b).record(v * 7);
    all.record(v * 7);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  for (double q : {0.1, 0.5, 0.9, 0.999}) EXPECT_EQ(a.quantile(q), all.quantile(q));
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
}

}  // namespace
}  // namespace cmbench
