// blocking in the fiber model: every unit is a fiber on the project's own
// runtime.
//
// A blocker fiber makes its K calls one after the other and yields
// (this_fiber::yield) after each, as a fiber that served one request per
// call would park between requests:
//   inline  the fiber makes the call itself: its kernel thread sleeps in
//           nanosleep, and with it every fiber that thread would run (with
//           threads = 1, all of them; in M:N mode the other workers go on);
//   pool    cmbench::fiber::offload(fn) (models/fiber/offload.hpp): the
//           fiber parks while one thread of the runtime's small pool (up to
//           kDefaultOffloadThreads = 4, libuv's default, started as calls
//           arrive) makes the call, and the scheduler runs the others
//           meanwhile — the fiber model's answer to Go handing off its P at
//           a blocking system call. The pool thread hands the fiber back
//           through the scheduler's inbox and an eventfd in its epoll set.
//
// A bystander pair is pingpong's: two fibers and an unbuffered channel each
// way (workloads/common/bystanders/fiber.hpp), until the last blocker is
// done.
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/fiber/offload.hpp"
#include "models/fiber/scheduler.hpp"
#include "workloads/blocking/spec.hpp"
#include "workloads/common/bystanders/fiber.hpp"

namespace cmbench::blocking::fiber {

namespace rt = cmbench::fiber;

namespace {

void run(const Params& params, Probe& probe) {
  const uint64_t nblockers = params.u("blockers");
  const uint64_t calls = params.u("calls");
  const uint64_t npairs = params.u("pairs");
  const int64_t delay = delay_ns(params);
  const bool pool = pool_offload(params);
  rt::Scheduler sched(params.u("stack_size"), static_cast<unsigned>(params.u("threads")));
  std::span<Histogram> hists = probe.latency_histograms(npairs);
  std::vector<Tally> tallies(nblockers);
  std::vector<bystanders::Tally> pairs(npairs);
  bystanders::fiber::Pairs bystander_pairs(pairs, hists);
  // Fibers may run on different threads (threads > 1).
  std::atomic<uint64_t> remaining{nblockers};
  ThreadPeak peak;

  probe.note("scheduler", "cmbench's own, cooperative (run-queue order: the threads note)");
  probe.note("threads", sched.threading());
  probe.note("stack_size", sched.stack_size());
  probe.note("stack_protection", sched.stack_protection());

  // The pool's threads start before the timed region, as the other models'
  // pools do (spec.hpp: "Warm").
  if (pool) rt::start_offload_threads(rt::offload_threads());

  probe.start();
  // The bystanders first, so that they are running when the others start.
  bystander_pairs.spawn(sched, [&remaining] { return remaining.load(std::memory_order_acquire) == 0; });
  for (uint64_t b = 0; b < nblockers; ++b) {
    sched.spawn([&, b] {
      Tally t;
      for (uint64_t k = 0; k < calls; ++k) {
        const int64_t took = pool ? rt::offload([delay]() noexcept { return blocking_call(delay); })
                                  : blocking_call(delay);
        called(t, took, delay);
        peak.sample();
        rt::this_fiber::yield();
      }
      tallies[b] = t;
      remaining.fetch_sub(1, std::memory_order_release);
    });
  }
  sched.run();
  peak.sample();
  probe.stop();

  report(probe, params, pairs, peak.peak(),
         pool ? rt::offload_description() + "; here all of them started before the timed region"
              : std::string("inline: the fiber makes the call on its worker thread, which sleeps with every "
                            "fiber it would run; the fiber yields after each call"));
  probe.note("bystanders", "two fibers and two unbuffered cmbench::fiber::Channel<uint64_t> per pair");
  probe.verify(verify(params, tallies, pairs, hists));
}

}  // namespace

}  // namespace cmbench::blocking::fiber

CMBENCH_IMPL(blocking, fiber, cmbench::blocking::fiber::run, nullptr)
