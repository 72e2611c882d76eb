// fairness in the thread model: every unit is a std::thread, and the kernel
// (CFS) time-slices them: a hog that never yields is preempted anyway, so the
// hogs progress together and the bystanders wait for a CPU at most about one
// scheduler slice (a few milliseconds), however long the hogs compute.
//
// With yield=slice a hog calls std::this_thread::yield() (sched_yield) after
// every slice: what a C++ programmer writes to "yield", though under CFS it
// only moves the thread behind the others of its CPU's run queue. A
// bystander pair is two threads passing the turn through a condition
// variable handoff (workloads/common/bystanders/thread.hpp), until every hog
// is done.
#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/thread/stack.hpp"
#include "models/thread/thread_group.hpp"
#include "workloads/common/bystanders/thread.hpp"
#include "workloads/fairness/spec.hpp"

namespace cmbench::fairness::thread {
namespace {

using models::thread::ThreadGroup;

void run(const Params& p, Probe& probe) {
  const uint64_t nhogs = p.u("hogs");
  const uint64_t npairs = p.u("pairs");
  const uint64_t slice = work_units(p);
  const uint64_t budget = budget_units(p);
  const bool yield = yields(p);

  std::span<Histogram> hists = probe.latency_histograms(npairs);
  LocalBoard board(nhogs);
  std::vector<bystanders::Tally> pairs(npairs);
  bystanders::thread::Pairs bystander_pairs(pairs, hists);

  {
    ThreadGroup units(nhogs + 2 * npairs);
    probe.start();
    // The bystanders first, so that they are running when the others start.
    bystander_pairs.spawn(units, [&board] { return board->all_finished(); });
    for (uint64_t h = 0; h < nhogs; ++h) {
      units.spawn([&, h] {
        for (uint64_t done = 0; done < budget;) {
          const uint64_t n = yield ? std::min(slice, budget - done) : budget;
          board->work(h, n);
          done += n;
          if (yield && done < budget) std::this_thread::yield();
        }
        board->finish(h);
      });
    }
    units.start();
    units.join_all();
    probe.stop();
  }

  report(probe, p, *board, pairs, hists,
         yield ? "std::this_thread::yield() (sched_yield) after every slice; the kernel preempts "
                 "regardless"
               : "none: the kernel preempts (CFS time slices)");
  probe.note("threads", nhogs + 2 * npairs);
  probe.note("stack_bytes", models::thread::default_stack_bytes());
  probe.note("bystanders", "a std::mutex + std::condition_variable handoff per pair (models/thread/court.hpp)");
  probe.verify(verify(p, *board, pairs, hists));
}

}  // namespace
}  // namespace cmbench::fairness::thread

CMBENCH_IMPL(fairness, thread, cmbench::fairness::thread::run, nullptr)
