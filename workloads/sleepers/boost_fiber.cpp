// sleepers in the boost-fiber model: N fibers on Boost.Fiber's round_robin
// scheduler (one thread) each sleep K times until an absolute wake time (its
// start + k * D) with boost::this_fiber::sleep_until, then add 1 to its own
// counter. A sleeping fiber sits in the scheduler's sleep queue (ordered by
// deadline); when no fiber is ready, round_robin::suspend_until() waits on a
// std::condition_variable until the nearest deadline (a futex wait with a
// timeout), and the scheduler then readies every fiber whose deadline has
// passed. Lateness includes the kernel's timer slack, as for the other models.
//
// Start: the main fiber creates the N fibers and pops `all_started` (a
// buffered_channel of size 2, holding one value), pushed by the fiber that
// makes the started count N; it then has memory read (on the thread's own
// stack) and joins every fiber.
#include <chrono>
#include <cstdint>
#include <vector>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/boost_fiber/runtime.hpp"
#include "workloads/sleepers/spec.hpp"

namespace cmbench::sleepers::boost_fiber {

namespace bf = cmbench::boost_fiber;
namespace fibers = boost::fibers;

namespace {

void run(const Params& params, Probe& probe) {
  const uint64_t n = params.u("units");
  const uint64_t sleeps = params.u("sleeps");
  const int64_t period_ns = static_cast<int64_t>(params.u("sleep_ms")) * 1'000'000;
  auto salloc = bf::stack_allocator(params.u("stack_size"));
  fibers::buffered_channel<bool> all_started(2);
  std::span<Histogram> hists = probe.latency_histograms(n);
  std::vector<Tally> tallies(n);
  std::vector<fibers::fiber> units;
  units.reserve(n);
  uint64_t started = 0;

  bf::prepare(probe, params.u("stack_size"));
  probe.note("timer",
             "boost::this_fiber::sleep_until(steady_clock): the scheduler's sleep queue; with "
             "nothing ready, round_robin waits on a std::condition_variable until the nearest "
             "deadline");

  probe.memory_baseline();
  probe.start();
  for (uint64_t u = 0; u < n; ++u) {
    units.emplace_back(std::allocator_arg, salloc, [&, u] {
      const int64_t start = now_ns();
      if (++started == n) all_started.push(true);
      Tally& tally = tallies[u];
      Histogram& lateness = hists[u];
      for (uint64_t k = 1; k <= sleeps; ++k) {
        const int64_t due = start + static_cast<int64_t>(k) * period_ns;
        boost::this_fiber::sleep_until(
            std::chrono::steady_clock::time_point(std::chrono::nanoseconds(due)));
        wake(tally, due, lateness);
      }
    });
  }
  bool v = false;
  all_started.pop(v);
  probe.memory_parked(n);
  for (fibers::fiber& f : units) f.join();
  probe.stop();
  probe.verify(verify(params, tallies));
}

// This workload's fibers share the count of units started unguarded: one thread only
// (models/boost_fiber/runtime.hpp, 3).
std::optional<std::string> unsupported(const Params& params) {
  return bf::one_thread_only(params, "the count of units started");
}

}  // namespace

}  // namespace cmbench::sleepers::boost_fiber

CMBENCH_IMPL(sleepers, boost_fiber, cmbench::sleepers::boost_fiber::run, cmbench::sleepers::boost_fiber::unsupported)
