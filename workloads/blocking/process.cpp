// blocking in the process model: every unit is a forked process. A blocker
// makes its K calls one after the other; while it sleeps in the kernel the
// kernel runs the other processes, so offload=inline and offload=pool are
// the same code (blocking is the process model's nature).
//
// A bystander pair is pingpong's: two processes and a pipe each way
// (workloads/common/bystanders/process.hpp), until the last blocker is done
// (a counter in shared memory).
//
// Tallies live in a shared mapping written by each unit at its end; the
// parent verifies them after reaping. The OS threads of this model are its
// processes: the tasks of the cell's process tree, counted once, right after
// the last unit was forked (all alive then: the blockers run for K * delay).
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <new>
#include <vector>

#include "models/process/process.hpp"
#include "workloads/blocking/spec.hpp"
#include "workloads/common/bystanders/process.hpp"

namespace cmbench::blocking::process {
namespace {

namespace pm = cmbench::models::process;

struct alignas(64) Shared {
  std::atomic<uint64_t> remaining{0};
};
static_assert(std::atomic<uint64_t>::is_always_lock_free, "a counter shared between processes must be lock-free");

void run(const Params& p, Probe& probe) {
  const uint64_t nblockers = p.u("blockers");
  const uint64_t calls = p.u("calls");
  const uint64_t npairs = p.u("pairs");
  const int64_t delay = delay_ns(p);

  std::span<Histogram> hists = probe.latency_histograms(npairs);
  const size_t tallies_at = sizeof(Shared);
  const size_t pairs_at = tallies_at + nblockers * sizeof(Tally);
  const pm::SharedMapping mapping(pairs_at + npairs * sizeof(bystanders::Tally));
  Shared& shared = *new (mapping.data()) Shared{};
  shared.remaining.store(nblockers);
  // Zero-filled by the mapping; both are implicit-lifetime aggregates.
  Tally* tallies = mapping.at<Tally>(tallies_at);
  bystanders::Tally* pairs = mapping.at<bystanders::Tally>(pairs_at);

  bystanders::process::Pairs bystander_pairs({pairs, npairs}, hists, "blocking");

  pm::Children children(nblockers + 2 * npairs);
  probe.start();
  // The bystanders first, so that they are running when the others start.
  bystander_pairs.spawn(children, [&shared] { return shared.remaining.load(std::memory_order_acquire) == 0; });
  for (uint64_t b = 0; b < nblockers; ++b) {
    children.spawn([&, b] {
      bystander_pairs.close_all();
      Tally t;
      for (uint64_t k = 0; k < calls; ++k) called(t, blocking_call(delay), delay);
      tallies[b] = t;
      shared.remaining.fetch_sub(1, std::memory_order_release);
    });
  }
  bystander_pairs.close_all();
  const uint64_t tasks = tree_threads(::getpid());
  children.reap_all();
  probe.stop();

  report(probe, p, {pairs, npairs}, tasks,
         "none needed: every unit is a process, which the kernel takes off the CPU while it sleeps "
         "and replaces with another; offload=inline and pool run the same code");
  probe.note("unit", "forked process");
  probe.note("os_threads_method", "tasks of the cell's process tree (/proc/<pid>/task and children), "
                                  "counted once right after the last unit was forked");
  probe.note("bystanders", "two pipes per pair, one each way (as pingpong)");
  probe.verify(verify(p, {tallies, nblockers}, {pairs, npairs}, hists));
}

}  // namespace
}  // namespace cmbench::blocking::process

CMBENCH_IMPL(blocking, process, cmbench::blocking::process::run, nullptr)
