#include "harness/stats/stats.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

namespace cmbench {

double median(std::span<const double> values) {
  if (values.empty()) return 0;
  std::vector<double> v(values.begin(), values.end());
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

Summary summarize(std::span<const double> values) {
  Summary s;
  s.n = values.size();
  if (s.n == 0) return s;
  auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  s.min = *lo;
  s.max = *hi;
  s.median = median(values);
  s.mean = std::accumulate(values.begin(), values.end(), 0.0) / s.n;
  if (s.n > 1) {
    double ss = 0;
    for (double x : values) ss += (x - s.mean) * (x - s.mean);
    s.stddev = std::sqrt(ss / (s.n - 1));
    s.cv = s.mean != 0 ? s.stddev / std::fabs(s.mean) : 0;
  }
  std::vector<double> dev;
  dev.reserve(s.n);
  for (double x : values) dev.push_back(std::fabs(x - s.median));
  s.mad = median(dev);
  return s;
}

namespace {

// Samples this small or smaller, without ties, use the exact distribution
// of U; beyond, the normal approximation is within 0.01 of it.
constexpr size_t kExactMax = 25;

// The null distribution of U for sizes (nx, ny): entry u is the number of
// the C(nx + ny, nx) equally likely arrangements that give U = u. Built
// with the recurrence c(i, j) = c(i - 1, j) shifted by j + c(i, j - 1):
// the largest of the i + j values is either an x (beating all j y's) or a y.
std::vector<double> u_distribution(size_t nx, size_t ny) {
  // row[j] is the distribution for (i, j) as i grows.
  std::vector<std::vector<double>> row(ny + 1);
  for (size_t j = 0; j <= ny; ++j) row[j] = {1.0};  // i = 0: U = 0 in one way
  for (size_t i = 1; i <= nx; ++i) {
    std::vector<std::vector<double>> next(ny + 1);
    next[0] = {1.0};  // j = 0: U = 0 in one way
    for (size_t j = 1; j <= ny; ++j) {
      std::vector<double> c(i * j + 1, 0.0);
      const auto& a = row[j];       // (i - 1, j), shifted by j
      const auto& b = next[j - 1];  // (i, j - 1)
      for (size_t u = 0; u < a.size(); ++u) c[u + j] += a[u];
      for (size_t u = 0; u < b.size(); ++u) c[u] += b[u];
      next[j] = std::move(c);
    }
    row = std::move(next);
  }
  return row[ny];
}

double normal_sf(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }

// The quantile of the standard normal distribution (Acklam's rational
// approximation refined by one Newton step: accurate to ~1e-15).
double normal_quantile(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01,  -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  double q, r, x;
  if (p < 0.02425) {
    q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p > 1 - 0.02425) {
    q = std::sqrt(-2 * std::log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else {
    q = p - 0.5;
    r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
  double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
  double u = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

double choose(size_t n, size_t k) {
  double r = 1;
  for (size_t i = 1; i <= k; ++i) r = r * static_cast<double>(n - k + i) / static_cast<double>(i);
  return r;
}

}  // namespace

double min_p_value(size_t nx, size_t ny) {
  if (nx == 0 || ny == 0) return 1;
  return std::min(1.0, 2.0 / choose(nx + ny, nx));
}

MannWhitney mann_whitney(std::span<const double> x, std::span<const double> y, bool allow_exact) {
  MannWhitney r;
  const size_t nx = x.size(), ny = y.size();
  if (nx == 0 || ny == 0) return r;
  // Mid-ranks over the pooled sample, and the tie groups' sizes.
  std::vector<std::pair<double, bool>> all;  // value, is y
  for (double v : x) all.emplace_back(v, false);
  for (double v : y) all.emplace_back(v, true);
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  const size_t n = nx + ny;
  double rank_sum_y = 0, tie_term = 0;
  bool ties = false;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && all[j].first == all[i].first) ++j;
    const double t = static_cast<double>(j - i);
    const double mid = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
    for (size_t k = i; k < j; ++k)
      if (all[k].second) rank_sum_y += mid;
    if (t > 1) {
      ties = true;
      tie_term += t * t * t - t;
    }
    i = j;
  }
  const double dx = static_cast<double>(nx), dy = static_cast<double>(ny);
  r.u = rank_sum_y - dy * (dy + 1) / 2;
  if (allow_exact && !ties && nx <= kExactMax && ny <= kExactMax) {
    // U of y counts pairs with y > x; its null distribution is the same as
    // that of pairs with x > y, which the recurrence counts.
    const auto dist = u_distribution(nx, ny);
    const double total = std::accumulate(dist.begin(), dist.end(), 0.0);
    const auto u = static_cast<size_t>(std::llround(r.u));
    double lower = 0, upper = 0;
    for (size_t k = 0; k < dist.size(); ++k) {
      if (k <= u) lower += dist[k];
      if (k >= u) upper += dist[k];
    }
    r.p = std::min(1.0, 2 * std::min(lower, upper) / total);
    r.exact = true;
    return r;
  }
  const double mu = dx * dy / 2;
  const double var = dx * dy / 12 * ((static_cast<double>(n) + 1) - tie_term / (static_cast<double>(n) * (static_cast<double>(n) - 1)));
  if (var <= 0) return r;  // every value equal: no evidence of anything
  // Continuity correction, as the exact distribution moves in steps of one.
  const double z = std::max(0.0, std::fabs(r.u - mu) - 0.5) / std::sqrt(var);
  r.p = std::min(1.0, 2 * normal_sf(z));
  return r;
}

ShiftEstimate hodges_lehmann(std::span<const double> x, std::span<const double> y, double level,
                             bool log_scale) {
  ShiftEstimate r;
  const size_t nx = x.size(), ny = y.size();
  if (nx == 0 || ny == 0) return r;
  auto tr = [&](double v) { return log_scale ? std::log(v) : v; };
  if (log_scale && (std::any_of(x.begin(), x.end(), [](double v) { return !(v > 0); }) ||
                    std::any_of(y.begin(), y.end(), [](double v) { return !(v > 0); })))
    return r;
  std::vector<double> d;
  d.reserve(nx * ny);
  for (double b : y)
    for (double a : x) d.push_back(tr(b) - tr(a));
  std::sort(d.begin(), d.end());
  const size_t m = d.size();
  r.estimate = median(d);
  // The interval runs from the k-th smallest to the k-th largest
  // difference, where k - 1 is the largest U whose lower tail stays within
  // (1 - level) / 2 (Lehmann, Nonparametrics, ch. 2).
  const double tail = (1 - level) / 2;
  size_t k = 0;
  if (nx <= kExactMax && ny <= kExactMax) {
    const auto dist = u_distribution(nx, ny);
    const double total = std::accumulate(dist.begin(), dist.end(), 0.0);
    double cum = 0;
    // The tolerance keeps 1 - 0.8 from rounding a probability of exactly
    // the tail out of it.
    while (k < dist.size() && (cum + dist[k]) / total <= tail + 1e-12) cum += dist[k++];
  } else {
    const double dx = static_cast<double>(nx), dy = static_cast<double>(ny);
    const double z = normal_quantile(1 - tail);
    // The largest u with P(U <= u) within the tail, with continuity
    // correction, is floor(mu - z sd - 1/2); k is one more.
    const double c = dx * dy / 2 - z * std::sqrt(dx * dy * (dx + dy + 1) / 12) + 0.5;
    k = c > 0 ? static_cast<size_t>(std::floor(c)) : 0;
  }
  if (k == 0) {
    // Even complete separation is within the tail: the interval is unbounded.
    if (log_scale) r.estimate = std::exp(r.estimate);
    return r;
  }
  r.lo = d[k - 1];
  r.hi = d[m - k];
  if (log_scale) {
    r.estimate = std::exp(r.estimate);
    r.lo = std::exp(r.lo);
    r.hi = std::exp(r.hi);
  }
  r.valid = true;
  return r;
}

RatioInterval bootstrap_median_ratio(std::span<const double> x, std::span<const double> y,
                                     double level, Resampling resampling, int resamples, uint64_t seed) {
  RatioInterval r;
  const bool pairs = resampling == Resampling::pairs;
  if (x.empty() || y.empty() || resamples < 10 || (pairs && x.size() != y.size())) return r;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick_x(0, x.size() - 1), pick_y(0, y.size() - 1);
  std::vector<double> bx(x.size()), by(y.size()), ratios;
  ratios.reserve(static_cast<size_t>(resamples));
  for (int i = 0; i < resamples; ++i) {
    if (pairs) {
      for (size_t k = 0; k < bx.size(); ++k) {
        const size_t at = pick_x(rng);
        bx[k] = x[at];
        by[k] = y[at];
      }
    } else {
      for (auto& v : bx) v = x[pick_x(rng)];
      for (auto& v : by) v = y[pick_y(rng)];
    }
    const double mx = median(bx);
    if (!(mx > 0)) return r;
    ratios.push_back(median(by) / mx);
  }
  std::sort(ratios.begin(), ratios.end());
  const double tail = (1 - level) / 2;
  auto at = [&](double q) {
    const double pos = q * static_cast<double>(ratios.size() - 1);
    const auto lo = static_cast<size_t>(std::floor(pos));
    const size_t hi = std::min(lo + 1, ratios.size() - 1);
    return ratios[lo] + (pos - static_cast<double>(lo)) * (ratios[hi] - ratios[lo]);
  };
  r.lo = at(tail);
  r.hi = at(1 - tail);
  r.valid = true;
  return r;
}

std::vector<double> adjust_p_values(std::span<const double> p, Correction method) {
  const size_t m = p.size();
  std::vector<double> adj(p.begin(), p.end());
  if (method == Correction::none || m == 0) return adj;
  std::vector<size_t> order(m);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  const double dm = static_cast<double>(m);
  if (method == Correction::holm) {
    // Step down: the i-th smallest is multiplied by m - i, and adjusted
    // values never decrease along the order.
    double running = 0;
    for (size_t i = 0; i < m; ++i) {
      running = std::max(running, std::min(1.0, (dm - static_cast<double>(i)) * p[order[i]]));
      adj[order[i]] = running;
    }
  } else {
    // Step up: the i-th smallest times m / i, made monotone from the top.
    double running = 1;
    for (size_t i = m; i-- > 0;) {
      running = std::min(running, std::min(1.0, p[order[i]] * dm / static_cast<double>(i + 1)));
      adj[order[i]] = running;
    }
  }
  return adj;
}

}  // namespace cmbench
