// sleepers in the thread model: N std::threads, each blocked in
// std::this_thread::sleep_until for nearly all of its life. A thread reads
// its own start time once, then sleeps until start + k * D for k = 1 .. K,
// recording how late each wake-up was, so lateness never accumulates from
// one sleep to the next.
//
// The wake times are now_ns() values, and now_ns() is
// steady_clock::now().time_since_epoch() in nanoseconds, so the time point
// to sleep until is that same count of nanoseconds since steady_clock's
// epoch: an exact conversion, with no second clock read and no rounding
// (steady_clock's tick is a nanosecond, asserted below). libstdc++ 12
// implements sleep_until on a steady clock as one steady_clock::now() and a
// relative nanosleep() for the difference (restarted on EINTR); the kernel
// measures that interval on CLOCK_MONOTONIC, the clock steady_clock reads,
// from a moment no earlier than that now(), so a wake can be late but never
// early — which the verifier checks.
//
// Each thread has std::thread's default stack (models/thread/stack.hpp),
// deliberately not changed: an idle thread costs that mapping, its touched
// pages and a kernel stack, which is what memory per unit reports.
//
// Protocol: the threads are created behind ThreadGroup's start gate (a
// refused thread leaves only gated threads, which are released unstarted
// and joined before the LimitError). Once the gate opens, each announces
// itself on a std::latch(N) and starts sleeping; the creator waits for all N
// announcements and reads memory. A thread that has made all its K wakes
// waits for that reading before it ends, so the N units are certainly alive
// when memory is read even when creating them took longer than K * D; in
// the default cells the reading is long done by then, and the wait is one
// atomic load.
#include <chrono>
#include <cstdint>
#include <latch>
#include <ratio>
#include <span>
#include <thread>
#include <type_traits>
#include <vector>

#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/thread/stack.hpp"
#include "models/thread/thread_group.hpp"
#include "workloads/sleepers/spec.hpp"

namespace cmbench::sleepers {
namespace {

using models::thread::ThreadGroup;
using Clock = std::chrono::steady_clock;

static_assert(std::is_same_v<Clock::duration, std::chrono::nanoseconds>,
              "now_ns() values convert to steady_clock time points exactly only with a "
              "nanosecond tick");

// The steady_clock time point of a now_ns() value.
Clock::time_point time_point_of(int64_t ns) {
  return Clock::time_point(std::chrono::nanoseconds(ns));
}

void run(const Params& p, Probe& probe) {
  const uint64_t n = p.u("units");
  const uint64_t k = p.u("sleeps");
  const int64_t period_ns = static_cast<int64_t>(p.u("sleep_ms")) * 1'000'000;

  std::span<Histogram> lateness = probe.latency_histograms(n);
  std::vector<Tally> tallies(n);
  std::latch started(static_cast<std::ptrdiff_t>(n));
  std::latch memory_read(1);

  probe.memory_baseline();
  {
    // Declared after the latches, so that on any exit the threads are joined
    // before the latches they wait on are destroyed.
    ThreadGroup units(n);
    probe.start();
    for (uint64_t i = 0; i < n; ++i) {
      units.spawn([&tallies, &started, &memory_read, lateness, k, period_ns, i] {
        Histogram& hist = lateness[i];
        Tally tally;
        started.count_down();
        const int64_t start = now_ns();
        for (uint64_t w = 1; w <= k; ++w) {
          const int64_t due = start + static_cast<int64_t>(w) * period_ns;
          std::this_thread::sleep_until(time_point_of(due));
          wake(tally, due, hist);
        }
        tallies[i] = tally;
        memory_read.wait();
      });
    }
    units.start();
    started.wait();
    probe.memory_parked(n);
    memory_read.count_down();
    units.join_all();
    probe.stop();
  }

  probe.verify(verify(p, tallies));
  probe.note("threads", n);
  probe.note("sleep",
             "std::this_thread::sleep_until(steady_clock time point) on absolute wake times "
             "(thread start + k * D); libstdc++ turns it into a relative nanosleep on "
             "CLOCK_MONOTONIC");
  probe.note("start",
             "threads wait at a std::latch until all N exist, then each reads its own start "
             "time; creation and joining are inside the timed region");
  probe.note("stack_bytes", models::thread::default_stack_bytes());
}

}  // namespace
}  // namespace cmbench::sleepers

CMBENCH_IMPL(sleepers, thread, ::cmbench::sleepers::run, nullptr)
