#include "harness/stats/stats.hpp"

#include <gtest/gtest.h>

#include <cmath>
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

// The example of SciPy's mannwhitneyu documentation (a study of ages):
// U = 17 for the first sample; exact p = 0.1111 (14 of 126 arrangements),
// asymptotic with continuity correction p = 0.11134688653314041.
TEST(MannWhitney, MatchesSciPysDocumentedExample) {
  std::vector<double> males = {19, 22, 16, 29, 24};
  std::vector<double> females = {20, 11, 17, 12};
  MannWhitney exact = mann_whitney(females, males);
  EXPECT_TRUE(exact.exact);
  EXPECT_DOUBLE_EQ(exact.u, 17);
  EXPECT_NEAR(exact.p, 14.0 / 126.0, 1e-12);
  MannWhitney normal = mann_whitney(females, males, /*allow_exact=*/false);
  EXPECT_FALSE(normal.exact);
  EXPECT_NEAR(normal.p, 0.11134688653314041, 1e-9);
}

TEST(MannWhitney, CompleteSeparationGivesTheSmallestPValue) {
  std::vector<double> x = {1, 2, 3}, y = {4, 5, 6};
  MannWhitney r = mann_whitney(x, y);
  EXPECT_DOUBLE_EQ(r.u, 9);
  EXPECT_NEAR(r.p, 0.1, 1e-12);  // 2 of C(6, 3) = 20
  EXPECT_NEAR(min_p_value(3, 3), 0.1, 1e-12);
  EXPECT_NEAR(min_p_value(10, 10), 2.0 / 184756.0, 1e-15);
  EXPECT_DOUBLE_EQ(mann_whitney(y, x).u, 0);
  EXPECT_NEAR(mann_whitney(y, x).p, 0.1, 1e-12);
}

TEST(MannWhitney, IdenticalSamplesAreNoEvidence) {
  std::vector<double> x = {5, 5, 5, 5}, y = {5, 5, 5};
  EXPECT_DOUBLE_EQ(mann_whitney(x, y).p, 1);
}

// The exact p-value against a brute-force count over every way of splitting
// the pooled values into groups of the two sizes.
double permutation_p(const std::vector<double>& x, const std::vector<double>& y) {
  std::vector<double> all = x;
  all.insert(all.end(), y.begin(), y.end());
  const size_t n = all.size(), ny = y.size();
  auto u_of = [&](unsigned mask) {
    double u = 0;
    for (size_t j = 0; j < n; ++j)
      if (mask >> j & 1)
        for (size_t i = 0; i < n; ++i)
          if (!(mask >> i & 1)) u += all[j] > all[i] ? 1 : all[j] == all[i] ? 0.5 : 0;
    return u;
  };
  unsigned observed = 0;
  for (size_t j = x.size(); j < n; ++j) observed |= 1u << j;
  const double mu = static_cast<double>(x.size() * ny) / 2;
  const double dev = std::fabs(u_of(observed) - mu);
  double extreme = 0, total = 0;
  for (unsigned mask = 0; mask < (1u << n); ++mask) {
    if (static_cast<size_t>(__builtin_popcount(mask)) != ny) continue;
    total += 1;
    if (std::fabs(u_of(mask) - mu) >= dev - 1e-9) extreme += 1;
  }
  return extreme / total;
}

TEST(MannWhitney, ExactPValueEqualsThePermutationCount) {
  std::vector<double> x = {10.1, 11.4, 9.8, 12.0, 10.7}, y = {11.9, 12.5, 13.1, 10.9, 12.2, 11.0};
  EXPECT_NEAR(mann_whitney(x, y).p, permutation_p(x, y), 1e-12);
}

TEST(MannWhitney, NormalApproximationWithTiesIsCloseToThePermutationCount) {
  std::vector<double> x = {3, 4, 4, 5, 6, 6, 7, 8}, y = {5, 6, 7, 7, 8, 9, 9, 10};
  MannWhitney r = mann_whitney(x, y);
  EXPECT_FALSE(r.exact);  // ties
  EXPECT_NEAR(r.p, permutation_p(x, y), 0.01);
}

TEST(HodgesLehmann, ShiftAndItsExactInterval) {
  // Differences 1 2 2 3 3 3 4 4 5: median 3. For sizes 3 and 3, U is 0 or 1
  // with probability 1/20 each, so P(U <= 1) = 0.1 fits the 80% interval's
  // lower tail: it drops one difference at each end, [2, 4].
  std::vector<double> x = {1, 2, 3}, y = {4, 5, 6};
  ShiftEstimate s = hodges_lehmann(x, y, 0.8, false);
  ASSERT_TRUE(s.valid);
  EXPECT_DOUBLE_EQ(s.estimate, 3);
  EXPECT_DOUBLE_EQ(s.lo, 2);
  EXPECT_DOUBLE_EQ(s.hi, 4);
  // At 95%, complete separation of 3 and 3 is within the tail: no interval.
  EXPECT_FALSE(hodges_lehmann(x, y, 0.95, false).valid);
}

TEST(HodgesLehmann, RatioOnALogScale) {
  // Ratios y/x: 2 4 8 1 2 4 .5 1 2 -> median 2.
  std::vector<double> x = {1, 2, 4}, y = {2, 4, 8};
  ShiftEstimate s = hodges_lehmann(x, y, 0.8, true);
  EXPECT_NEAR(s.estimate, 2, 1e-12);
  std::vector<double> zero = {0, 1, 2};
  EXPECT_FALSE(hodges_lehmann(zero, y, 0.8, true).valid);
}

