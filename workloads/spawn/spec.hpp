#pragma once
// spawn: create N units that each park until all N exist, then release them
// all and join them: the cost of creating a unit and the memory one costs
// while alive.
//   process  fork; a child parks in read() on a pipe (the release: the
//            parent closes the write end), then exits; the parent reaps all;
//   thread   std::thread; a thread parks on a shared latch or condition
//            variable until released, then is joined;
//   uv       a unit is a handle registered on the loop (a uv_async_t or a
//            callback waiting on a callback channel) plus its state; release
//            wakes every waiter; join = every unit's final callback ran;
//   fiber    spawn; a fiber parks on a channel receive (or a wait group)
//            until the channel is closed, then joined.
// Protocol, the same in every model:
//   probe.memory_baseline();  probe.start();
//   create all N units; each announces "parked" (a counter, a pipe byte, a
//   latch) and blocks; the creator waits until all N have announced;
//   probe.memory_parked(N);   // excluded from the timed region
//   release all; join/reap all; probe.stop(); verify.
// Time per unit (ns_per_op) is one create + park + release + join.
// When a model cannot create the N-th unit (fork/clone EAGAIN, ENOMEM from
// mmap/mprotect, ...), the implementation releases and joins the units it
// made and throws LimitError whose message names the errno and the largest N
// reached ("... after 32,051 of 100,000 units"), after recording
// probe.note("reached", n). That `limit` cell is the result the notes'
// claim needs: where each model stops.
#include <cstdint>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"

namespace cmbench::spawn {

const WorkloadSpec& spec();

// `parked` units announced before the release, `finished` ran to their end
// after it; both must be N.
Verdict verify(const Params& params, uint64_t parked, uint64_t finished);

// The message of the LimitError a model throws when unit `reached` + 1
// could not be created.
std::string limit_message(const Params& params, uint64_t reached, const std::string& call, int err);

}  // namespace cmbench::spawn
