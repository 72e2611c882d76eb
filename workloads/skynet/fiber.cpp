// skynet in the fiber model, in the shape of Go's classic skynet:
//
//   func skynet(c chan int, num, size, div int) {
//     if size == 1 { c <- num; return }
//     rc := make(chan int)
//     var sum int
//     for i := 0; i < div; i++ { go skynet(rc, num + i*(size/div), size/div, div) }
//     for i := 0; i < div; i++ { sum += <-rc }
//     c <- sum
//   }
//
// Every unit is a fiber on the project's own runtime; `rc` is an unbuffered
// (rendezvous) Channel<uint64_t> on the parent's own stack — it outlives the
// children's sends, because the parent returns only after it received all
// ten. The run queue keeps Go's order (a new fiber runs next,
// models/fiber/run_queue.hpp), so the tree unfolds close to depth first and
// a fraction of it is alive at once, as with goroutines; a FIFO would unfold
// it level by level with nearly every unit alive at once (1,111,111 fibers
// for a million leaves). A fiber that cannot be created (the stack pool's mmap
// fails) throws LimitError out of its parent; the runtime then unwinds every
// parked fiber of the half-built tree and run() rethrows it.
#include <cstdint>
#include <optional>

#include "harness/cell/errors.hpp"
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/fiber/channel.hpp"
#include "models/fiber/scheduler.hpp"
#include "workloads/skynet/spec.hpp"

namespace cmbench::skynet::fiber {

namespace rt = cmbench::fiber;

namespace {

constexpr uint64_t kDiv = 10;

void skynet(rt::Scheduler& sched, rt::Channel<uint64_t>& c, uint64_t num, uint64_t size) {
  if (size == 1) {
    c.send(num);
    return;
  }
  rt::Channel<uint64_t> rc(0);
  const uint64_t child = size / kDiv;
  for (uint64_t i = 0; i < kDiv; ++i)
    sched.spawn([&sched, &rc, sub = num + i * child, child] { skynet(sched, rc, sub, child); });
  uint64_t sum = 0;
  for (uint64_t i = 0; i < kDiv; ++i) sum += *rc.recv();
  c.send(sum);
}

void run(const Params& params, Probe& probe) {
  const uint64_t leaves = params.u("leaves");
  rt::Scheduler sched(params.u("stack_size"), static_cast<unsigned>(params.u("threads")));
  uint64_t sum = 0;

  probe.note("scheduler",
             "cmbench's own, cooperative (run-queue order: the threads note); a fiber that parks switches "
             "straight to the next runnable one (boost::context::fiber::resume_with)");
  probe.note("channel", "unbuffered cmbench::fiber::Channel<uint64_t> per inner unit, on its stack");
  probe.note("threads", sched.threading());
  probe.note("stack_size", sched.stack_size());
  probe.note("stack_protection", sched.stack_protection());

  probe.start();
  sched.spawn([&] {  // Go's main: c := make(chan int); go skynet(c, 0, leaves, 10); <-c
    rt::Channel<uint64_t> c(0);
    sched.spawn([&] { skynet(sched, c, 0, leaves); });
    sum = *c.recv();
  });
  try {
    sched.run();
  } catch (const LimitError&) {
    probe.note("reached", sched.stacks_mapped());
    throw;
  }
  probe.stop();
  probe.note("stacks_mapped", sched.stacks_mapped());
  probe.note("stacks_guarded", sched.stacks_guarded());
  probe.note("stacks_touched", sched.stacks_touched());
  probe.verify(verify(params, sum));
}

}  // namespace

}  // namespace cmbench::skynet::fiber

CMBENCH_IMPL(skynet, fiber, cmbench::skynet::fiber::run, nullptr)
