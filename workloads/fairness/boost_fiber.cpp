// fairness in the boost-fiber model: every unit is a fiber on Boost.Fiber's
// round_robin scheduler (one thread), which is cooperative: nothing preempts
// a hog. With yield=slice a hog calls boost::this_fiber::yield() after every
// slice (to the back of the ready queue); with yield=never it computes its
// whole budget and ends, and every other fiber waits meanwhile.
//
// A bystander pair is pingpong's: two fibers and an unbuffered_channel each
// way (workloads/common/bystanders/boost_fiber.hpp), until every hog is
// done. The main fiber joins every fiber.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/boost_fiber/runtime.hpp"
#include "workloads/common/bystanders/boost_fiber.hpp"
#include "workloads/fairness/spec.hpp"

namespace cmbench::fairness::boost_fiber {

namespace bf = cmbench::boost_fiber;
namespace fibers = boost::fibers;

namespace {

void run(const Params& params, Probe& probe) {
  const uint64_t nhogs = params.u("hogs");
  const uint64_t npairs = params.u("pairs");
  const uint64_t slice = work_units(params);
  const uint64_t budget = budget_units(params);
  const bool yield = yields(params);
  auto salloc = bf::stack_allocator(params.u("stack_size"));
  std::span<Histogram> hists = probe.latency_histograms(npairs);
  LocalBoard board(nhogs);
  std::vector<bystanders::Tally> pairs(npairs);
  bystanders::boost_fiber::Pairs bystander_pairs(pairs, hists);

  bf::prepare(probe, params.u("stack_size"));
  std::vector<fibers::fiber> units;
  units.reserve(nhogs + 2 * npairs);

  probe.start();
  // The bystanders first, so that they are running when the others start.
  bystander_pairs.spawn(units, salloc, [&board] { return board->all_finished(); });
  for (uint64_t h = 0; h < nhogs; ++h) {
    units.emplace_back(std::allocator_arg, salloc, [&, h] {
      for (uint64_t done = 0; done < budget;) {
        const uint64_t n = yield ? std::min(slice, budget - done) : budget;
        board->work(h, n);
        done += n;
        if (yield && done < budget) boost::this_fiber::yield();
      }
      board->finish(h);
    });
  }
  for (fibers::fiber& f : units) f.join();
  probe.stop();

  report(probe, params, *board, pairs, hists,
         yield ? "boost::this_fiber::yield() after every slice"
               : "none: a hog computes its whole budget; nothing preempts it");
  probe.note("bystanders", "two fibers and two boost::fibers::unbuffered_channel<uint64_t> per pair");
  probe.verify(verify(params, *board, pairs, hists));
}

// This workload's fibers share the bystanders' tallies unguarded: one thread only
// (models/boost_fiber/runtime.hpp, 3).
std::optional<std::string> unsupported(const Params& params) {
  return bf::one_thread_only(params, "the bystanders' tallies");
}

}  // namespace

}  // namespace cmbench::fairness::boost_fiber

CMBENCH_IMPL(fairness, boost_fiber, cmbench::fairness::boost_fiber::run, cmbench::fairness::boost_fiber::unsupported)
