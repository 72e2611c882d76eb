// The fiber model's primitives: the project's own runtime
// (models/fiber/scheduler.hpp), its Channel and its Mutex. Every benchmark
// makes one Scheduler per run (not per iteration), with the model's
// `stack_size` parameter, and runs its iterations inside a fiber of it.
//
// The iteration loop itself runs in a fiber, on the benchmark thread: the
// runtime is one thread, so Google Benchmark's timer, started and stopped by
// the loop, brackets exactly the iterations and nothing of the runtime's
// setup or teardown. (The State calls that start and stop the timer need
// little stack, far less than a fiber has.)
#include <benchmark/benchmark.h>

#include <cstdint>
#include <mutex>
#include <optional>

#include "micro/primitives.hpp"
#include "models/fiber/channel.hpp"
#include "models/fiber/mutex.hpp"
#include "models/fiber/scheduler.hpp"

namespace cmbench::micro {
namespace {

namespace rt = cmbench::fiber;

// switch: pingpong's two fibers (workloads/pingpong/fiber.cpp) over two
// unbuffered channels, one each way. A sends v on `ping` and receives v + 1
// on `pong`; each operation finds the other fiber parked on the matching one,
// hands the value over and makes it runnable, and the caller's next
// operation parks it: two fiber switches (boost::context resume_with) per
// round trip, no kernel. A closes `ping` after the loop and B ends.
void switch_(benchmark::State& state, const Params& params) {
  rt::Scheduler sched(params.u("stack_size"));
  rt::Channel<Value> ping(0), pong(0);
  Receipt receipt;
  sched.spawn([&] {  // B first, so that it is parked when A sends
    while (std::optional<Value> v = ping.recv()) pong.send(*v + 1);
  });
  sched.spawn([&] {  // A: the benchmark's iterations
    Value v = 0;
    for (auto _ : state) {
      ping.send(v);
      const std::optional<Value> reply = pong.recv();
      ++receipt.received;
      if (!reply || *reply != v + 1) ++receipt.wrong;
      ++v;
    }
    ping.close();
  });
  sched.run();
  check_receipt(state, receipt, state.iterations());
}

// channel: one producer fiber sends 0, 1, 2, ... on a Channel of the given
// capacity (exact; 0 is the rendezvous) and one consumer fiber receives until
// it is closed — prodcons's units, one of each. Timed in one batch of all
// the iterations (KeepRunningBatch) that ends when the producer has closed
// the channel and joined the consumer, because with a buffer the last values
// are received after the last send: every value is received inside the
// timed region.
void channel(benchmark::State& state, const Params& params) {
  rt::Scheduler sched(params.u("stack_size"));
  rt::Channel<Value> ch(params.u("capacity"));
  Receipt receipt;
  const auto n = static_cast<uint64_t>(state.max_iterations);
  // The consumer first, as prodcons starts them: it parks on the empty
  // channel, and the first send hands its value straight over.
  rt::JoinHandle consumer = sched.spawn([&] {
    while (std::optional<Value> v = ch.recv()) {
      if (*v != receipt.received) ++receipt.wrong;
      ++receipt.received;
    }
  });
  sched.spawn([&] {
    // One batch of all the iterations: the body runs once.
    while (state.KeepRunningBatch(state.max_iterations)) {
      for (Value v = 0; v < n; ++v) ch.send(v);
      ch.close();
      consumer.join();
    }
  });
  sched.run();
  check_receipt(state, receipt, n);
}

// lock: the runtime's Mutex, the lock of counter's `lock` mode
// (workloads/counter/fiber.cpp), uncontended, from a fiber (lock() must be
// called from one): an owner check and two stores, no switch.
void lock(benchmark::State& state, const Params& params) {
  rt::Scheduler sched(params.u("stack_size"));
  rt::Mutex mutex;
  sched.spawn([&] {
    for (auto _ : state) {
      std::lock_guard hold(mutex);
      benchmark::ClobberMemory();
    }
  });
  sched.run();
}

// spawn: a parent fiber spawns a fiber with an empty body and joins it: the
// spawn takes a stack from the pool and queues the child, the join parks the
// parent, the child runs and ends (its stack back on the pool's free list)
// and the parent is made runnable again. One child is spawned and joined
// before the timed loop, so that the pool's first slab is mapped in setup and
// every iteration reuses a freed stack, as a long-running program's spawns
// do (glibc's cache of thread stacks does the same for the thread model).
void spawn(benchmark::State& state, const Params& params) {
  rt::Scheduler sched(params.u("stack_size"));
  sched.spawn([&] {
    sched.spawn([] {}).join();
    for (auto _ : state) sched.spawn([] {}).join();
  });
  sched.run();
}

}  // namespace

const Primitives& fiber_primitives() {
  static const Primitives table{
      {switch_, nullptr,
       "two fibers hand a value back and forth over pingpong's two unbuffered channels (two "
       "fiber switches per round trip); the loop runs in a fiber on the benchmark thread"},
      {channel, nullptr,
       "a producer fiber sends values on the runtime's Channel that a consumer fiber receives; "
       "one batch of all iterations, ended by joining the consumer"},
      {lock, nullptr, "lock + unlock of the runtime's Mutex from a fiber, uncontended"},
      {spawn, nullptr, "spawn of a fiber with an empty body, then join, from a parent fiber"},
  };
  return table;
}

}  // namespace cmbench::micro
