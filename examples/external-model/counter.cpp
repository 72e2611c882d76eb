// counter on the pool: U tasks each add 1 to one count K times (lock: a
// std::mutex; atomic: fetch_add; message: +1 over a Channel of capacity
// kMessageCapacity to one owner task). Verified by the workload's own
// verifier (workloads/counter/spec.hpp).
#include <atomic>
#include <mutex>
#include <optional>

#include "pool.hpp"
#include "threadpool.hpp"
#include "workloads/counter/spec.hpp"

namespace threadpool {

using namespace cmbench;

std::optional<std::string> counter_unsupported(const Params& p) {
  // The owner task blocks its worker until the channel closes, and a unit
  // blocks on a full channel: one worker alone would hold the one and wait
  // for the other.
  if (p.s("mode") == "message" && p.u("threads") == 1)
    return std::string("parameter 'threads': 1 cannot run mode message (its owner task holds the only worker); "
                       "accepted: 0 or at least 2");
  return std::nullopt;
}

void counter(const Params& p, Probe& probe) {
  const uint64_t units = p.u("units");
  const uint64_t k = p.u("increments");
  const std::string& mode = p.s("mode");
  const bool message = mode == "message";
  const uint64_t workers = p.u("threads") == 0 ? units + (message ? 1 : 0) : p.u("threads");

  uint64_t count = 0;
  {
    std::mutex mutex;
    std::atomic<uint64_t> atomic_count{0};
    Channel<uint64_t> channel(counter::kMessageCapacity);
    Pool pool(workers);
    probe.start();
    if (message) {
      // Submitted first, so it has a worker before any unit can fill the channel.
      pool.submit([&channel, &count] {
        uint64_t total = 0;
        while (std::optional<uint64_t> delta = channel.pop()) total += *delta;
        count = total;
      });
    }
    std::atomic<uint64_t> units_left{units};
    for (uint64_t u = 0; u < units; ++u) {
      pool.submit([&, k] {
        if (mode == "lock") {
          for (uint64_t i = 0; i < k; ++i) {
            std::lock_guard guard(mutex);
            ++count;
          }
        } else if (mode == "atomic") {
          for (uint64_t i = 0; i < k; ++i) atomic_count.fetch_add(1, std::memory_order_relaxed);
        } else {
          for (uint64_t i = 0; i < k; ++i) channel.push(1);
        }
        // The last unit closes the channel: the owner then drains and ends.
        if (units_left.fetch_sub(1) == 1) channel.close();
      });
    }
    pool.wait_idle();
    probe.stop();
    if (mode == "atomic") count = atomic_count.load();
  }
  probe.verify(counter::verify(p, count));
  probe.note("workers", workers);
  probe.note("lock", mode == "lock"     ? "std::mutex with std::lock_guard around ++count"
                     : mode == "atomic" ? "none: std::atomic<uint64_t>::fetch_add(1, memory_order_relaxed)"
                                        : "inside the channel: its std::mutex, taken by every push and pop");
}

}  // namespace threadpool
