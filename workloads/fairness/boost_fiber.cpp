// fairness in the boost-fiber model: every unit is a fiber on Boost.Fiber's
// round_robin scheduler (one thread), which is cooperative: nothing preempts
// a hog. With yield=slice a hog calls boost::this_fiber::yield() after every
// slice (to the back of the ready queue); with yield=never it computes its
// whole budget and ends, and every other fiber waits meanwhile.
//
// A bystander pair is pingpong's: two fibers and an unbuffered_channel each
// way, until every hog is done; A then closes `ping`. The main fiber joins
// every fiber.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/boost_fiber/runtime.hpp"
#include "workloads/fairness/spec.hpp"

namespace cmbench::fairness::boost_fiber {

namespace bf = cmbench::boost_fiber;
namespace fibers = boost::fibers;

namespace {

struct Pair {
  fibers::unbuffered_channel<uint64_t> ping, pong;
};

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
  std::vector<std::unique_ptr<Pair>> channels;
  for (uint64_t i = 0; i < npairs; ++i) channels.push_back(std::make_unique<Pair>());

  bf::prepare(probe, params.u("stack_size"));
  std::vector<fibers::fiber> units;
  units.reserve(nhogs + 2 * npairs);

  probe.start();
  // The bystanders first, so that they are running when the others start.
  for (uint64_t i = 0; i < npairs; ++i) {
    units.emplace_back(std::allocator_arg, salloc, [&, i] {  // A
      Pair& c = *channels[i];
      bystanders::Tally t;
      bystanders::RoundTrips laps(hists[i]);
      uint64_t v = 0;
      do {
        c.ping.push(v);
        uint64_t got = 0;
        if (c.pong.pop(got) != fibers::channel_op_status::success) got = 0;
        laps.lap();
        bystanders::reply(t, v, got);
        ++v;
      } while (!board->all_finished());
      c.ping.close();
      pairs[i].replies = t.replies;
      pairs[i].wrong = t.wrong;
    });
    units.emplace_back(std::allocator_arg, salloc, [&, i] {  // B
      Pair& c = *channels[i];
      uint64_t v = 0, answered = 0;
      while (c.ping.pop(v) == fibers::channel_op_status::success) {
        ++answered;
        c.pong.push(v + 1);
      }
      pairs[i].answered = answered;
    });
  }
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
