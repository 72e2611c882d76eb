// The thread model's primitives: std::thread (in the model's ThreadGroup
// where a unit must outlive one iteration), its BoundedQueue, std::mutex.
//
// The benchmark thread is one of the units wherever a primitive needs two,
// so the round trip or the stream is timed where it completes.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <latch>
#include <mutex>
#include <optional>
#include <thread>

#include "micro/primitives.hpp"
#include "models/thread/bounded_queue.hpp"
#include "models/thread/court.hpp"
#include "models/thread/thread_group.hpp"

namespace cmbench::micro {
namespace {

using models::thread::BoundedQueue;
using models::thread::Court;
using models::thread::ThreadGroup;

// switch: the benchmark thread is unit A, handing v to unit B and waiting
// for v + 1; B, a thread of a ThreadGroup, answers exactly max_iterations + 1
// times, a warm-up and one per iteration (the range-for runs exactly that
// many unless SkipWithError, which nothing here calls). Each handoff is a futex wake of the peer and a futex
// wait of the sender.
void switch_(benchmark::State& state, const Params&) {
  Court court;
  const auto rounds = static_cast<uint64_t>(state.max_iterations);
  // Declared after the court: B is joined before the court goes.
  ThreadGroup b(1);
  b.spawn([&court, rounds] {
    for (uint64_t i = 0; i <= rounds; ++i) {  // one more: the warm-up round trip
      const Value v = court.await(Court::Turn::b);
      court.hand(Court::Turn::a, v + 1);
    }
  });
  b.start();
  // One round trip before the clock starts, so that B has been scheduled
  // for the first time and waits for its turn when the loop begins.
  // Checked with the rest after the loop: B answers a fixed number of times,
  // so nothing may leave before the loop has run.
  Receipt receipt;
  Value v = 0;
  court.hand(Court::Turn::b, v);
  const bool warm_up_ok = court.await(Court::Turn::a) == v + 1;

  for (auto _ : state) {
    court.hand(Court::Turn::b, v);
    const Value reply = court.await(Court::Turn::a);
    ++receipt.received;
    if (reply != v + 1) ++receipt.wrong;
    ++v;
  }
  b.join_all();
  if (!warm_up_ok) ++receipt.wrong;
  check_receipt(state, receipt, state.iterations());
}

// channel: the thread model's BoundedQueue<uint64_t> of the given capacity
// (0 is its rendezvous) between the benchmark thread, the producer, and one
// consumer thread that pops until the queue is closed and drained, then
// pushes its receipt on a second queue.
//
// Timed in one batch of all the iterations (KeepRunningBatch), because the
// last values are popped by the other thread after the last push: the batch
// ends when the producer has closed the queue and popped the consumer's
// receipt, so every value is received inside the timed region.
void channel(benchmark::State& state, const Params& params) {
  BoundedQueue<Value> queue(params.u("capacity"));
  BoundedQueue<Receipt> receipts(1);
  std::latch started(1);
  ThreadGroup consumer(1);
  consumer.spawn([&queue, &receipts, &started] {
    started.count_down();
    Receipt r;
    while (std::optional<Value> v = queue.pop()) {
      if (*v != r.received) ++r.wrong;
      ++r.received;
    }
    receipts.push(r);
  });
  consumer.start();
  // The consumer has started before the clock does, so that its first
  // scheduling is not part of the batch.
  started.wait();

  Receipt receipt;
  const auto n = static_cast<uint64_t>(state.max_iterations);
  // One batch of all the iterations: the body runs once.
  while (state.KeepRunningBatch(state.max_iterations)) {
    for (Value v = 0; v < n; ++v) queue.push(v);
    queue.close();
    receipt = *receipts.pop();
  }
  consumer.join_all();
  check_receipt(state, receipt, n);
}

// lock: std::mutex, the lock of counter's `lock` mode
// (workloads/counter/thread.cpp), uncontended: the uncontended fast path of
// a pthread mutex, one atomic compare-exchange and one exchange, no futex.
void lock(benchmark::State& state, const Params&) {
  std::mutex mutex;
  for (auto _ : state) {
    std::lock_guard hold(mutex);
    benchmark::ClobberMemory();
  }
}

// spawn: one std::thread created and joined per iteration, its body empty:
// pthread_create (a stack from glibc's cache of freed stacks after the
// first), the thread's start and exit, pthread_join.
void spawn(benchmark::State& state, const Params&) {
  for (auto _ : state) std::thread([] {}).join();
}

}  // namespace

const Primitives& thread_primitives() {
  static const Primitives table{
      {switch_, nullptr,
       "two threads, the benchmark thread and one more, hand a value back and forth through "
       "pingpong's std::mutex + std::condition_variable handoff"},
      {channel, nullptr,
       "the benchmark thread pushes values into the model's BoundedQueue that one other thread "
       "pops; one batch of all iterations, ended by the consumer's receipt"},
      {lock, nullptr, "lock + unlock of a std::mutex, uncontended"},
      {spawn, nullptr, "std::thread with an empty body, created and joined"},
  };
  return table;
}

}  // namespace cmbench::micro
