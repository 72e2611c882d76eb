// fairness in the fiber model: every unit is a fiber on the project's own
// runtime, which is cooperative: a fiber runs until it parks or yields, and
// nothing preempts a hog. With yield=slice a hog calls this_fiber::yield()
// after every slice (it goes to the tail of the run queue's global queue, as
// Go's Gosched); with yield=never it computes its whole budget and ends, and
// every other fiber of its thread waits meanwhile. In M:N mode (threads > 1)
// the other workers go on running the other fibers.
//
// A bystander pair is pingpong's: two fibers and an unbuffered channel each
// way (workloads/common/bystanders/fiber.hpp), until every hog is done.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/fiber/scheduler.hpp"
#include "workloads/common/bystanders/fiber.hpp"
#include "workloads/fairness/spec.hpp"

namespace cmbench::fairness::fiber {

namespace rt = cmbench::fiber;

namespace {

void run(const Params& params, Probe& probe) {
  const uint64_t nhogs = params.u("hogs");
  const uint64_t npairs = params.u("pairs");
  const uint64_t slice = work_units(params);
  const uint64_t budget = budget_units(params);
  const bool yield = yields(params);
  rt::Scheduler sched(params.u("stack_size"), static_cast<unsigned>(params.u("threads")));
  std::span<Histogram> hists = probe.latency_histograms(npairs);
  LocalBoard board(nhogs);
  std::vector<bystanders::Tally> pairs(npairs);
  bystanders::fiber::Pairs bystander_pairs(pairs, hists);

  probe.note("scheduler", "cmbench's own, cooperative (run-queue order: the threads note)");
  probe.note("threads", sched.threading());
  probe.note("stack_size", sched.stack_size());
  probe.note("stack_protection", sched.stack_protection());

  probe.start();
  // The bystanders first, so that they are running when the others start.
  bystander_pairs.spawn(sched, [&board] { return board->all_finished(); });
  for (uint64_t h = 0; h < nhogs; ++h) {
    sched.spawn([&, h] {
      for (uint64_t done = 0; done < budget;) {
        const uint64_t n = yield ? std::min(slice, budget - done) : budget;
        board->work(h, n);
        done += n;
        if (yield && done < budget) rt::this_fiber::yield();
      }
      board->finish(h);
    });
  }
  sched.run();
  probe.stop();

  report(probe, params, *board, pairs, hists,
         yield ? "this_fiber::yield() after every slice (to the run queue's global tail, as Go's "
                 "Gosched)"
               : "none: a hog computes its whole budget; nothing preempts it");
  probe.note("bystanders", "two fibers and two unbuffered cmbench::fiber::Channel<uint64_t> per pair");
  probe.verify(verify(params, *board, pairs, hists));
}

}  // namespace

}  // namespace cmbench::fairness::fiber

CMBENCH_IMPL(fairness, fiber, cmbench::fairness::fiber::run, nullptr)
