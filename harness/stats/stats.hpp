#pragma once
// Statistics over a cell's repetitions: summaries for one run, and the tests
// and intervals the regression gate uses to compare two runs.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace cmbench {

struct Summary {
  size_t n = 0;
  double median = 0, min = 0, max = 0, mean = 0;
  double stddev = 0;  // sample standard deviation (n - 1)
  double cv = 0;      // stddev / mean; 0 when n < 2 or mean is 0
  double mad = 0;     // median absolute deviation from the median (unscaled)
};

Summary summarize(std::span<const double> values);

// The median of `values` (the mean of the two middle ones for even n).
double median(std::span<const double> values);

// The Mann-Whitney U test (Wilcoxon rank-sum) of two independent samples:
// does one tend to give larger values than the other? It assumes nothing
// about the distribution, which suits benchmark timings (skewed, with
// outliers), and needs no more than a handful of values per side.
struct MannWhitney {
  double u = 0;    // U of `y`: pairs (x, y) with y > x, ties counting one half
  double p = 1;    // two-sided p-value
  bool exact = false;  // from the exact distribution (no ties, small samples) or the normal approximation
};
// `allow_exact` false forces the normal approximation (for tests).
MannWhitney mann_whitney(std::span<const double> x, std::span<const double> y, bool allow_exact = true);

// The smallest two-sided p-value samples of these sizes can give at all
// (complete separation): 2 / C(nx + ny, nx). When it is above the level a
// test must reach, no difference can ever be called significant.
double min_p_value(size_t nx, size_t ny);

// The Hodges-Lehmann estimate of the shift from `x` to `y` (the median of
// every pairwise difference y_j - x_i) with its distribution-free
// confidence interval, which is the set of shifts the Mann-Whitney test does
// not reject at 1 - level. With `log_scale` the differences are of
// logarithms and the results are returned as ratios y / x; every value must
// then be positive.
struct ShiftEstimate {
  double estimate = 0, lo = 0, hi = 0;
  bool valid = false;  // false when the samples are too small for the interval, or not positive in log scale
};
ShiftEstimate hodges_lehmann(std::span<const double> x, std::span<const double> y, double level,
                             bool log_scale);

// A percentile-bootstrap confidence interval of median(y) / median(x):
// `resamples` times, the samples are resampled with replacement and the
// ratio of the medians taken. Seeded, so the same data give the same
// interval. Invalid when a resampled median of x is not positive.
//
// Resampling::independent draws x and y each on its own. Resampling::pairs
// is for samples measured in pairs (x[i] beside y[i], as `ab` runs them):
// it draws pair indices, so a resample keeps what the two of a pair share
// (the machine's speed at that moment); x and y must then be the same size,
// or the interval is invalid.
struct RatioInterval {
  double lo = 0, hi = 0;
  bool valid = false;
};
enum class Resampling { independent, pairs };
RatioInterval bootstrap_median_ratio(std::span<const double> x, std::span<const double> y,
                                     double level, Resampling resampling = Resampling::independent,
                                     int resamples = 2000, uint64_t seed = 42);

// Adjusted p-values for a family of tests, in the input's order.
// holm: Holm-Bonferroni, which keeps the chance of any false alarm in the
// family at the level (what a gate that must not cry wolf wants);
// bh: Benjamini-Hochberg, which keeps the expected share of false alarms
// among the flagged at the level; none: the p-values unchanged.
enum class Correction { holm, bh, none };
std::vector<double> adjust_p_values(std::span<const double> p, Correction method);

}  // namespace cmbench
