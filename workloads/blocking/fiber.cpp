// blocking in the fiber model: every unit is a fiber on the project's own
// runtime.
//
// A blocker fiber makes its K calls one after the other and yields
// (this_fiber::yield) after each, as a fiber that served one request per
// call would park between requests:
//   inline  the fiber makes the call itself: its kernel thread sleeps in
//           nanosleep, and with it every fiber that thread would run (with
//           threads = 1, all of them; in M:N mode the other workers go on);
//   pool    cmbench::fiber::offload(fn) (models/fiber/offload.hpp): the
//           fiber parks while one thread of the runtime's small pool (up to
//           kDefaultOffloadThreads = 4, libuv's default, started as calls
//           arrive) makes the call, and the scheduler runs the others
//           meanwhile — the fiber model's answer to Go handing off its P at
//           a blocking system call. The pool thread hands the fiber back
//           through the scheduler's inbox and an eventfd in its epoll set.
//
// A bystander pair is pingpong's: two fibers and an unbuffered channel each
// way. A sends v and receives v + 1 until the last blocker is done, then
// closes `ping`; B's receive returns nothing and B ends.
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/fiber/channel.hpp"
#include "models/fiber/offload.hpp"
#include "models/fiber/scheduler.hpp"
#include "workloads/blocking/spec.hpp"

namespace cmbench::blocking::fiber {

namespace rt = cmbench::fiber;

namespace {

struct Pair {
  rt::Channel<uint64_t> ping{0}, pong{0};
};

void run(const Params& params, Probe& probe) {
  const uint64_t nblockers = params.u("blockers");
  const uint64_t calls = params.u("calls");
  const uint64_t npairs = params.u("pairs");
  const int64_t delay = delay_ns(params);
  const bool pool = pool_offload(params);
  rt::Scheduler sched(params.u("stack_size"), static_cast<unsigned>(params.u("threads")));
  std::span<Histogram> hists = probe.latency_histograms(npairs);
  std::vector<Tally> tallies(nblockers);
  std::vector<bystanders::Tally> pairs(npairs);
  std::vector<Pair> channels(npairs);
  // Fibers may run on different threads (threads > 1).
  std::atomic<uint64_t> remaining{nblockers};
  ThreadPeak peak;

  probe.note("scheduler", "cmbench's own, cooperative (run-queue order: the threads note)");
  probe.note("threads", sched.threading());
  probe.note("stack_size", sched.stack_size());
  probe.note("stack_protection", sched.stack_protection());

  probe.start();
  // The bystanders first, so that they are running when the others start.
  for (uint64_t i = 0; i < npairs; ++i) {
    sched.spawn([&, i] {  // A
      Pair& c = channels[i];
      bystanders::Tally t;
      bystanders::RoundTrips laps(hists[i]);
      uint64_t v = 0;
      do {
        c.ping.send(v);
        const std::optional<uint64_t> got = c.pong.recv();
        laps.lap();
        bystanders::reply(t, v, got.value_or(0));
        ++v;
      } while (remaining.load(std::memory_order_acquire) != 0);
      c.ping.close();
      pairs[i].replies = t.replies;
      pairs[i].wrong = t.wrong;
    });
    sched.spawn([&, i] {  // B
      Pair& c = channels[i];
      uint64_t answered = 0;
      while (std::optional<uint64_t> v = c.ping.recv()) {
        ++answered;
        c.pong.send(*v + 1);
      }
      pairs[i].answered = answered;
    });
  }
  for (uint64_t b = 0; b < nblockers; ++b) {
    sched.spawn([&, b] {
      Tally t;
      for (uint64_t k = 0; k < calls; ++k) {
        const int64_t took = pool ? rt::offload([delay]() noexcept { return blocking_call(delay); })
                                  : blocking_call(delay);
        called(t, took, delay);
        peak.sample();
        rt::this_fiber::yield();
      }
      tallies[b] = t;
      remaining.fetch_sub(1, std::memory_order_release);
    });
  }
  sched.run();
  peak.sample();
  probe.stop();

  report(probe, params, pairs, peak.peak(),
         pool ? rt::offload_description()
              : std::string("inline: the fiber makes the call on its worker thread, which sleeps with every "
                            "fiber it would run; the fiber yields after each call"));
  probe.note("bystanders", "two fibers and two unbuffered cmbench::fiber::Channel<uint64_t> per pair");
  probe.verify(verify(params, tallies, pairs, hists));
}

}  // namespace

}  // namespace cmbench::blocking::fiber

CMBENCH_IMPL(blocking, fiber, cmbench::blocking::fiber::run, nullptr)
