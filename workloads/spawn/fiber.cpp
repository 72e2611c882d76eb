// spawn in the fiber model: a creator fiber spawns N fibers on the project's
// own runtime; each counts itself parked and parks on the receive of one
// shared `release` channel. The fiber that makes the count N sends on
// `all_parked` (capacity 1), which the creator waits on — Go's WaitGroup
// shape. The creator then has memory read (on the thread's stack: the probe
// reads /proc, too deep for a 16 KiB fiber stack) and closes `release`: every
// parked receive returns std::nullopt and each fiber counts itself finished
// and ends. Join is the scheduler itself: run() returns once every fiber has
// ended, and the timed region stops after it.
//
// A fiber's stack comes from the pool's large mappings (see
// models/fiber/stack_pool.hpp): a guard page for the first ones, a canary
// beyond. A fiber that cannot be created (the pool's mmap or mprotect fails:
// ENOMEM, from memory or vm.max_map_count) stops the creator: it releases
// the fibers it made, they end, and the cell throws LimitError naming how
// many were reached.
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <optional>

#include "harness/cell/errors.hpp"
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/fiber/channel.hpp"
#include "models/fiber/scheduler.hpp"
#include "workloads/spawn/spec.hpp"

namespace cmbench::spawn::fiber {

namespace rt = cmbench::fiber;

namespace {

// Adds 1 and returns the new value: one thread needs no locked instruction.
uint64_t count(std::atomic<uint64_t>& c, bool multi) noexcept {
  if (multi) return c.fetch_add(1, std::memory_order_relaxed) + 1;
  const uint64_t v = c.load(std::memory_order_relaxed) + 1;
  c.store(v, std::memory_order_relaxed);
  return v;
}

void run(const Params& params, Probe& probe) {
  const uint64_t n = params.u("units");
  rt::Scheduler sched(params.u("stack_size"), static_cast<unsigned>(params.u("threads")));
  rt::Channel<bool> release(0);
  rt::Channel<bool> all_parked(1);
  // Shared by fibers that may run on different threads (threads > 1):
  // atomics, bumped with a read-modify-write only then (count() below).
  std::atomic<uint64_t> parked{0}, finished{0};
  uint64_t created = 0;
  int limit_errno = 0;

  probe.note("scheduler",
             "cmbench's own, cooperative (run-queue order: the threads note); a fiber that parks switches "
             "straight to the next runnable one (boost::context::fiber::resume_with)");
  probe.note("park", "receive on one shared unbuffered channel; release = close()");
  probe.note("threads", sched.threading());
  probe.note("stack_size", sched.stack_size());
  probe.note("stack_protection", sched.stack_protection());

  probe.memory_baseline();
  probe.start();
  sched.spawn([&] {  // the creator
    try {
      for (; created < n; ++created) {
        sched.spawn([&] {
          if (count(parked, sched.multi()) == n) all_parked.send(true);
          release.recv();  // parks until close()
          count(finished, sched.multi());
        });
      }
    } catch (const LimitError& e) {
      limit_errno = e.err() ? e.err() : ENOMEM;
    }
    if (limit_errno == 0) {
      all_parked.recv();
      sched.on_thread_stack([&] { probe.memory_parked(n); });
    }
    release.close();
  });
  sched.run();
  probe.stop();

  probe.note("stacks_mapped", sched.stacks_mapped());
  probe.note("stacks_guarded", sched.stacks_guarded());
  probe.note("stacks_touched", sched.stacks_touched());
  probe.note("stacks_canary", sched.stacks_mapped() - sched.stacks_guarded());
  probe.note("stack_slabs", sched.stack_slabs());
  if (limit_errno != 0) {
    probe.note("reached", created);
    throw LimitError(limit_message(params, created, "mmap(fiber stack slab)", limit_errno),
                     limit_errno);
  }
  probe.verify(verify(params, parked.load(), finished.load()));
}

}  // namespace

}  // namespace cmbench::spawn::fiber

CMBENCH_IMPL(spawn, fiber, cmbench::spawn::fiber::run, nullptr)
