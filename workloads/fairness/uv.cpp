// fairness in the uv model: every unit is callbacks on one libuv loop, and a
// callback runs to completion: nothing can interrupt a hog's computation.
//
// A hog is one callback that computes a slice and then schedules its next
// slice on the next loop iteration (Loop::defer, setImmediate): with
// yield=slice every work_ms; with yield=never its callback computes the whole
// budget at once. A bystander pair is two callbacks handing the value to each
// other through the loop's continuation policy; A starts each round trip on
// the next loop iteration (Loop::defer; workloads/common/bystanders/uv.hpp),
// as the hogs do, so that the pair
// and the hogs take turns (a pair that only ever handed off inline would
// never let the loop reach the deferred hogs). So in one loop iteration each
// hog computes one slice and each pair makes one round trip: a round trip
// waits for every hog's slice (or whole budget) in between.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "harness/registry/registry.hpp"
#include "models/uv/loop.hpp"
#include "workloads/common/bystanders/uv.hpp"
#include "workloads/fairness/spec.hpp"

namespace cmbench::fairness::uv {
namespace {

using cmbench::uv::Loop;
using cmbench::uv::Task;

struct Shared {
  Loop& loop;
  Board& board;
  uint64_t slice = 0;
  uint64_t budget = 0;
  bool yield = true;
};

struct Hog {
  Task task;
  Shared* s = nullptr;
  uint64_t h = 0;
  uint64_t done = 0;
  static void run_cb(Task* t) {
    auto* self = static_cast<Hog*>(t->data);
    Shared& s = *self->s;
    const uint64_t n = s.yield ? std::min(s.slice, s.budget - self->done) : s.budget;
    s.board.work(self->h, n);
    self->done += n;
    if (self->done < s.budget) s.loop.defer(&self->task);
    else s.board.finish(self->h);
  }
};

void run(const Params& p, Probe& probe) {
  const uint64_t nhogs = p.u("hogs");
  const uint64_t npairs = p.u("pairs");
  const auto continuation = cmbench::uv::continuation_param(p);

  std::span<Histogram> hists = probe.latency_histograms(npairs);
  std::vector<bystanders::Tally> pair_tallies(npairs);
  LocalBoard board(nhogs);
  Loop loop(continuation);
  Shared shared{loop, *board, work_units(p), budget_units(p), yields(p)};
  std::vector<Hog> hogs(nhogs);
  bystanders::uv::Pairs bystander_pairs(loop, pair_tallies, hists, [&board] { return board->all_finished(); });

  probe.start();
  // The bystanders first, so that they are running when the others start.
  bystander_pairs.start();
  for (uint64_t h = 0; h < nhogs; ++h) {
    hogs[h].task = Task{nullptr, &Hog::run_cb, &hogs[h]};
    hogs[h].s = &shared;
    hogs[h].h = h;
    loop.post(&hogs[h].task);
  }
  loop.run();
  probe.stop();

  report(probe, p, *board, pair_tallies, hists,
         shared.yield ? "a hog's callback computes one slice, then defers its next slice to the "
                        "next loop iteration (Loop::defer)"
                      : "none: a hog's one callback computes its whole budget");
  probe.note("continuation", cmbench::uv::continuation_note(continuation));
  probe.note("bystanders",
             "two callbacks per pair handing the value over through the continuation policy; A "
             "starts each round trip on the next loop iteration (Loop::defer)");
  probe.verify(verify(p, *board, pair_tallies, hists));
}

}  // namespace
}  // namespace cmbench::fairness::uv

CMBENCH_IMPL(fairness, uv, cmbench::fairness::uv::run, nullptr)
