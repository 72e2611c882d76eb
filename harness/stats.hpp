#pragma once
// Summary statistics over a cell's repetitions.
#include <cstddef>
#include <span>

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

}  // namespace cmbench
