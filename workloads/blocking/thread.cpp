// blocking in the thread model: every unit is a std::thread. A blocker
// thread makes its K calls one after the other; while it sleeps in the
// kernel, the kernel runs the other threads, so blocking costs the others
// nothing but a thread each: offload=inline and offload=pool are the same
// code (blocking is the thread model's nature).
//
// A bystander pair is two threads passing the turn through a condition
// variable handoff (workloads/common/bystanders/thread.hpp), until the last
// blocker is done.
//
// Threads: 1 (the cell's) + B + 2P, sampled after every blocking call.
#include <atomic>
#include <cstdint>
#include <vector>

#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/thread/stack.hpp"
#include "models/thread/thread_group.hpp"
#include "workloads/blocking/spec.hpp"
#include "workloads/common/bystanders/thread.hpp"

namespace cmbench::blocking::thread {
namespace {

using models::thread::ThreadGroup;

void run(const Params& p, Probe& probe) {
  const uint64_t nblockers = p.u("blockers");
  const uint64_t calls = p.u("calls");
  const uint64_t npairs = p.u("pairs");
  const int64_t delay = delay_ns(p);

  std::span<Histogram> hists = probe.latency_histograms(npairs);
  std::vector<Tally> tallies(nblockers);
  std::vector<bystanders::Tally> pairs(npairs);
  bystanders::thread::Pairs bystander_pairs(pairs, hists);
  std::atomic<uint64_t> remaining{nblockers};
  ThreadPeak peak;

  {
    // Declared after everything its threads use, so they are joined first.
    ThreadGroup units(nblockers + 2 * npairs);
    probe.start();
    // The bystanders first, so that they are running when the others start.
    bystander_pairs.spawn(units, [&remaining] { return remaining.load(std::memory_order_acquire) == 0; });
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
