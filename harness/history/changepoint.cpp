#include "harness/history/changepoint.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>

namespace cmbench::history {

namespace {

struct Split {
  size_t tau = 0;  // relative to the segment's start
  double q = -INFINITY;
  bool valid = false;
};

// The best split of x[0, n) with at least m points on each side, in O(n^2)
// time and O(n) memory. For each tau the X half grows by one point, and the
// running sums over it are updated; then kappa walks from tau + m to n,
// growing Y one point at a time. The sums use, for each j:
//   before[j] = sum_{i < tau} |x_i - x_j|   (X against point j)
//   full[j]   = sum_{i < j}   |x_i - x_j|   (everything before j against j)
// so adding point j to Y adds before[j] to the cross sum and full[j] -
// before[j] to Y's own sum.
class SplitFinder {
 public:
  Split best(const double* x, size_t n, size_t m) {
    Split out;
    if (n < 2 * m) return out;
    before_.assign(n, 0.0);
    full_.assign(n, 0.0);
    for (size_t j = 0; j < n; ++j)
      for (size_t i = 0; i < j; ++i) full_[j] += std::fabs(x[i] - x[j]);
    double within_x = 0;  // sum over pairs inside X
    for (size_t tau = 1; tau + m <= n; ++tau) {
      // X gains point tau - 1.
      const double added = x[tau - 1];
      for (size_t j = 0; j < n; ++j) before_[j] += std::fabs(added - x[j]);
      within_x += full_[tau - 1];
      if (tau < m) continue;
      const double nx = static_cast<double>(tau);
      const double x_term = 2.0 * within_x / (nx * (nx - 1));
      double cross = 0, within_y = 0;
      for (size_t kappa = tau + 1; kappa <= n; ++kappa) {
        const size_t j = kappa - 1;  // Y gains point j
        cross += before_[j];
        within_y += full_[j] - before_[j];
        const size_t ny_count = kappa - tau;
        if (ny_count < m) continue;
        const double ny = static_cast<double>(ny_count);
        const double e = 2.0 * cross / (nx * ny) - x_term - 2.0 * within_y / (ny * (ny - 1));
        const double q = nx * ny / (nx + ny) * e;
        if (q > out.q) {
          out = {tau, q, true};
        }
      }
    }
    return out;
  }

 private:
  std::vector<double> before_, full_;
};

// Uniform in [0, n) from the generator's 64-bit output, by rejection of the
// top remainder (no modulo bias), so the draws are the same everywhere.
uint64_t uniform_below(std::mt19937_64& rng, uint64_t n) {
  const uint64_t reject_below = (0 - n) % n;  // 2^64 mod n
  for (;;) {
    const uint64_t r = rng();
    if (r >= reject_below) return r % n;
  }
}

void shuffle(double* first, size_t n, std::mt19937_64& rng) {
  for (size_t i = n; i > 1; --i) std::swap(first[i - 1], first[uniform_below(rng, i)]);
}

}  // namespace

void check_options(const DetectorOptions& o) {
  if (!(o.significance > 0 && o.significance < 1))
    throw std::invalid_argument(fmt::format("--significance {} is not accepted; accepted: a p-value in (0, 1)", o.significance));
  if (o.min_segment < 2)
    throw std::invalid_argument(fmt::format("--min-segment {} is not accepted; accepted: 2 or more", o.min_segment));
  if (o.permutations < 1 || o.permutations > 100000)
    throw std::invalid_argument(fmt::format("--permutations {} is not accepted; accepted: 1 to 100000", o.permutations));
  if (1.0 / (1.0 + o.permutations) > o.significance)
    throw std::invalid_argument(fmt::format(
        "--permutations {} cannot reach --significance {}: the smallest p-value is 1/(1 + permutations); accepted: "
        "at least {}",
        o.permutations, o.significance, static_cast<int>(std::ceil(1.0 / o.significance - 1))));
}

std::vector<ChangePoint> e_divisive(std::span<const double> series, const DetectorOptions& o) {
  check_options(o);
  const size_t m = static_cast<size_t>(o.min_segment);
  std::vector<ChangePoint> found;
  std::vector<size_t> bounds = {0, series.size()};  // segment boundaries, sorted
  std::mt19937_64 rng(o.seed);
  SplitFinder finder;
  std::vector<double> shuffled(series.begin(), series.end());

  // The best split of every segment of the observed series; a segment that
  // a change point did not touch keeps its own.
  std::vector<Split> best_of;  // parallel to segments (bounds[k], bounds[k+1])
  for (;;) {
    best_of.clear();
    size_t best_seg = 0;
    Split best;
    for (size_t k = 0; k + 1 < bounds.size(); ++k) {
      const Split s = finder.best(series.data() + bounds[k], bounds[k + 1] - bounds[k], m);
      best_of.push_back(s);
      if (s.valid && s.q > best.q) {
        best = s;
        best_seg = k;
      }
    }
    if (!best.valid) break;

    // The permutation test: shuffle within each segment, as the null
    // hypothesis says nothing changed inside one, and take the best split
    // of the shuffled series as the observed one was taken.
    const double limit = o.significance * (1.0 + o.permutations);  // 1 + count must stay at or below it
    int count = 0, done = 0;
    for (; done < o.permutations; ++done) {
      std::copy(series.begin(), series.end(), shuffled.begin());
      double q = -INFINITY;
      for (size_t k = 0; k + 1 < bounds.size(); ++k) {
        const size_t a = bounds[k], n = bounds[k + 1] - a;
        shuffle(shuffled.data() + a, n, rng);
        const Split s = finder.best(shuffled.data() + a, n, m);
        if (s.valid) q = std::max(q, s.q);
      }
      if (q >= best.q) ++count;
      if (1.0 + count > limit) break;  // p can no longer reach the significance
    }
    const double p = (1.0 + count) / (1.0 + o.permutations);
    if (1.0 + count > limit) break;
    const size_t index = bounds[best_seg] + best.tau;
    found.push_back({index, p, best.q});
    bounds.insert(std::upper_bound(bounds.begin(), bounds.end(), index), index);
  }
  std::sort(found.begin(), found.end(), [](const ChangePoint& a, const ChangePoint& b) { return a.index < b.index; });
  return found;
}

}  // namespace cmbench::history
