#pragma once
// counter: U units each add 1 to one shared count K times, in one of three
// ways (the notes' "do not communicate by sharing memory; share memory by
// communicating"):
//   lock     shared memory guarded by the model's mutex around counter++;
//   atomic   shared memory, one fetch_add per increment;
//   message  one owner unit holds the count; every increment is one message
//            carrying +1 over the model's channel (capacity kMessageCapacity)
//            to the owner, which adds it.
// Units do not yield between increments unless the model makes them: the
// point is what each model's own mechanism costs, not an imposed schedule.
// After the timed region the count must be U × K.
#include <cstdint>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"

namespace cmbench::counter {

const WorkloadSpec& spec();

// The capacity of the channel in `message` mode, in messages, for every model.
inline constexpr uint64_t kMessageCapacity = 1024;

Verdict verify(const Params& params, uint64_t final_count);

}  // namespace cmbench::counter
