// blocking in the coro model: every unit is a coroutine on one io_context
// run by one thread.
//
// A blocker coroutine makes its K calls one after the other and yields after
// each (co_await asio::post to its own executor: rt::yield), as a coroutine
// that served one request per call would suspend between requests:
//   inline  the coroutine makes the call itself: the io_context's thread
//           sleeps in nanosleep, and no other coroutine runs, no I/O is
//           polled meanwhile;
//   pool    co_await rt::offload(pool, call): asio::post of the call to an
//           asio::thread_pool of kPoolThreads threads, its result posted
//           back to the io_context (models/coro/runtime.hpp); only the
//           coroutine is suspended, the io_context's thread runs the others.
//
// A bystander pair is pingpong's: two coroutines and an unbuffered
// experimental::channel each way (workloads/common/bystanders/coro.hpp),
// until the last blocker is done; io_context::run() returning joins every
// unit.
#include <cstdint>
#include <memory>
#include <optional>
#include <tuple>
#include <vector>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/coro/runtime.hpp"
#include "workloads/blocking/spec.hpp"
#include "workloads/common/bystanders/coro.hpp"

namespace cmbench::blocking::coro {

namespace rt = cmbench::coro;
namespace asio = boost::asio;

namespace {

struct Shared {
  uint64_t calls = 0;
  int64_t delay = 0;
  uint64_t remaining = 0;  // blockers not yet done (one thread: a plain count)
  asio::thread_pool* pool = nullptr;  // null: inline
  ThreadPeak peak;
};

rt::Task<> blocker(Shared& s, Tally& tally) {
  const rt::Executor ex = co_await asio::this_coro::executor;
  for (uint64_t k = 0; k < s.calls; ++k) {
    const int64_t delay = s.delay;
    int64_t took;
    if (s.pool) took = co_await rt::offload(*s.pool, [delay]() noexcept { return blocking_call(delay); });
    else took = blocking_call(delay);
    called(tally, took, delay);
    s.peak.sample();
    co_await rt::yield(ex);
  }
  --s.remaining;
}

void run(const Params& params, Probe& probe) {
  const uint64_t nblockers = params.u("blockers");
  const uint64_t npairs = params.u("pairs");
  const bool pool = pool_offload(params);
  asio::io_context io(1);
  std::optional<asio::thread_pool> workers;
  if (pool) workers.emplace(kPoolThreads);
  Shared shared{params.u("calls"), delay_ns(params), nblockers, workers ? &*workers : nullptr, {}};
  std::span<Histogram> hists = probe.latency_histograms(npairs);
  std::vector<Tally> tallies(nblockers);
  std::vector<bystanders::Tally> pairs(npairs);
  bystanders::coro::Pairs bystander_pairs(io, pairs, hists);

  rt::prepare(probe);

  probe.start();
  // The bystanders first, so that they are running when the others start.
  bystander_pairs.spawn([&shared] { return shared.remaining == 0; });
  for (uint64_t b = 0; b < nblockers; ++b) rt::spawn(io, blocker(shared, tallies[b]));
  io.run();
  shared.peak.sample();
  probe.stop();

  report(probe, params, pairs, shared.peak.peak(),
         pool ? "co_await offload(pool, call): asio::post of the call to an asio::thread_pool of " +
                    std::to_string(kPoolThreads) +
                    " threads, the result posted back to the io_context; only the coroutine is "
                    "suspended"
              : "inline: the coroutine makes the call on the io_context's thread, which sleeps with "
                "every coroutine; the coroutine yields (asio::post to its executor) after each call");
  probe.note("bystanders",
             "two coroutines and two unbuffered experimental::channel<void(error_code, uint64_t)> per "
             "pair");
  probe.verify(verify(params, tallies, pairs, hists));
}

// Coroutines of this workload share the bystanders' experimental::channels and the count of blockers left unguarded: one thread only
// (models/coro/runtime.hpp, Threads).
std::optional<std::string> unsupported(const Params& params) {
  return rt::one_thread_only(params, "the bystanders' experimental::channels and the count of blockers left");
}

}  // namespace

}  // namespace cmbench::blocking::coro

CMBENCH_IMPL(blocking, coro, cmbench::blocking::coro::run, cmbench::blocking::coro::unsupported)
