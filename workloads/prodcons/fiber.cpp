// prodcons in the fiber model: P producer fibers and C consumer fibers share
// one cmbench::fiber::Channel<Msg>(B) on the project's own runtime (one
// thread by default, Go's run-queue order, Boost.Context switches).
//
// Capacity: the channel is Go's. B > 0 is a ring buffer of exactly B slots
// and a sender parks while all are full, so at most B messages are sent and
// not yet received. B = 0 has no buffer: a sender parks holding its message
// until a receiver has taken it out (or hands it straight to a receiver that
// is already parked), so a send completes only once a receiver took the
// value. models/fiber/channel.hpp gives the details.
//
// Termination, as a Go program would do it: one more fiber joins every
// producer and then closes the channel; consumers receive until recv()
// returns std::nullopt (closed and drained).
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/fiber/channel.hpp"
#include "models/fiber/scheduler.hpp"
#include "workloads/prodcons/spec.hpp"

namespace cmbench::prodcons::fiber {

namespace rt = cmbench::fiber;

namespace {

void run(const Params& params, Probe& probe) {
  const uint64_t m = params.u("messages");
  const uint64_t producers = params.u("producers");
  const uint64_t consumers = params.u("consumers");
  const uint64_t capacity = params.u("capacity");

  with_message(params, [&]<typename Msg>() {
    rt::Scheduler sched(params.u("stack_size"), static_cast<unsigned>(params.u("threads")));
    rt::Channel<Msg> channel(capacity);
    std::span<Histogram> hists = probe.latency_histograms(consumers);
    std::vector<Tally> tallies(consumers);
    SeenRows last(consumers, producers);
    std::vector<rt::JoinHandle> producer_fibers;
    producer_fibers.reserve(producers);

    probe.note("scheduler",
               "cmbench's own, cooperative (run-queue order: the threads note); a fiber that parks "
               "switches straight to the next runnable one (boost::context::fiber::resume_with), "
               "with no clock read, lock or allocation per switch");
    probe.note("threads", sched.threading());
    probe.note("stack_size", sched.stack_size());
    probe.note("stack_protection", sched.stack_protection());
    probe.note("stack_pool", "mmap'd stacks, reused from a free list once a fiber finishes");
    probe.note("channel",
               capacity == 0
                   ? "rendezvous: a sender parks with its value until a receiver takes it; a "
                     "sender finding a parked receiver hands the value over directly"
                   : "ring buffer of exactly `capacity` slots; a sender parks while it is full; "
                     "values go straight to parked receivers and from parked senders");
    probe.note("termination", "a closer fiber joins the producers, then closes the channel");

    probe.start();
    for (uint64_t p = 0; p < producers; ++p) {
      producer_fibers.push_back(sched.spawn([&channel, m, producers, p] {
        const uint64_t n = messages_of(m, producers, p);
        Msg msg;
        for (uint64_t seq = 0; seq < n; ++seq) {
          stamp(msg, static_cast<uint32_t>(p), seq);
          channel.send(msg);
        }
      }));
    }
    for (uint64_t c = 0; c < consumers; ++c) {
      sched.spawn([&channel, &tallies, &last, hists, m, producers, c] {
        Tally& tally = tallies[c];
        std::span<uint64_t> seen = last.row(c);
        while (std::optional<Msg> msg = channel.recv())
          take(tally, seen, m, producers, *msg, hists[c]);
      });
    }
    sched.spawn([&channel, &producer_fibers] {
      for (rt::JoinHandle& h : producer_fibers) h.join();
      channel.close();
    });
    sched.run();
    probe.stop();

    probe.note("stacks_mapped", sched.stacks_mapped());
    probe.verify(verify(params, tallies));
  });
}

}  // namespace

}  // namespace cmbench::prodcons::fiber

CMBENCH_IMPL(prodcons, fiber, cmbench::prodcons::fiber::run, nullptr)
