// counter in the boost-fiber model: U fibers on Boost.Fiber's round_robin
// scheduler (one thread) each add 1 to a count K times.
//   lock     a boost::fibers::mutex around ++count. Nothing in a unit's loop
//            parks or yields, so on one thread each unit runs its K
//            increments to the end before the next starts and the mutex is
//            never contended: the cost of an uncontended fiber mutex (its
//            internal spinlock and owner check), which the note says.
//   atomic   std::atomic fetch_add (relaxed: only the total matters), for the
//            same reason uncontended.
//   message  an owner fiber pop()s +1 values from a channel of exactly
//            counter::kMessageCapacity (1024) slots until it is closed: a
//            buffered_channel(2048) plus 1024 credits, since buffered_channel
//            holds size - 1 values and size must be a power of two (see
//            models/boost_fiber/runtime.hpp). The main fiber joins the units
//            and then closes the channel.
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/boost_fiber/runtime.hpp"
#include "workloads/counter/spec.hpp"

namespace cmbench::counter::boost_fiber {

namespace bf = cmbench::boost_fiber;
namespace fibers = boost::fibers;

namespace {

void run(const Params& params, Probe& probe) {
  const uint64_t units = params.u("units");
  const uint64_t increments = params.u("increments");
  const std::string& mode = params.s("mode");
  const unsigned threads = bf::threads_of(params);
  auto salloc = bf::stack_allocator(params.u("stack_size"), threads);
  bf::prepare(probe, params.u("stack_size"), threads);
  // threads > 1: work_stealing (runtime.hpp, 3); every variable the fibers
  // share is a Boost.Fiber primitive, guarded by one, or read after the joins.
  bf::WorkStealing workers(threads);
  std::vector<fibers::fiber> unit_fibers;
  unit_fibers.reserve(units);

  uint64_t final_count = 0;
  if (mode == "lock") {
    fibers::mutex mutex;
    uint64_t count = 0;
    probe.note("lock",
               threads == 1 ? "boost::fibers::mutex; uncontended: on one thread a unit never parks or yields "
                              "inside its loop, so each runs its increments to the end before the next starts"
                            : "boost::fibers::mutex, contended by the units running on other threads");
    probe.start();
    for (uint64_t u = 0; u < units; ++u) {
      unit_fibers.emplace_back(std::allocator_arg, salloc, [&mutex, &count, increments] {
        for (uint64_t k = 0; k < increments; ++k) {
          std::lock_guard<fibers::mutex> lk(mutex);
          ++count;
        }
      });
    }
    for (fibers::fiber& f : unit_fibers) f.join();
    probe.stop();
    final_count = count;
  } else if (mode == "atomic") {
    std::atomic<uint64_t> count{0};
    probe.note("lock", threads == 1 ? "none: std::atomic fetch_add (relaxed); one thread, so never contended"
                                    : "none: std::atomic fetch_add (relaxed), contended across threads");
    probe.start();
    for (uint64_t u = 0; u < units; ++u) {
      unit_fibers.emplace_back(std::allocator_arg, salloc, [&count, increments] {
        for (uint64_t k = 0; k < increments; ++k) count.fetch_add(1, std::memory_order_relaxed);
      });
    }
    for (fibers::fiber& f : unit_fibers) f.join();
    probe.stop();
    final_count = count.load();
  } else {
    bf::ExactChannel<uint64_t> channel(kMessageCapacity);
    uint64_t count = 0;
    probe.note("channel", bf::ExactChannel<uint64_t>::describe(kMessageCapacity));
    probe.note("termination", "the main fiber joins the units, then close()s the channel");
    probe.start();
    fibers::fiber owner(std::allocator_arg, salloc, [&channel, &count] {
      uint64_t v = 0;
      while (channel.pop(v)) count += v;
    });
    for (uint64_t u = 0; u < units; ++u) {
      unit_fibers.emplace_back(std::allocator_arg, salloc, [&channel, increments] {
        for (uint64_t k = 0; k < increments; ++k) channel.push(uint64_t{1});
      });
    }
    for (fibers::fiber& f : unit_fibers) f.join();
    channel.close();
    owner.join();
    probe.stop();
    final_count = count;
  }
  probe.verify(verify(params, final_count));
}

}  // namespace

}  // namespace cmbench::counter::boost_fiber

CMBENCH_IMPL(counter, boost_fiber, cmbench::counter::boost_fiber::run, nullptr)
