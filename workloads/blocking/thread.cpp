// blocking in the thread model: every unit is a std::thread. A blocker
// thread makes its K calls one after the other; while it sleeps in the
// kernel, the kernel runs the other threads, so blocking costs the others
// nothing but a thread each: offload=inline and offload=pool are the same
// code (blocking is the thread model's nature).
//
// A bystander pair is two threads passing the turn through a condition
// variable handoff (models/thread/court.hpp, as pingpong does). A sends v
// and waits for v + 1 until the last blocker is done, then hands B the value
// kStop, on which B returns.
//
// Threads: 1 (the cell's) + B + 2P, sampled after every blocking call.
#include <atomic>
#include <cstdint>
#include <limits>
#include <vector>

#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/thread/court.hpp"
#include "models/thread/stack.hpp"
#include "models/thread/thread_group.hpp"
#include "workloads/blocking/spec.hpp"

namespace cmbench::blocking::thread {
namespace {

using models::thread::Court;
using models::thread::ThreadGroup;

// A never sends it as a value: v counts round trips, far below it.
constexpr uint64_t kStop = std::numeric_limits<uint64_t>::max();

void run(const Params& p, Probe& probe) {
  const uint64_t nblockers = p.u("blockers");
  const uint64_t calls = p.u("calls");
  const uint64_t npairs = p.u("pairs");
  const int64_t delay = delay_ns(p);

  std::span<Histogram> hists = probe.latency_histograms(npairs);
  std::vector<Tally> tallies(nblockers);
  std::vector<bystanders::Tally> pairs(npairs);
  std::vector<Court> courts(npairs);
  std::atomic<uint64_t> remaining{nblockers};
  ThreadPeak peak;

  {
    // Declared after everything its threads use, so they are joined first.
    ThreadGroup units(nblockers + 2 * npairs);
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
        } while (remaining.load(std::memory_order_acquire) != 0);
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
    for (uint64_t b = 0; b < nblockers; ++b) {
      units.spawn([&, b] {
        Tally t;
        for (uint64_t k = 0; k < calls; ++k) {
          called(t, blocking_call(delay), delay);
          peak.sample();
        }
        tallies[b] = t;
        remaining.fetch_sub(1, std::memory_order_release);
      });
    }
    units.start();
    units.join_all();
    probe.stop();
  }

  report(probe, p, pairs, peak.peak(),
         "none needed: every unit is a kernel thread, which the kernel takes off the CPU while it "
         "sleeps and replaces with another; offload=inline and pool run the same code");
  probe.note("threads", nblockers + 2 * npairs);
  probe.note("stack_bytes", models::thread::default_stack_bytes());
  probe.note("bystanders", "a std::mutex + std::condition_variable handoff per pair (models/thread/court.hpp)");
  probe.verify(verify(p, tallies, pairs, hists));
}

}  // namespace
}  // namespace cmbench::blocking::thread

CMBENCH_IMPL(blocking, thread, cmbench::blocking::thread::run, nullptr)
