// ring in the boost-fiber model: N fibers on Boost.Fiber's round_robin
// scheduler (one thread), each with its own boost::fibers::unbuffered_channel
// inbox, as in the Go version of the thread-ring benchmark. Fiber i pop()s the
// token (hops left) from its inbox and push()es it, decremented, into fiber
// i+1's inbox; every other fiber is parked in pop(), so each hop is one
// rendezvous handoff. The fiber that receives the token with 0 hops left
// records its index and close()s every inbox: the fibers parked in pop() wake
// with channel_op_status::closed and end. The main fiber pushes the token,
// with T hops left, into fiber 0's inbox and joins every fiber.
#include <cstdint>
#include <deque>
#include <vector>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/boost_fiber/runtime.hpp"
#include "workloads/ring/spec.hpp"

namespace cmbench::ring::boost_fiber {

namespace bf = cmbench::boost_fiber;
namespace fibers = boost::fibers;

namespace {

void run(const Params& params, Probe& probe) {
  const uint64_t n = params.u("units");
  const uint64_t hops = params.u("hops");
  auto salloc = bf::stack_allocator(params.u("stack_size"));
  // A deque: channels are neither copyable nor movable; they are made before
  // the timed region, like Go's slice of channels.
  std::deque<fibers::unbuffered_channel<uint64_t>> inbox(n);
  std::vector<fibers::fiber> ring;
  ring.reserve(n);
  uint64_t last_holder = n;  // none yet
  uint64_t hops_made = 0;

  bf::prepare(probe, params.u("stack_size"));
  probe.note("channel", "one boost::fibers::unbuffered_channel<uint64_t> (rendezvous) per fiber");
  probe.note("termination", "the final holder close()s every inbox");

  probe.start();
  for (uint64_t i = 0; i < n; ++i) {
    ring.emplace_back(std::allocator_arg, salloc, [&, i] {
      fibers::unbuffered_channel<uint64_t>& in = inbox[i];
      fibers::unbuffered_channel<uint64_t>& out = inbox[(i + 1) % n];
      uint64_t left = 0;
      while (in.pop(left) == fibers::channel_op_status::success) {
        if (left == 0) {
          last_holder = i;
          for (auto& c : inbox) c.close();
          return;
        }
        ++hops_made;
        out.push(left - 1);
      }
    });
  }
  inbox[0].push(hops);
  for (fibers::fiber& f : ring) f.join();
  probe.stop();
  probe.verify(verify(params, last_holder, hops_made));
}

// This workload's fibers share the ring's tallies unguarded: one thread only
// (models/boost_fiber/runtime.hpp, 3).
std::optional<std::string> unsupported(const Params& params) {
  return bf::one_thread_only(params, "the ring's tallies");
}

}  // namespace

}  // namespace cmbench::ring::boost_fiber

CMBENCH_IMPL(ring, boost_fiber, cmbench::ring::boost_fiber::run, cmbench::ring::boost_fiber::unsupported)
