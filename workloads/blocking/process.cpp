// blocking in the process model: every unit is a forked process. A blocker
// makes its K calls one after the other; while it sleeps in the kernel the
// kernel runs the other processes, so offload=inline and offload=pool are
// the same code (blocking is the process model's nature).
//
// A bystander pair is pingpong's: two processes and a pipe each way. A
// writes v, reads v + 1, until the last blocker is done (a counter in shared
// memory), then closes its write end; B reads end of file and exits.
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

  std::vector<pm::Pipe> to_b, to_a;
  for (uint64_t i = 0; i < npairs; ++i) {
    to_b.push_back(pm::make_pipe());
    to_a.push_back(pm::make_pipe());
  }
  // A child keeps only the ends of its own pair.
  auto close_all_but = [&](uint64_t mine) {
    for (uint64_t j = 0; j < npairs; ++j) {
      if (j == mine) continue;
      to_b[j].read.close();
      to_b[j].write.close();
      to_a[j].read.close();
      to_a[j].write.close();
    }
  };

  pm::Children children(nblockers + 2 * npairs);
  probe.start();
  // The bystanders first, so that they are running when the others start.
  for (uint64_t i = 0; i < npairs; ++i) {
    children.spawn([&, i] {  // B
      close_all_but(i);
      to_b[i].write.close();
      to_a[i].read.close();
      uint64_t v, answered = 0;
      while (pm::read_exact(to_b[i].read, &v, sizeof v)) {
        const uint64_t r = v + 1;
        pm::write_all(to_a[i].write, &r, sizeof r);
        ++answered;
      }
      pairs[i].answered = answered;
    });
    children.spawn([&, i] {  // A
      close_all_but(i);
      to_b[i].read.close();
      to_a[i].write.close();
      bystanders::Tally t;
      bystanders::RoundTrips laps(hists[i]);
      uint64_t v = 0;
      do {
        pm::write_all(to_b[i].write, &v, sizeof v);
        uint64_t got;
        if (!pm::read_exact(to_a[i].read, &got, sizeof got))
          throw SystemError("blocking: a bystander's answering process is gone", EPIPE);
        laps.lap();
        bystanders::reply(t, v, got);
        ++v;
      } while (shared.remaining.load(std::memory_order_acquire) != 0);
      pairs[i].replies = t.replies;
      pairs[i].wrong = t.wrong;
      to_b[i].write.close();  // B reads end of file
    });
  }
  for (uint64_t b = 0; b < nblockers; ++b) {
    children.spawn([&, b] {
      close_all_but(npairs);
      Tally t;
      for (uint64_t k = 0; k < calls; ++k) called(t, blocking_call(delay), delay);
      tallies[b] = t;
      shared.remaining.fetch_sub(1, std::memory_order_release);
    });
  }
  close_all_but(npairs);
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
