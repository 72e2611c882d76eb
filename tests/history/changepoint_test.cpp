// E-Divisive means on synthetic series with fixed seeds: how often a real
// step is found where it is, and how often a flat series gets a change
// point it does not have. The figures are printed (ctest -V shows them), and
// the thresholds are the issue's: a 3% step in noise of 2% CV over 40 points
// found within +-1 point in at least 90 of 100 series, a change reported in
// at most 5 of 100 flat series. The detector runs with its default options,
// the ones `cmbench history` uses.
//
// The noise is that of one repetition, and each point is a run's median of 5
// repetitions (the default preset's count), as the history's series are. With
// the 2% on the point itself no detector can meet the first figure: a 3% step
// is then 1.5 standard deviations, and even the least-squares split (the best
// estimate of where a mean shifts in normal noise, told that there is exactly
// one shift) lands within +-1 point only about 70% of the time. The test
// prints that case too, beside the least-squares figure, without a threshold.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "harness/history/changepoint.hpp"

namespace {

using cmbench::history::ChangePoint;
using cmbench::history::DetectorOptions;
using cmbench::history::e_divisive;

// Normal noise from the 64-bit Mersenne Twister by Box-Muller, written out
// so that the series are the same with every standard library
// (std::normal_distribution's algorithm is the library's choice).
class Noise {
 public:
  explicit Noise(uint64_t seed) : rng_(seed) {}
  double normal() {
    const double u1 = (static_cast<double>(rng_() >> 11) + 0.5) * 0x1.0p-53;
    const double u2 = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }

 private:
  std::mt19937_64 rng_;
};

constexpr int kRepetitions = 5;

// `n` points around 100, each the median of `reps` repetitions with the
// given coefficient of variation; the points from `step_at` on are
// multiplied by 1 + step.
std::vector<double> series(Noise& noise, size_t n, double cv, size_t step_at, double step, int reps = kRepetitions) {
  std::vector<double> v(n), r(static_cast<size_t>(reps));
  for (size_t i = 0; i < n; ++i) {
    for (auto& x : r) x = 100.0 * (i >= step_at ? 1.0 + step : 1.0) * (1.0 + cv * noise.normal());
    std::sort(r.begin(), r.end());
    v[i] = reps % 2 ? r[r.size() / 2] : (r[r.size() / 2 - 1] + r[r.size() / 2]) / 2;
  }
  return v;
}

// Where the least-squares split of `s` falls (segments of at least 3).
size_t least_squares_split(const std::vector<double>& s) {
  double best = -1;
  size_t at = 0;
  for (size_t tau = 3; tau + 3 <= s.size(); ++tau) {
    double a = 0, b = 0;
    for (size_t i = 0; i < tau; ++i) a += s[i];
    for (size_t i = tau; i < s.size(); ++i) b += s[i];
    a /= static_cast<double>(tau);
    b /= static_cast<double>(s.size() - tau);
    const double stat = static_cast<double>(tau * (s.size() - tau)) * (a - b) * (a - b);
    if (stat > best) {
      best = stat;
      at = tau;
    }
  }
  return at;
}

struct Tally {
  int exact = 0, within_one = 0, any = 0, more_than_one = 0;
};

Tally run_trials(uint64_t seed, int trials, size_t n, size_t step_at, double step, const DetectorOptions& opt,
                 int reps = kRepetitions) {
  Noise noise(seed);
  Tally t;
  for (int k = 0; k < trials; ++k) {
    const auto s = series(noise, n, 0.02, step_at, step, reps);
    const auto cps = e_divisive(s, opt);
    if (!cps.empty()) ++t.any;
    if (cps.size() > 1) ++t.more_than_one;
    for (const auto& cp : cps) {
      const long d = static_cast<long>(cp.index) - static_cast<long>(step_at);
      if (d == 0) ++t.exact;
      if (d >= -1 && d <= 1) {
        ++t.within_one;
        break;
      }
    }
  }
  return t;
}

TEST(EDivisive, FindsAThreePercentStepInTwoPercentNoise) {
  const DetectorOptions opt;
  const Tally t = run_trials(20261204, 100, 40, 20, 0.03, opt);
  std::printf(
      "3%% step at point 20 of 40, noise CV 2%% per repetition, points = medians of %d, significance %.3g, min "
      "segment %d, %d permutations, seed %llu:\n"
      "  found within +-1 point in %d of 100 series (exactly at it: %d); any change point in %d; more than one in %d\n",
      kRepetitions, opt.significance, opt.min_segment, opt.permutations, static_cast<unsigned long long>(opt.seed),
      t.within_one, t.exact, t.any, t.more_than_one);
  EXPECT_GE(t.within_one, 90);

  // The same with the noise on the point itself (one repetition per run).
  const Tally single = run_trials(20261204, 100, 40, 20, 0.03, opt, 1);
  Noise noise(20261204);
  int ls = 0;
  for (int k = 0; k < 100; ++k) {
    const long d = static_cast<long>(least_squares_split(series(noise, 40, 0.02, 20, 0.03, 1))) - 20;
    if (d >= -1 && d <= 1) ++ls;
  }
  std::printf(
      "  with 2%% CV on each point instead: found within +-1 point in %d of 100 (any change point in %d); the "
      "least-squares split, told there is one change, within +-1 in %d of 100\n",
      single.within_one, single.any, ls);
}

TEST(EDivisive, StepsOffCentreAreFoundToo) {
  // Not the figure, but what a reader of it asks next: the same step
  // a quarter of the way in from either end.
  const DetectorOptions opt;
  for (size_t at : {10u, 30u}) {
    const Tally t = run_trials(7 + at, 100, 40, at, 0.03, opt);
    std::printf("3%% step at point %zu of 40: found within +-1 point in %d of 100 series (exactly: %d)\n", at,
                t.within_one, t.exact);
    EXPECT_GE(t.within_one, 85) << "step at " << at;
  }
}

TEST(EDivisive, RarelyFindsAChangeInAFlatSeries) {
  const DetectorOptions opt;
  const Tally t = run_trials(4242, 100, 40, 40, 0.0, opt);
  const Tally single = run_trials(4242, 100, 40, 40, 0.0, opt, 1);
  std::printf(
      "flat series of 40 points, noise CV 2%% per repetition, medians of %d: a change point reported in %d of 100 "
      "series (2%% CV on each point: %d of 100)\n",
      kRepetitions, t.any, single.any);
  EXPECT_LE(single.any, 5);
  EXPECT_LE(t.any, 5);
}

TEST(EDivisive, ConstantSeriesHasNoChange) {
  const std::vector<double> s(30, 7.0);
  EXPECT_TRUE(e_divisive(s, {}).empty());
}

TEST(EDivisive, ExactValuesWithTwoStepsGiveBoth) {
  // Counts that do not vary (instructions, bytes) change in clean steps.
  std::vector<double> s;
  for (int i = 0; i < 12; ++i) s.push_back(100);
  for (int i = 0; i < 12; ++i) s.push_back(120);
  for (int i = 0; i < 12; ++i) s.push_back(90);
  const auto cps = e_divisive(s, {});
  ASSERT_EQ(cps.size(), 2u);
  EXPECT_EQ(cps[0].index, 12u);
  EXPECT_EQ(cps[1].index, 24u);
  for (const auto& cp : cps) EXPECT_LE(cp.p_value, 0.01);
}

TEST(EDivisive, SameSeedSameAnswerAndTheSeedMatters) {
  Noise noise(99);
  const auto s = series(noise, 40, 0.02, 20, 0.02);
  DetectorOptions opt;
  opt.significance = 0.2;  // borderline, so that the shuffles decide
  opt.permutations = 19;
  const auto a = e_divisive(s, opt), b = e_divisive(s, opt);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].index, b[i].index);
    EXPECT_EQ(a[i].p_value, b[i].p_value);
  }
  // Over many seeds, a borderline p-value moves: the seed is really used.
  std::vector<double> ps;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    opt.seed = seed;
    opt.significance = 0.99;
    const auto r = e_divisive(s, opt);
    ps.push_back(r.empty() ? 1.0 : r.front().p_value);
  }
  EXPECT_NE(*std::min_element(ps.begin(), ps.end()), *std::max_element(ps.begin(), ps.end()));
}

