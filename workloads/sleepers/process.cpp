// sleepers in the process model: N forked children, each sleeping K times in
// clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) until unit start + k * D
// (pm::sleep_until), then recording its lateness (sleepers::wake) into its
// own histogram and its own Tally. The histograms are the probe's
// (probe.latency_histograms(N), shared with forked children); the tallies
// live in a shared mapping, one cache line each, written once by their unit
// at its end, so the parent verifies them after reaping.
//
// A child reads its start time, announces "started" (one byte on a shared
// pipe, pm::announce) and begins sleeping. The parent forks all N, closes its
// own copy of the pipe's write end (so that a child dying before announcing
// means end of file, not a hang), reads N announcements and calls
// probe.memory_parked(N), which sums PSS over the process tree. Then it
// releases the units and reaps all N.
//
// The release exists because of the memory reading, not the workload: the
// first units start a whole fork-loop earlier than the last, and reading
// smaps_rollup of 1,000 processes takes longer than K * D = 200 ms, so
// without it most units would have exited before being counted (measured:
// 764 of 1,000) and memory per unit would come out far too small. So a unit
// that has done its K sleeps parks in read() on a release pipe until end of
// file (pm::park_until_eof), which comes when the parent closes the write end
// after reading memory. A unit that finishes after that reads end of file at
// once without blocking. The sleep schedule and the lateness are untouched;
// the cost is one read() per unit and, for the units that had to wait, one
// more wake-up. The note "waited_for_memory_reading" says how many had
// finished their sleeps by the time memory had been read (an upper bound:
// counted just after the reading).
//
// A sleeping (or parked) process costs the kernel a task, a kernel stack,
// page tables and a timer; the CPU it spends awake is in the cell's
// children's rusage.
#include <atomic>
#include <cstdint>
#include <new>
#include <string>
#include <vector>

#include "models/process/park.hpp"
#include "models/process/process.hpp"
#include "workloads/sleepers/spec.hpp"

namespace cmbench::sleepers {
namespace {

namespace pm = cmbench::models::process;

struct alignas(64) Slot {
  Tally tally;
  // Set by the unit once it has done its K sleeps, to count the units that
  // waited for the release.
  std::atomic<bool> done{false};
};
static_assert(std::atomic<bool>::is_always_lock_free,
              "a flag shared between processes must be lock-free");

void run(const Params& params, Probe& probe) {
  const uint64_t n = params.u("units");
  const uint64_t k = params.u("sleeps");
  const int64_t period_ns = static_cast<int64_t>(params.u("sleep_ms")) * 1'000'000;

  const std::span<Histogram> hists = probe.latency_histograms(n);
  const pm::SharedMapping shared(n * sizeof(Slot));
  auto slot = [&](uint64_t u) -> Slot& { return *shared.at<Slot>(u * sizeof(Slot)); };
  for (uint64_t u = 0; u < n; ++u) new (&slot(u)) Slot{};
  pm::Pipe started = pm::make_pipe();
  pm::Pipe release = pm::make_pipe();
  probe.note("unit", "forked process");
  probe.note("sleep", "clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) to unit start + k * D");
  probe.note("release", "after its sleeps a unit parks in read() on a release pipe until the "
                        "parent has read memory, so that every unit is alive when it is read");

  pm::Children children(n);
  probe.memory_baseline();
  probe.start();
  try {
    for (uint64_t u = 0; u < n; ++u) {
      children.spawn([&, u] {
        started.read.close();
        release.write.close();
        const int64_t start = now_ns();
        pm::announce(started.write);
        started.write.close();
        Histogram& lateness = hists[u];
        Tally tally;
        for (uint64_t i = 1; i <= k; ++i) {
          const int64_t due = start + static_cast<int64_t>(i) * period_ns;
          pm::sleep_until(due);
          wake(tally, due, lateness);
        }
        Slot& mine = slot(u);
        mine.tally = tally;
        mine.done.store(true, std::memory_order_release);
        pm::park_until_eof(release.read);
      });
    }
  } catch (const LimitError&) {
    // The units that exist are asleep or parked; `children` kills and reaps
    // them as this unwinds, so none outlives the cell.
    probe.note("reached", children.size());
    throw;
  }
  started.write.close();
  const uint64_t announced = pm::await_announcements(started.read, n);
  if (announced != n)
    throw SystemError("sleepers: only " + std::to_string(announced) + " of " + std::to_string(n) +
                          " children announced that they started; the others ended first",
                      0);
  probe.memory_parked(n);
  uint64_t waited = 0;
  for (uint64_t u = 0; u < n; ++u)
    if (slot(u).done.load(std::memory_order_acquire)) ++waited;
  release.write.close();
  children.reap_all();
  probe.stop();

  probe.note("waited_for_memory_reading", waited);
  std::vector<Tally> tallies(n);
  for (uint64_t u = 0; u < n; ++u) tallies[u] = slot(u).tally;
  probe.verify(verify(params, tallies));
}

}  // namespace
}  // namespace cmbench::sleepers

CMBENCH_IMPL(sleepers, process, ::cmbench::sleepers::run, nullptr)
