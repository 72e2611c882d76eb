// blocking in the boost-fiber model: every unit is a fiber on Boost.Fiber's
// round_robin scheduler (one thread).
//
// A blocker fiber makes its K calls one after the other and yields
// (boost::this_fiber::yield) after each, as a fiber that served one request
// per call would park between requests:
//   inline  the fiber makes the call itself: the thread sleeps in nanosleep,
//           and every fiber with it;
//   pool    the call runs on one of kPoolThreads worker std::threads, handed
//           over as a boost::fibers::packaged_task whose future the fiber
//           waits on (models/boost_fiber/worker_pool.hpp): only the fiber
//           parks, the others run, and the worker's set_value readies it
//           from the other thread.
//
// A bystander pair is pingpong's: two fibers and an unbuffered_channel each
// way (workloads/common/bystanders/boost_fiber.hpp), until the last blocker
// is done. The main fiber joins every fiber.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/boost_fiber/runtime.hpp"
#include "models/boost_fiber/worker_pool.hpp"
#include "workloads/blocking/spec.hpp"
#include "workloads/common/bystanders/boost_fiber.hpp"

namespace cmbench::blocking::boost_fiber {

namespace bf = cmbench::boost_fiber;
namespace fibers = boost::fibers;

namespace {

void run(const Params& params, Probe& probe) {
  const uint64_t nblockers = params.u("blockers");
  const uint64_t calls = params.u("calls");
  const uint64_t npairs = params.u("pairs");
  const int64_t delay = delay_ns(params);
  const bool pool = pool_offload(params);
  auto salloc = bf::stack_allocator(params.u("stack_size"));
  std::span<Histogram> hists = probe.latency_histograms(npairs);
  std::vector<Tally> tallies(nblockers);
  std::vector<bystanders::Tally> pairs(npairs);
  bystanders::boost_fiber::Pairs bystander_pairs(pairs, hists);
  uint64_t remaining = nblockers;
  ThreadPeak peak;
  std::optional<bf::WorkerPool> workers;
  if (pool) workers.emplace(kPoolThreads);

  bf::prepare(probe, params.u("stack_size"));
  std::vector<fibers::fiber> units;
  units.reserve(nblockers + 2 * npairs);

  probe.start();
  // The bystanders first, so that they are running when the others start.
  bystander_pairs.spawn(units, salloc, [&remaining] { return remaining == 0; });
  for (uint64_t b = 0; b < nblockers; ++b) {
    units.emplace_back(std::allocator_arg, salloc, [&, b] {
      Tally t;
      for (uint64_t k = 0; k < calls; ++k) {
        const int64_t took =
            pool ? workers->call([delay] { return blocking_call(delay); }) : blocking_call(delay);
        called(t, took, delay);
        peak.sample();
        boost::this_fiber::yield();
      }
      tallies[b] = t;
      --remaining;
    });
  }
  for (fibers::fiber& f : units) f.join();
  peak.sample();
  probe.stop();

  report(probe, params, pairs, peak.peak(),
         pool ? fmt::format("a boost::fibers::packaged_task per call, run by one of {} worker "
                            "std::threads (a mutex + condition_variable queue); the fiber waits on "
                            "its future, which parks only the fiber",
                            kPoolThreads)
              : std::string("inline: the fiber makes the call on the scheduler's thread, which "
                            "sleeps with every fiber; the fiber yields after each call"));
  probe.note("bystanders", "two fibers and two boost::fibers::unbuffered_channel<uint64_t> per pair");
  probe.verify(verify(params, tallies, pairs, hists));
}

// This workload's fibers share the count of blockers left unguarded: one thread only
// (models/boost_fiber/runtime.hpp, 3).
std::optional<std::string> unsupported(const Params& params) {
  return bf::one_thread_only(params, "the count of blockers left");
}

}  // namespace

}  // namespace cmbench::blocking::boost_fiber

CMBENCH_IMPL(blocking, boost_fiber, cmbench::blocking::boost_fiber::run, cmbench::blocking::boost_fiber::unsupported)
