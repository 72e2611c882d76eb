// counter in the thread model: U threads each add 1 to one count K times.
//   lock     a std::mutex, taken with std::lock_guard around ++count;
//   atomic   std::atomic<uint64_t>::fetch_add;
//   message  every increment is push(1) on a BoundedQueue<uint64_t> of
//            capacity counter::kMessageCapacity; one owner thread, an extra
//            (U + 1)th thread, pops the values and adds them until the main
//            thread closes the queue after joining all U units.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/thread/bounded_queue.hpp"
#include "models/thread/thread_group.hpp"
#include "workloads/counter/spec.hpp"

namespace cmbench::counter {
namespace {

using models::thread::BoundedQueue;
using models::thread::ThreadGroup;

uint64_t run_lock(uint64_t units_n, uint64_t k, Probe& probe) {
  std::mutex mutex;
  uint64_t count = 0;  // guarded by mutex
  ThreadGroup units(units_n);
  probe.start();
  for (uint64_t u = 0; u < units_n; ++u) {
    units.spawn([&mutex, &count, k] {
      for (uint64_t i = 0; i < k; ++i) {
        std::lock_guard guard(mutex);
        ++count;
      }
    });
  }
  units.start();
  units.join_all();
  probe.stop();
  return count;
}

uint64_t run_atomic(uint64_t units_n, uint64_t k, Probe& probe) {
  std::atomic<uint64_t> count{0};
  ThreadGroup units(units_n);
  probe.start();
  for (uint64_t u = 0; u < units_n; ++u) {
    units.spawn([&count, k] {
      // Relaxed: the increments need only be atomic, not ordered with other
      // memory; joining the threads orders them before the final read. (On
      // x86-64 it is the same `lock xadd` as the default seq_cst.)
      for (uint64_t i = 0; i < k; ++i) count.fetch_add(1, std::memory_order_relaxed);
    });
  }
  units.start();
  units.join_all();
  probe.stop();
  return count.load(std::memory_order_relaxed);
}

uint64_t run_message(uint64_t units_n, uint64_t k, Probe& probe) {
  BoundedQueue<uint64_t> queue(kMessageCapacity);
  uint64_t total = 0;  // written by the owner, read after it is joined
  ThreadGroup units(units_n + 1);
  probe.start();
  for (uint64_t u = 0; u < units_n; ++u) {
    units.spawn([&queue, k] {
      for (uint64_t i = 0; i < k; ++i) queue.push(1);
    });
  }
  // The owner: the only thread that touches the count, so it needs no lock.
  units.spawn([&queue, &total] {
    uint64_t count = 0;
    while (std::optional<uint64_t> delta = queue.pop()) count += *delta;
    total = count;
  });
  units.start();
  units.join(0, units_n);
  queue.close();
  units.join(units_n, units_n + 1);
  probe.stop();
  return total;
}

void run(const Params& p, Probe& probe) {
  const uint64_t units = p.u("units");
  const uint64_t k = p.u("increments");
  const std::string& mode = p.s("mode");

  uint64_t count = 0;
  if (mode == "lock") {
    count = run_lock(units, k, probe);
    probe.note("lock", "std::mutex with std::lock_guard around ++count");
  } else if (mode == "atomic") {
    count = run_atomic(units, k, probe);
    probe.note("lock", "none: std::atomic<uint64_t>::fetch_add(1, memory_order_relaxed)");
  } else {
    count = run_message(units, k, probe);
    probe.note("lock", "inside the channel: BoundedQueue's std::mutex, taken by every push and pop");
    probe.note("owner",
               "one extra thread owns the count and pops +1 messages from a BoundedQueue<uint64_t> "
               "of capacity kMessageCapacity until it is closed: U + 1 threads in total");
  }
  probe.note("threads", mode == "message" ? units + 1 : units);
  probe.note("start",
             "threads wait at a std::latch until all exist, then start together; creation and "
             "joining are inside the timed region");
  probe.verify(verify(p, count));
}

}  // namespace
}  // namespace cmbench::counter

CMBENCH_IMPL(counter, thread, ::cmbench::counter::run, nullptr)
