// fairness in the process model: every unit is a forked process, and the
// kernel (CFS) time-slices them: a hog that never yields is preempted anyway,
// so the hogs progress together and the bystanders wait for a CPU at most
// about one scheduler slice, however long the hogs compute.
//
// With yield=slice a hog calls sched_yield() after every slice (what a
// process that means to yield would call; under CFS it only moves it behind
// the others of its CPU's run queue). The hogs' record (fairness::Board) and
// the bystanders' tallies live in a shared mapping. A bystander pair is
// pingpong's two processes and a pipe each way
// (workloads/common/bystanders/process.hpp), until every hog is done.
#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <vector>

#include "models/process/process.hpp"
#include "workloads/common/bystanders/process.hpp"
#include "workloads/fairness/spec.hpp"

namespace cmbench::fairness::process {
namespace {

namespace pm = cmbench::models::process;

void run(const Params& p, Probe& probe) {
  const uint64_t nhogs = p.u("hogs");
  const uint64_t npairs = p.u("pairs");
  const uint64_t slice = work_units(p);
  const uint64_t budget = budget_units(p);
  const bool yield = yields(p);

  std::span<Histogram> hists = probe.latency_histograms(npairs);
  const size_t pairs_at = (Board::bytes(nhogs) + 63) / 64 * 64;
  const pm::SharedMapping mapping(pairs_at + npairs * sizeof(bystanders::Tally));
  Board board(mapping.data(), nhogs);
  // Zero-filled by the mapping; an implicit-lifetime aggregate.
  bystanders::Tally* pairs = mapping.at<bystanders::Tally>(pairs_at);

  bystanders::process::Pairs bystander_pairs({pairs, npairs}, hists, "fairness");

  pm::Children children(nhogs + 2 * npairs);
  probe.start();
  // The bystanders first, so that they are running when the others start.
  bystander_pairs.spawn(children, [&board] { return board.all_finished(); });
  for (uint64_t h = 0; h < nhogs; ++h) {
    children.spawn([&, h] {
      bystander_pairs.close_all();
      for (uint64_t done = 0; done < budget;) {
        const uint64_t n = yield ? std::min(slice, budget - done) : budget;
        board.work(h, n);
        done += n;
        if (yield && done < budget) ::sched_yield();
      }
      board.finish(h);
    });
  }
  bystander_pairs.close_all();
  children.reap_all();
  probe.stop();

  report(probe, p, board, {pairs, npairs}, hists,
         yield ? "sched_yield() after every slice; the kernel preempts regardless"
               : "none: the kernel preempts (CFS time slices)");
  probe.note("unit", "forked process");
  probe.note("bystanders", "two pipes per pair, one each way (as pingpong)");
  probe.verify(verify(p, board, {pairs, npairs}, hists));
}

}  // namespace
}  // namespace cmbench::fairness::process

CMBENCH_IMPL(fairness, process, cmbench::fairness::process::run, nullptr)
