#pragma once
// Change points in a series of numbers by E-Divisive with means (Matteson
// & James, "A Nonparametric Approach for Multiple Change Point Analysis of
// Multivariate Data", JASA 2014), with their permutation test, as MongoDB's
// signal-processing-algorithms and Apache Otava (formerly Hunter) apply it
// to performance histories.
//
// The procedure is divisive. For a segment Z[s, e) it looks at every split
// X = Z[s, tau), Y = Z[tau, kappa) with s < tau < kappa <= e and computes
//
//   Q = (n m / (n + m)) * ( 2/(n m) * sum |X_i - Y_j|
//                          - 2/(n (n-1)) * sum_{i<k} |X_i - X_k|
//                          - 2/(m (m-1)) * sum_{j<k} |Y_j - Y_k| )
//
// (the scaled energy distance between X and Y with exponent 1: large when
// the two halves come from different distributions, whatever their shape).
// The best tau over every segment is the candidate. Its significance is a
// permutation test: the values are shuffled within each segment, the best Q
// of the shuffled series found the same way, and p = (1 + #{shuffled Q >=
// observed Q}) / (1 + permutations). A candidate with p <= significance
// becomes a change point and splits its segment; the search goes on until a
// candidate fails the test.
//
// Every sum is kept as a running sum, so one evaluation of a segment of n
// points costs O(n^2) time and O(n) memory. A permutation test stops as soon
// as its p-value cannot come out at or below the significance any more, so a
// series without a change costs a few evaluations rather than
// `permutations` of them.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace cmbench::history {

struct DetectorOptions {
  // A candidate whose permutation p-value is at or below this is a change
  // point. 0.01 keeps a flat series' chance of a false change point near 1%.
  double significance = 0.01;
  // The fewest points on each side of a split (at least 2: the energy
  // statistic needs two points to measure a segment's own spread). A change
  // is found once this many runs follow it.
  int min_segment = 3;
  // Shuffles per permutation test; the smallest p-value it can give is
  // 1 / (1 + permutations), which must be at or below the significance.
  int permutations = 199;
  // Seeds the shuffles (a 64-bit Mersenne Twister and Fisher-Yates with
  // unbiased bounded draws, both specified exactly): the same series and
  // options give the same change points on every machine.
  uint64_t seed = 1;
};

struct ChangePoint {
  size_t index = 0;     // the first point of the new segment
  double p_value = 1;   // of the permutation test that accepted it
  double q = 0;         // the energy statistic of the split
};

// Throws std::invalid_argument when the options are out of range (the
// message names the option and the accepted values).
void check_options(const DetectorOptions& options);

// Change points of `series`, ordered by index.
std::vector<ChangePoint> e_divisive(std::span<const double> series, const DetectorOptions& options);

}  // namespace cmbench::history
