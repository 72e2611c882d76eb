// ring in the fiber model: N fibers on the project's own runtime, each with
// its own unbuffered (rendezvous) inbox channel, as in the Go version of the
// thread-ring benchmark. Fiber i receives the token (hops left) from its
// inbox and sends it, decremented, to fiber i+1's inbox; every other fiber is
// parked on its receive, so each hop is one direct handoff and one switch.
// The fiber that receives the token with 0 hops left records its index and
// closes every inbox: the fibers parked on them wake with std::nullopt and
// end. A starter fiber puts the token, with T hops left, into fiber 0's inbox.
#include <cstdint>
#include <deque>
#include <optional>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/fiber/channel.hpp"
#include "models/fiber/scheduler.hpp"
#include "workloads/ring/spec.hpp"

namespace cmbench::ring::fiber {

namespace rt = cmbench::fiber;

namespace {

void run(const Params& params, Probe& probe) {
  const uint64_t n = params.u("units");
  const uint64_t hops = params.u("hops");
  rt::Scheduler sched(params.u("stack_size"), static_cast<unsigned>(params.u("threads")));
  // A deque: channels are neither copyable nor movable, and they are made
  // before the timed region, like Go's `make(chan int)` slice set up front.
  std::deque<rt::Channel<uint64_t>> inbox;
  for (uint64_t i = 0; i < n; ++i) inbox.emplace_back(0);
  uint64_t last_holder = n;  // none yet
  uint64_t hops_made = 0;

  probe.note("scheduler",
             "cmbench's own, cooperative (run-queue order: the threads note); a fiber that parks switches "
             "straight to the next runnable one (boost::context::fiber::resume_with)");
  probe.note("channel", "one unbuffered (rendezvous) cmbench::fiber::Channel<uint64_t> per fiber");
  probe.note("termination", "the final holder closes every inbox");
  probe.note("threads", sched.threading());
  probe.note("stack_size", sched.stack_size());
  probe.note("stack_protection", sched.stack_protection());

  probe.start();
  for (uint64_t i = 0; i < n; ++i) {
    sched.spawn([&, i] {
      rt::Channel<uint64_t>& in = inbox[i];
      rt::Channel<uint64_t>& out = inbox[(i + 1) % n];
      while (std::optional<uint64_t> left = in.recv()) {
        if (*left == 0) {
          last_holder = i;
          for (rt::Channel<uint64_t>& c : inbox) c.close();
          return;
        }
        ++hops_made;
        out.send(*left - 1);
      }
    });
  }
  sched.spawn([&] { inbox[0].send(hops); });
  sched.run();
  probe.stop();
  probe.verify(verify(params, last_holder, hops_made));
}

}  // namespace

}  // namespace cmbench::ring::fiber

CMBENCH_IMPL(ring, fiber, cmbench::ring::fiber::run, nullptr)
