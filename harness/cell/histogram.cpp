#include "harness/cell/histogram.hpp"

#include <algorithm>
#include <cmath>

namespace cmbench {

void Histogram::merge(const Histogram& other) noexcept {
  for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

uint64_t Histogram::lowest_in(size_t index) noexcept {
  if (index < kSub) return index;
  uint64_t exp = index / kSub - 1 + kSubBits;
  uint64_t mantissa = index % kSub + kSub;
  return mantissa << (exp - kSubBits);
}

uint64_t Histogram::highest_in(size_t index) noexcept {
  if (index < kSub) return index;
  if (index == kBuckets - 1) return std::numeric_limits<uint64_t>::max();
  return lowest_in(index + 1) - 1;
}

uint64_t Histogram::quantile(double q) const noexcept {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(highest_in(i), max_);
  }
  return max_;
}

}  // namespace cmbench
