// fairness in the coro model: every unit is a coroutine on one io_context
// run by one thread, which is cooperative: a coroutine runs until it
// co_awaits something that is not complete, and nothing preempts a hog. With
// yield=slice a hog co_awaits asio::post to its own executor after every
// slice (rt::yield: it goes to the back of the io_context's queue); with
// yield=never it computes its whole budget and ends, and every other
// coroutine waits meanwhile.
//
// A bystander pair is pingpong's: two coroutines and an unbuffered
// experimental::channel each way (workloads/common/bystanders/coro.hpp),
// until every hog is done.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <tuple>
#include <vector>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/coro/runtime.hpp"
#include "workloads/common/bystanders/coro.hpp"
#include "workloads/fairness/spec.hpp"

namespace cmbench::fairness::coro {

namespace rt = cmbench::coro;
namespace asio = boost::asio;

namespace {

rt::Task<> hog(Board& board, uint64_t h, uint64_t slice, uint64_t budget, bool yield) {
  const rt::Executor ex = co_await asio::this_coro::executor;
  for (uint64_t done = 0; done < budget;) {
    const uint64_t n = yield ? std::min(slice, budget - done) : budget;
    board.work(h, n);
    done += n;
    if (yield && done < budget) co_await rt::yield(ex);
  }
  board.finish(h);
}

void run(const Params& params, Probe& probe) {
  const uint64_t nhogs = params.u("hogs");
  const uint64_t npairs = params.u("pairs");
  const bool yield = yields(params);
  asio::io_context io(1);
  std::span<Histogram> hists = probe.latency_histograms(npairs);
  LocalBoard board(nhogs);
  std::vector<bystanders::Tally> pairs(npairs);
  bystanders::coro::Pairs bystander_pairs(io, pairs, hists);

  rt::prepare(probe);

  probe.start();
  // The bystanders first, so that they are running when the others start.
  bystander_pairs.spawn([&board] { return board->all_finished(); });
  for (uint64_t h = 0; h < nhogs; ++h)
    rt::spawn(io, hog(*board, h, work_units(params), budget_units(params), yield));
  io.run();
  probe.stop();

  report(probe, params, *board, pairs, hists,
         yield ? "co_await asio::post(executor) after every slice (to the back of the io_context's "
                 "queue)"
               : "none: a hog computes its whole budget; nothing preempts it");
  probe.note("bystanders",
             "two coroutines and two unbuffered experimental::channel<void(error_code, uint64_t)> per "
             "pair");
  probe.verify(verify(params, *board, pairs, hists));
}

// Coroutines of this workload share the bystanders' experimental::channels unguarded: one thread only
// (models/coro/runtime.hpp, Threads).
std::optional<std::string> unsupported(const Params& params) {
  return rt::one_thread_only(params, "the bystanders' experimental::channels");
}

}  // namespace

}  // namespace cmbench::fairness::coro

CMBENCH_IMPL(fairness, coro, cmbench::fairness::coro::run, cmbench::fairness::coro::unsupported)
