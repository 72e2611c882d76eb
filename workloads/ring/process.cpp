// ring in the process model: N forked processes and N pipes. Unit i reads
// pipe i and writes pipe i+1 (unit N-1 writes pipe 0). The token is one
// 8-byte write() holding the hops left; a unit that reads h > 0 writes h - 1
// to its successor, and the unit that reads 0 is the last holder.
//
// The pipes are made as the ring is built, inside the timed region as part
// of creating the units: the parent makes pipe i+1, forks unit i (which
// inherits the read end of pipe i, both ends of pipe i+1 and the write end of
// pipe 0), then closes its copies of pipe i's read end and pipe i+1's write
// end. So every unit closes at most two inherited descriptors, every pipe's
// read end is held only by its reader and its write end only by its writer
// (after the parent's last copy of pipe 0's goes), and no unit inherits the
// descriptors of the whole ring (N^2 closes for 503 units).
//
// Start: once every unit exists, the parent writes the token with T hops left
// to pipe 0, so it starts at unit 0; after T hops the last holder is unit
// T mod N.
//
// Termination: the last holder writes its index to a result pipe the parent
// reads, then sends kStop to its successor and waits for kStop to come back
// around. Every other unit that reads kStop forwards it and exits. So the
// stop makes one lap, every unit ends, and no unit writes to a pipe whose
// reader has exited (a unit exits only after reading kStop, and kStop is the
// last value on every pipe). If a unit died, its successor would read end of
// file, fail and exit, and so on around the ring: every unit ends, the
// parent reads end of file on the result pipe (it closed its own write end)
// and the cell fails instead of hanging.
//
// Each unit counts the hops it made (tokens it forwarded) privately and
// stores the count in its own cache line of a shared mapping before it exits;
// the parent sums them to verify that exactly T hops were made.
#include <cstdint>
#include <limits>
#include <new>

#include "models/process/process.hpp"
#include "workloads/ring/spec.hpp"

namespace cmbench::ring {
namespace {

namespace pm = cmbench::models::process;

// Never a hop count: T is at most 10^9.
constexpr uint64_t kStop = std::numeric_limits<uint64_t>::max();

struct alignas(64) HopCount {
  uint64_t hops = 0;
};

void unit(uint64_t index, const pm::Fd& in, const pm::Fd& out, const pm::Fd& result,
          HopCount& count) {
  uint64_t hops = 0;
  bool last_holder = false;
  uint64_t token;
  for (;;) {
    if (!pm::read_exact(in, &token, sizeof token))
      throw SystemError("ring: end of file before the stop: a neighbour is gone", EPIPE);
    if (token == kStop) {
      // The last holder's own stop has come back around: it ends here.
      if (!last_holder) pm::write_all(out, &kStop, sizeof kStop);
      break;
    }
    if (token == 0) {
      last_holder = true;
      pm::write_all(result, &index, sizeof index);
      pm::write_all(out, &kStop, sizeof kStop);
      continue;
    }
    --token;
    pm::write_all(out, &token, sizeof token);
    ++hops;
  }
  count.hops = hops;
}

void run(const Params& params, Probe& probe) {
  const uint64_t n = params.u("units");
  const uint64_t t = params.u("hops");

  const pm::SharedMapping shared(n * sizeof(HopCount));
  for (uint64_t i = 0; i < n; ++i) new (shared.at<HopCount>(i * sizeof(HopCount))) HopCount{};
  pm::Pipe result = pm::make_pipe();
  probe.note("unit", "forked process");
  probe.note("channel", "one pipe per unit, read by it and written by its predecessor; the "
                        "token is one 8-byte write()");
  probe.note("stop", "the last holder reports its index on a result pipe and sends a stop value "
                     "once around the ring; each unit forwards it and exits");

  pm::Children children(n);
  probe.start();
  pm::Pipe first = pm::make_pipe();  // pipe 0: unit N-1 writes it, unit 0 reads it
  pm::Fd in = std::move(first.read);
  try {
    for (uint64_t i = 0; i < n; ++i) {
      const bool closes_ring = i + 1 == n;
      pm::Pipe next;
      if (!closes_ring) next = pm::make_pipe();
      pm::Fd& out = closes_ring ? first.write : next.write;
      children.spawn([&, i] {
        // What this unit inherited and does not use: its successor's read
        // end, pipe 0's write end (unless it writes pipe 0) and the result's
        // read end.
        next.read.close();
        if (!closes_ring) first.write.close();
        result.read.close();
        unit(i, in, out, result.write, *shared.at<HopCount>(i * sizeof(HopCount)));
      });
      in.close();
      if (!closes_ring) {
        next.write.close();
        in = std::move(next.read);
      }
    }
  } catch (const LimitError&) {
    // No token was sent: the units that exist are all blocked reading their
    // pipes, and `children` kills and reaps them as this unwinds.
    probe.note("reached", children.size());
    throw;
  }
  // Every unit exists: start the token at unit 0 with T hops left.
  pm::write_all(first.write, &t, sizeof t);
  first.write.close();
  result.write.close();
  uint64_t last_holder = 0;
  const bool reported = pm::read_exact(result.read, &last_holder, sizeof last_holder);
  children.reap_all();
  if (!reported) throw SystemError("ring: every unit ended and none reported the token's end", 0);
  probe.stop();

  uint64_t hops = 0;
  for (uint64_t i = 0; i < n; ++i) hops += shared.at<HopCount>(i * sizeof(HopCount))->hops;
  probe.verify(verify(params, last_holder, hops));
}

}  // namespace
}  // namespace cmbench::ring

CMBENCH_IMPL(ring, process, ::cmbench::ring::run, nullptr)
