// pingpong in the boost-fiber model: two fibers on Boost.Fiber's round_robin
// scheduler (one thread) pass one value back and forth over two
// boost::fibers::unbuffered_channel<uint64_t>, one each way. Unit A push()es v
// on `ping` and pop()s the reply from `pong`; unit B pop()s v and push()es
// v + 1 back. Each push finds the other fiber parked in pop(), hands it the
// value and readies it, then parks until the value is taken; so one round
// trip is a handful of fiber switches through Boost.Fiber's scheduler, with
// no kernel involvement. Termination: A close()s `ping` after the last round;
// B's pop() then returns closed and B ends; the main fiber joins both.
#include <cstdint>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/boost_fiber/runtime.hpp"
#include "workloads/pingpong/spec.hpp"

namespace cmbench::pingpong::boost_fiber {

namespace bf = cmbench::boost_fiber;
namespace fibers = boost::fibers;

namespace {

void run(const Params& params, Probe& probe) {
  const uint64_t rounds = params.u("rounds");
  const unsigned threads = bf::threads_of(params);
  auto salloc = bf::stack_allocator(params.u("stack_size"), threads);
  fibers::unbuffered_channel<uint64_t> ping, pong;
  Histogram& hist = probe.latency_histograms(1)[0];
  Tally tally;

  bf::prepare(probe, params.u("stack_size"), threads);
  // threads > 1: work_stealing (runtime.hpp, 3); every variable the fibers
  // share is a Boost.Fiber primitive, guarded by one, or read after the joins.
  bf::WorkStealing workers(threads);
  probe.note("channel", "two boost::fibers::unbuffered_channel<uint64_t> (rendezvous), one each way");

  probe.start();
  fibers::fiber a(std::allocator_arg, salloc, [&] {
    RoundTrips laps(hist);
    for (uint64_t v = 0; v < rounds; ++v) {
      ping.push(v);
      uint64_t reply = 0;
      const bool got = pong.pop(reply) == fibers::channel_op_status::success;
      laps.lap();
      ++tally.replies;
      if (!got || reply != v + 1) ++tally.wrong;
    }
    ping.close();
  });
  fibers::fiber b(std::allocator_arg, salloc, [&] {
    uint64_t v = 0;
    while (ping.pop(v) == fibers::channel_op_status::success) pong.push(v + 1);
  });
  a.join();
  b.join();
  probe.stop();
  probe.verify(verify(params, tally));
}

}  // namespace

}  // namespace cmbench::pingpong::boost_fiber

CMBENCH_IMPL(pingpong, boost_fiber, cmbench::pingpong::boost_fiber::run, nullptr)
