#pragma once
// skynet: the standard one. A 10-ary tree of units: the root unit creates
// 10 children, each of those 10 more, down to `leaves` leaves; a leaf
// returns its ordinal (0 .. leaves-1), every inner unit returns the sum of
// its children's results to its parent over the model's channel (pipe,
// queue, callback, fiber channel). The root's sum must be
// leaves * (leaves - 1) / 2 — 499999500000 for 1,000,000 leaves. Units are
// created as the tree unfolds, so many are alive at once (up to every unit
// of the tree). Models that cannot hold a million units run the same shape
// with fewer leaves: `leaves` is a power of ten, and the cell name says it.
// Operations: every unit of the tree, (10 * leaves - 1) / 9.
#include <cstdint>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"

namespace cmbench::skynet {

const WorkloadSpec& spec();

inline uint64_t expected_sum(uint64_t leaves) { return leaves * (leaves - 1) / 2; }
inline uint64_t units_of(uint64_t leaves) { return (10 * leaves - 1) / 9; }

Verdict verify(const Params& params, uint64_t sum);

}  // namespace cmbench::skynet
