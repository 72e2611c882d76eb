// fairness in the thread model: every unit is a std::thread, and the kernel
// (CFS) time-slices them: a hog that never yields is preempted anyway, so the
// hogs progress together and the bystanders wait for a CPU at most about one
// scheduler slice (a few milliseconds), however long the hogs compute.
//
// With yield=slice a hog calls std::this_thread::yield() (sched_yield) after
// every slice: what a C++ programmer writes to "yield", though under CFS it
// only moves the thread behind the others of its CPU's run queue. A
// bystander pair is two threads passing the turn through a condition
// variable handoff (models/thread/court.hpp), until every hog is done.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <thread>
#include <vector>

#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/thread/court.hpp"
#include "models/thread/stack.hpp"
#include "models/thread/thread_group.hpp"
#include "workloads/fairness/spec.hpp"

namespace cmbench::fairness::thread {
namespace {

using models::thread::Court;
using models::thread::ThreadGroup;

constexpr uint64_t kStop = std::numeric_limits<uint64_t>::max();

void run(const Params& p, Probe& probe) {
  const uint64_t nhogs = p.u("hogs");
  const uint64_t npairs = p.u("pairs");
  const uint64_t slice = work_units(p);
  const uint64_t budget = budget_units(p);
  const bool yield = yields(p);

  std::span<Histogram> hists = probe.latency_histograms(npairs);
  LocalBoard board(nhogs);
  std::vector<bystanders::Tally> pairs(npairs);
  std::vector<Court> courts(npairs);

  {
    ThreadGroup units(nhogs + 2 * npairs);
    probe.start();
    // The bystanders first, so that they are running when the others start.
    for (uint64_t i = 0; i < npairs; ++i) {
      units.spawn([&, i] {  // A
        Court& court = courts[i];
        bystanders::Tally t;
        bystanders::RoundTrips laps(hists[i]);
        uint64_t v = 0;
        do {
          court.hand(Court::Turn::b, v);
          const uint64_t got = court.await(Court::Turn::a);
          laps.lap();
          bystanders::reply(t, v, got);
          ++v;
        } while (!board->all_finished());
        court.hand(Court::Turn::b, kStop);
        pairs[i].replies = t.replies;
        pairs[i].wrong = t.wrong;
      });
      units.spawn([&, i] {  // B
        Court& court = courts[i];
        uint64_t answered = 0;
        for (;;) {
          const uint64_t v = court.await(Court::Turn::b);
          if (v == kStop) break;
          ++answered;
          court.hand(Court::Turn::a, v + 1);
        }
        pairs[i].answered = answered;
      });
    }
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
