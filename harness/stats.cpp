#include "harness/stats.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
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

}  // namespace cmbench
