// pingpong in the fiber model: two fibers on the project's own runtime pass
// one value back and forth over two unbuffered (rendezvous) channels, one
// each way. Unit A sends v on `ping` and receives the reply on `pong`; unit B
// receives v and sends v + 1 back. Each channel operation finds the other
// fiber already parked on the matching operation, so it hands the value over
// directly and makes that fiber runnable; the caller then parks on its next
// operation and the runtime switches to the other fiber: one round trip is
// two switches (boost::context resume_with), with no kernel involvement.
// Termination: A closes `ping` after the last round; B's receive then returns
// std::nullopt and B ends.
#include <cstdint>
#include <optional>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/fiber/channel.hpp"
#include "models/fiber/scheduler.hpp"
#include "workloads/pingpong/spec.hpp"

namespace cmbench::pingpong::fiber {

namespace rt = cmbench::fiber;

namespace {

void run(const Params& params, Probe& probe) {
  const uint64_t rounds = params.u("rounds");
  rt::Scheduler sched(params.u("stack_size"), static_cast<unsigned>(params.u("threads")));
  rt::Channel<uint64_t> ping(0), pong(0);
  Histogram& hist = probe.latency_histograms(1)[0];
  Tally tally;

  probe.note("scheduler",
             "cmbench's own, cooperative (run-queue order: the threads note); a fiber that parks switches "
             "straight to the next runnable one (boost::context::fiber::resume_with)");
  probe.note("channel", "two unbuffered (rendezvous) cmbench::fiber::Channel<uint64_t>, one each way");
  probe.note("threads", sched.threading());
  probe.note("stack_size", sched.stack_size());
  probe.note("stack_protection", sched.stack_protection());

  probe.start();
  sched.spawn([&] {  // unit A
    RoundTrips laps(hist);
    for (uint64_t v = 0; v < rounds; ++v) {
      ping.send(v);
      const std::optional<uint64_t> reply = pong.recv();
      laps.lap();
      ++tally.replies;
      if (!reply || *reply != v + 1) ++tally.wrong;
    }
    ping.close();
  });
  sched.spawn([&] {  // unit B
    while (std::optional<uint64_t> v = ping.recv()) pong.send(*v + 1);
  });
  sched.run();
  probe.stop();
  probe.verify(verify(params, tally));
}

}  // namespace

}  // namespace cmbench::pingpong::fiber

CMBENCH_IMPL(pingpong, fiber, cmbench::pingpong::fiber::run, nullptr)
