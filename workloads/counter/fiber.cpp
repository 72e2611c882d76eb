// counter in the fiber model: U fibers on the project's own runtime
// (cooperative; one thread unless the `threads` parameter asks for M:N) each
// add 1 to a count K times. With threads > 1 the units run in parallel and
// the modes below are contended for real: the mutex parks the loser and
// wakes it to compete again, handing the lock over only to a waiter that
// has starved for a millisecond (Go's two modes, models/fiber/mutex.hpp), the
// atomic bounces its cache line between cores, and the owner fiber of the
// message mode receives from units on every thread. With one thread:
//   lock     a cmbench::fiber::Mutex around ++count. The runtime is one thread
//            and a fiber runs until it parks or yields, and nothing in a
//            unit's loop parks or yields: every unit runs its K increments to
//            the end before the next one starts, so the mutex is never
//            contended. That is the honest cost of a lock in this model (two
//            well-predicted branches and a thread-local read), not a flaw of
//            the benchmark; the note says so.
//   atomic   std::atomic fetch_add (relaxed: only the total matters), for the
//            same reason also uncontended and without cache-line traffic.
//   message  one owner fiber receives +1 values over a
//            Channel<uint64_t>(counter::kMessageCapacity) until it is closed;
//            a closer fiber joins the units and closes the channel. Here the
//            units do park (when the buffer is full), so this mode measures
//            channel operations and fiber switches.
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/fiber/channel.hpp"
#include "models/fiber/mutex.hpp"
#include "models/fiber/scheduler.hpp"
#include "workloads/counter/spec.hpp"

namespace cmbench::counter::fiber {

namespace rt = cmbench::fiber;

namespace {

void run(const Params& params, Probe& probe) {
  const uint64_t units = params.u("units");
  const uint64_t increments = params.u("increments");
  const std::string& mode = params.s("mode");

  rt::Scheduler sched(params.u("stack_size"), static_cast<unsigned>(params.u("threads")));
  probe.note("scheduler",
             "cmbench's own, cooperative (run-queue order: the threads note); a fiber that parks switches "
             "straight to the next runnable one (boost::context::fiber::resume_with)");
  probe.note("threads", sched.threading());
  probe.note("stack_size", sched.stack_size());
  probe.note("stack_protection", sched.stack_protection());

  uint64_t final_count = 0;
  if (mode == "lock") {
    rt::Mutex mutex;
    uint64_t count = 0;
    probe.note("lock", sched.multi()
                           ? "cmbench::fiber::Mutex (Go's normal and starvation modes); "
                             "contended: units run in parallel on the worker threads, a loser "
                             "parks and is woken to compete again, and a waiter starved for "
                             "1 ms is handed the lock"
                           : "cmbench::fiber::Mutex (Go's normal and starvation modes); "
                             "uncontended: on one thread a "
                             "unit never parks or yields inside its loop, so each runs its "
                             "increments to the end before the next starts");
    probe.start();
    for (uint64_t u = 0; u < units; ++u) {
      sched.spawn([&mutex, &count, increments] {
        for (uint64_t k = 0; k < increments; ++k) {
          mutex.lock();
          ++count;
          mutex.unlock();
        }
      });
    }
    sched.run();
    probe.stop();
    final_count = count;
  } else if (mode == "atomic") {
    std::atomic<uint64_t> count{0};
    probe.note("lock", sched.multi()
                           ? "none: std::atomic fetch_add (relaxed), contended by the worker "
                             "threads"
                           : "none: std::atomic fetch_add (relaxed); one thread, so never "
                             "contended");
    probe.start();
    for (uint64_t u = 0; u < units; ++u) {
      sched.spawn([&count, increments] {
        for (uint64_t k = 0; k < increments; ++k) count.fetch_add(1, std::memory_order_relaxed);
      });
    }
    sched.run();
    probe.stop();
    final_count = count.load();
  } else {
    rt::Channel<uint64_t> channel(kMessageCapacity);
    std::vector<rt::JoinHandle> unit_fibers;
    unit_fibers.reserve(units);
    uint64_t count = 0;
    probe.note("channel", "cmbench::fiber::Channel<uint64_t>, ring buffer of exactly " +
                              std::to_string(kMessageCapacity) + " slots");
    probe.note("termination", "a closer fiber joins the units, then closes the channel");
    probe.start();
    sched.spawn([&channel, &count] {
      while (std::optional<uint64_t> v = channel.recv()) count += *v;
    });
    for (uint64_t u = 0; u < units; ++u) {
      unit_fibers.push_back(sched.spawn([&channel, increments] {
        for (uint64_t k = 0; k < increments; ++k) channel.send(uint64_t{1});
      }));
    }
    sched.spawn([&channel, &unit_fibers] {
      for (rt::JoinHandle& h : unit_fibers) h.join();
      channel.close();
    });
    sched.run();
    probe.stop();
    final_count = count;
  }
  probe.note("stacks_mapped", sched.stacks_mapped());
  probe.verify(verify(params, final_count));
}

}  // namespace

}  // namespace cmbench::counter::fiber

CMBENCH_IMPL(counter, fiber, cmbench::counter::fiber::run, nullptr)