TEST(EDivisive, MinimumSegmentIsHonoured) {
  // A step two points from the end cannot be split off with segments of 3.
  std::vector<double> s(20, 10.0);
  s[18] = s[19] = 50.0;
  DetectorOptions opt;
  opt.min_segment = 3;
  for (const auto& cp : e_divisive(s, opt)) {
    EXPECT_GE(cp.index, 3u);
    EXPECT_LE(cp.index, 17u);
  }
  opt.min_segment = 2;
  const auto cps = e_divisive(s, opt);
  ASSERT_EQ(cps.size(), 1u);
  EXPECT_EQ(cps[0].index, 18u);
}

TEST(EDivisive, RefusesOptionsOutOfRange) {
  const std::vector<double> s(10, 1.0);
  auto refused = [&](DetectorOptions o, const char* word) {
    try {
      e_divisive(s, o);
      ADD_FAILURE() << "accepted " << word;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(word), std::string::npos) << e.what();
    }
  };
  DetectorOptions o;
  o.significance = 0;
  refused(o, "--significance");
  o = {};
  o.min_segment = 1;
  refused(o, "--min-segment");
  o = {};
  o.permutations = 50;  // 1/51 > 0.01
  refused(o, "--permutations");
}

TEST(EDivisive, ShortSeriesHaveNoSplit) {
  EXPECT_TRUE(e_divisive(std::vector<double>{}, {}).empty());
  EXPECT_TRUE(e_divisive(std::vector<double>{1, 2, 3, 4, 5}, {}).empty());
}

}  // namespace
