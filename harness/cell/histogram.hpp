#pragma once
// A log-linear latency histogram in the style of HdrHistogram: values below
// 2^kSubBits are counted exactly; above that every power of two is split into
// 2^kSubBits equal buckets, so any recorded value is known to within
// 1/2^kSubBits (0.8%). It is a plain, fixed-size struct with no pointers, so
// it can be preallocated per unit, placed in memory shared with forked
// children, and merged after the run. Recording is a few instructions and
// never allocates.
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace cmbench {

class Histogram {
 public:
  static constexpr int kSubBits = 7;
  static constexpr uint64_t kSub = uint64_t{1} << kSubBits;
  // The largest exponent kept apart; larger values land in the top buckets
  // (2^44 ns is almost five hours), while max stays exact.
  static constexpr int kMaxExp = 44;
  static constexpr size_t kBuckets = (kMaxExp - kSubBits + 2) * kSub;

  void record(uint64_t value) noexcept {
    counts_[index_of(value)] += 1;
    count_ += 1;
    sum_ += value;
    if (value < min_) min_ = value;
    if (value > max_) max_ = value;
  }

  void merge(const Histogram& other) noexcept;
  void reset() noexcept { *this = Histogram(); }

  uint64_t count() const noexcept { return count_; }
  uint64_t min() const noexcept { return count_ ? min_ : 0; }
  uint64_t max() const noexcept { return max_; }
  double mean() const noexcept { return count_ ? static_cast<double>(sum_) / count_ : 0.0; }

  // The value at quantile q in [0, 1]: the highest value equivalent to the
  // bucket holding the ceil(q * count)-th smallest recording, never above the
  // exact max. 0 when empty.
  uint64_t quantile(double q) const noexcept;

  static size_t index_of(uint64_t value) noexcept {
    if (value < kSub) return static_cast<size_t>(value);
    int exp = std::bit_width(value) - 1;
    if (exp > kMaxExp) return kBuckets - 1;
    uint64_t mantissa = value >> (exp - kSubBits);  // in [kSub, 2 * kSub)
    return static_cast<size_t>((exp - kSubBits + 1) * kSub + (mantissa - kSub));
  }
  // The smallest and largest values that share bucket `index`.
  static uint64_t lowest_in(size_t index) noexcept;
  static uint64_t highest_in(size_t index) noexcept;

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = std::numeric_limits<uint64_t>::max();
  uint64_t max_ = 0;
};

}  // namespace cmbench
