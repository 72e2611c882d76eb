// sleepers in the coro model: N coroutines on one io_context (one thread)
// each sleep K times until an absolute wake time (its start + k * D) with a
// boost::asio::steady_timer of its own (expires_at, then co_await
// async_wait), then add 1 to its own counter. A waiting timer sits in the
// io_context's timer queue (a heap ordered by deadline); when nothing is
// ready, the io_context waits in epoll, whose timeout is the nearest
// deadline (Linux: a timerfd). Lateness includes the kernel's timer slack,
// as for the other models. steady_timer's clock is std::chrono::steady_clock,
// the clock now_ns() reads.
//
// Start: the thread runs the io_context one handler at a time until every
// unit has started (counted its start), has memory read, then runs it to the
// end: io_context::run() returns once every coroutine has ended.
#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/coro/runtime.hpp"
#include "workloads/sleepers/spec.hpp"

namespace cmbench::sleepers::coro {

namespace rt = cmbench::coro;

namespace {

rt::Task<> unit(uint64_t sleeps, int64_t period_ns, uint64_t& started, Tally& tally,
                Histogram& lateness) {
  const int64_t start = now_ns();
  ++started;
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  for (uint64_t k = 1; k <= sleeps; ++k) {
    const int64_t due = start + static_cast<int64_t>(k) * period_ns;
    timer.expires_at(std::chrono::steady_clock::time_point(std::chrono::nanoseconds(due)));
    co_await timer.async_wait(rt::kAwait);
    wake(tally, due, lateness);
  }
}

void run(const Params& params, Probe& probe) {
  const uint64_t n = params.u("units");
  const uint64_t sleeps = params.u("sleeps");
  const int64_t period_ns = static_cast<int64_t>(params.u("sleep_ms")) * 1'000'000;
  boost::asio::io_context io(1);
  std::span<Histogram> hists = probe.latency_histograms(n);
  std::vector<Tally> tallies(n);
  uint64_t started = 0;

  rt::prepare(probe);
  probe.note("timer",
             "a boost::asio::steady_timer per coroutine, expires_at + co_await async_wait: the "
             "io_context's timer heap; with nothing ready it waits in epoll (timerfd)");

  probe.memory_baseline();
  probe.start();
  for (uint64_t u = 0; u < n; ++u)
    rt::spawn(io, unit(sleeps, period_ns, started, tallies[u], hists[u]));
  while (started < n) io.run_one();
  probe.memory_parked(n);
  io.run();
  probe.stop();
  probe.verify(verify(params, tallies));
}

// Coroutines of this workload share the count of units started unguarded: one thread only
// (models/coro/runtime.hpp, Threads).
std::optional<std::string> unsupported(const Params& params) {
  return rt::one_thread_only(params, "the count of units started");
}

}  // namespace

}  // namespace cmbench::sleepers::coro

CMBENCH_IMPL(sleepers, coro, cmbench::sleepers::coro::run, cmbench::sleepers::coro::unsupported)