TEST(HodgesLehmann, LargeSamplesUseTheNormalCriticalValue) {
  // 30 and 30 values, y = x + 10: every difference lies in [10 - 29, 10 + 29]
  // and the interval is centred on 10.
  std::vector<double> x, y;
  for (int i = 0; i < 30; ++i) {
    x.push_back(i);
    y.push_back(i + 10);
  }
  ShiftEstimate s = hodges_lehmann(x, y, 0.95, false);
  ASSERT_TRUE(s.valid);
  EXPECT_DOUBLE_EQ(s.estimate, 10);
  EXPECT_LT(s.lo, 10);
  EXPECT_GT(s.hi, 10);
  EXPECT_DOUBLE_EQ(10 - s.lo, s.hi - 10);
}

TEST(Bootstrap, ConstantSamplesGiveTheExactRatio) {
  std::vector<double> x(7, 10.0), y(5, 12.0);
  RatioInterval r = bootstrap_median_ratio(x, y, 0.95);
  ASSERT_TRUE(r.valid);
  EXPECT_DOUBLE_EQ(r.lo, 1.2);
  EXPECT_DOUBLE_EQ(r.hi, 1.2);
}

TEST(Bootstrap, IntervalHoldsTheRatioOfMediansAndIsReproducible) {
  std::vector<double> x = {100, 104, 98, 101, 99, 103, 97, 102};
  std::vector<double> y = {120, 118, 125, 121, 119, 123, 122, 117};
  RatioInterval a = bootstrap_median_ratio(x, y, 0.95);
  RatioInterval b = bootstrap_median_ratio(x, y, 0.95);
  ASSERT_TRUE(a.valid);
  const double ratio = median(y) / median(x);
  EXPECT_LT(a.lo, ratio);
  EXPECT_GT(a.hi, ratio);
  EXPECT_GE(a.lo, 117.0 / 104.0);
  EXPECT_LE(a.hi, 125.0 / 97.0);
  EXPECT_DOUBLE_EQ(a.lo, b.lo);
  EXPECT_DOUBLE_EQ(a.hi, b.hi);
  std::vector<double> zeros = {0, 0, 0};
  EXPECT_FALSE(bootstrap_median_ratio(zeros, y, 0.95).valid);
}

// Pairs that share the machine's speed (x[i] and y[i] both slow in the
// same pairs, y 10% above x in every pair): resampling the pairs keeps
// what they share out of the interval, resampling each side does not.
TEST(Bootstrap, ResamplingPairsKeepsWhatAPairSharesOutOfTheInterval) {
  std::vector<double> x, y;
  for (int i = 0; i < 20; ++i) {
    const double speed = 1 + 0.2 * ((i * 7) % 20) / 20.0;  // 1.0 to 1.19, shared by the pair
    x.push_back(100 * speed);
    y.push_back(110 * speed * (1 + 0.005 * (i % 3 - 1)));
  }
  const RatioInterval sides = bootstrap_median_ratio(x, y, 0.95);
  const RatioInterval pairs = bootstrap_median_ratio(x, y, 0.95, Resampling::pairs);
  ASSERT_TRUE(sides.valid);
  ASSERT_TRUE(pairs.valid);
  EXPECT_LE(pairs.lo, 1.1);
  EXPECT_GE(pairs.hi, 1.1 * 0.995);
  EXPECT_LT(pairs.hi - pairs.lo, (sides.hi - sides.lo) / 4)
      << "pairs [" << pairs.lo << ", " << pairs.hi << "], sides [" << sides.lo << ", " << sides.hi << "]";
  // A constant ratio in every pair is the ratio exactly.
  std::vector<double> z;
  for (double v : x) z.push_back(1.25 * v);
  const RatioInterval exact = bootstrap_median_ratio(x, z, 0.95, Resampling::pairs);
  ASSERT_TRUE(exact.valid);
  EXPECT_NEAR(exact.lo, 1.25, 1e-12);
  EXPECT_NEAR(exact.hi, 1.25, 1e-12);
  // Pairs need as many values on each side.
  x.pop_back();
  EXPECT_FALSE(bootstrap_median_ratio(x, y, 0.95, Resampling::pairs).valid);
}

TEST(Correction, HolmAndBenjaminiHochbergByHand) {
  // Sorted: .005 .01 .03 .04. Holm: x4 x3 x2 x1 = .02 .03 .06 .04 -> made
  // non-decreasing: .02 .03 .06 .06. BH: x4/1 x4/2 x4/3 x4/4 = .02 .02 .04 .04.
  std::vector<double> p = {0.01, 0.04, 0.03, 0.005};
  auto holm = adjust_p_values(p, Correction::holm);
  EXPECT_NEAR(holm[0], 0.03, 1e-12);
  EXPECT_NEAR(holm[1], 0.06, 1e-12);
  EXPECT_NEAR(holm[2], 0.06, 1e-12);
  EXPECT_NEAR(holm[3], 0.02, 1e-12);
  auto bh = adjust_p_values(p, Correction::bh);
  EXPECT_NEAR(bh[0], 0.02, 1e-12);
  EXPECT_NEAR(bh[1], 0.04, 1e-12);
  EXPECT_NEAR(bh[2], 0.04, 1e-12);
  EXPECT_NEAR(bh[3], 0.02, 1e-12);
  auto none = adjust_p_values(p, Correction::none);
  EXPECT_EQ(none, p);
  std::vector<double> big = {0.6, 0.9};
  EXPECT_DOUBLE_EQ(adjust_p_values(big, Correction::holm)[0], 1.0);  // capped at 1
}

}  // namespace
}  // namespace cmbench
