#pragma once
// ring: N units in a ring pass one token T hops (the classic thread-ring,
// N = 503). Unit i receives the token from unit i-1 and sends it to unit
// i+1 (mod N) over the model's channel; the token carries the number of hops
// left. The unit that receives it with 0 hops left reports its index and
// stops the ring (every unit then ends). The token starts at unit 0 with T
// hops left, so the last holder must be unit T mod N, and exactly T hops
// must have been made.
#include <cstdint>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"

namespace cmbench::ring {

const WorkloadSpec& spec();

Verdict verify(const Params& params, uint64_t last_holder, uint64_t hops_made);

}  // namespace cmbench::ring
