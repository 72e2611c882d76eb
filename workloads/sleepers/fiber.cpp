// sleepers in the fiber model: N fibers on the project's own runtime each
// sleep K times until an absolute wake time (its start + k * D) with
// this_fiber::sleep_until, then add 1 to its own counter. A sleeping fiber is
// an entry in the scheduler's timer min-heap (no allocation per sleep once the
// heap has grown to N); when no fiber is runnable the thread waits in
// epoll_pwait2 with the nearest deadline as a nanosecond timeout, and on
// waking readies every fiber whose deadline has passed (never one whose
// deadline has not: waking early is impossible by construction). Lateness
// includes the kernel's timer slack (50 us by default for a normal thread),
// as it does for the other models' sleeps.
//
// Start: a creator fiber spawns the N fibers and waits on `all_started`
// (capacity 1), sent by the fiber that makes the started count N; it then has
// memory read on the thread's stack (the probe reads /proc, too deep for a
// small fiber stack) and ends. run() returns once every fiber has ended.
#include <atomic>
#include <cstdint>
#include <vector>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/fiber/channel.hpp"
#include "models/fiber/scheduler.hpp"
#include "workloads/sleepers/spec.hpp"

namespace cmbench::sleepers::fiber {

namespace rt = cmbench::fiber;

namespace {

void run(const Params& params, Probe& probe) {
  const uint64_t n = params.u("units");
  const uint64_t sleeps = params.u("sleeps");
  const int64_t period_ns = static_cast<int64_t>(params.u("sleep_ms")) * 1'000'000;
  rt::Scheduler sched(params.u("stack_size"), static_cast<unsigned>(params.u("threads")));
  rt::Channel<bool> all_started(1);
  std::span<Histogram> hists = probe.latency_histograms(n);
  std::vector<Tally> tallies(n);
  std::atomic<uint64_t> started{0};  // fibers may start on different threads

  probe.note("scheduler",
             "cmbench's own, cooperative (run-queue order: the threads note); with nothing runnable the "
             "thread waits in epoll until the nearest timer");
  probe.note("timer", "sleep_until: a min-heap of deadlines; the scheduler's epoll_pwait2 timeout "
                      "is the nearest deadline, in nanoseconds");
  probe.note("threads", sched.threading());
  probe.note("stack_size", sched.stack_size());
  probe.note("stack_protection", sched.stack_protection());

  probe.memory_baseline();
  probe.start();
  sched.spawn([&] {  // the creator
    for (uint64_t u = 0; u < n; ++u) {
      sched.spawn([&, u] {
        const int64_t start = now_ns();
        if (started.fetch_add(1, std::memory_order_relaxed) + 1 == n) all_started.send(true);
        Tally& tally = tallies[u];
        Histogram& lateness = hists[u];
        for (uint64_t k = 1; k <= sleeps; ++k) {
          const int64_t due = start + static_cast<int64_t>(k) * period_ns;
          rt::this_fiber::sleep_until(due);
          wake(tally, due, lateness);
        }
      });
    }
    all_started.recv();
    sched.on_thread_stack([&] { probe.memory_parked(n); });
  });
  sched.run();
  probe.stop();
  probe.note("precise_timeouts", sched.precise_timeouts() ? "epoll_pwait2 (ns)" : "epoll_wait (ms, rounded up)");
  probe.note("blocking_polls", sched.blocking_polls());
  probe.verify(verify(params, tallies));
}

}  // namespace

}  // namespace cmbench::sleepers::fiber

CMBENCH_IMPL(sleepers, fiber, cmbench::sleepers::fiber::run, nullptr)
