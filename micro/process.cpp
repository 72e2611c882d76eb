// The process model's primitives (models/process/process.hpp): forked
// processes, pipes, a process-shared mutex in shared memory.
//
// The benchmark process is one of the units wherever a primitive needs two:
// it forks the other, so the round trip or the stream is timed where it
// completes, on the benchmark thread, and no clock of another process has to
// be trusted. Children leave through _exit() (pm::fork_child), so they never
// flush the buffers of Google Benchmark's reporters that fork copied.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <mutex>
#include <new>
#include <string>

#include "harness/cell/errors.hpp"
#include "micro/primitives.hpp"
#include "models/process/park.hpp"
#include "models/process/process.hpp"

namespace cmbench::micro {
namespace {

namespace pm = cmbench::models::process;

// switch: pingpong's two pipes, one each way (workloads/pingpong/process.cpp).
// The benchmark process is unit A: it writes v to the A->B pipe and blocks
// reading the B->A pipe; the forked unit B answers v + 1. A round trip is two
// 8-byte writes, two blocking reads and two wake-ups by the kernel. B answers
// until end of file, which comes when A closes its write end after the loop.
void switch_(benchmark::State& state, const Params&) {
  pm::Pipe to_b = pm::make_pipe();
  pm::Pipe to_a = pm::make_pipe();
  // Declared after the pipes: if this unwinds, B is killed and reaped first.
  pm::Children b(1);
  b.spawn([&] {
    to_b.write.close();
    to_a.read.close();
    Value v;
    while (pm::read_exact(to_b.read, &v, sizeof v)) {
      const Value reply = v + 1;
      pm::write_all(to_a.write, &reply, sizeof reply);
    }
  });
  to_b.read.close();
  to_a.write.close();

  // One round trip before the clock starts, so that B has been scheduled
  // for the first time and is waiting in read() when the loop begins.
  Value v = 0;
  Value reply = 0;
  pm::write_all(to_b.write, &v, sizeof v);
  if (!pm::read_exact(to_a.read, &reply, sizeof reply) || reply != v + 1)
    throw SystemError("switch: the answering process did not answer", 0);

  Receipt receipt;
  for (auto _ : state) {
    pm::write_all(to_b.write, &v, sizeof v);
    if (!pm::read_exact(to_a.read, &reply, sizeof reply)) [[unlikely]] {
      state.SkipWithError("the answering process is gone");
      break;
    }
    ++receipt.received;
    if (reply != v + 1) ++receipt.wrong;
    ++v;
  }
  to_b.write.close();  // B reads end of file and exits
  b.reap_all();
  if (!state.error_occurred()) check_receipt(state, receipt, state.iterations());
}

// The consumer of `channel`: reads values until end of file, tallies them
// and, for a rendezvous, acknowledges each; then writes its receipt to
// `done`. Runs in the forked child.
struct Consumer {
  const pm::Fd& data;
  const pm::Fd* credit;  // B > 0: a token back per value taken
  const pm::Fd* ack;     // B = 0: an acknowledgement per value taken
  const pm::Fd& done;

  void operator()() const {
    Receipt r;
    const char token = 't';
    Value v;
    while (pm::read_exact(data, &v, sizeof v)) {
      if (v != r.received) ++r.wrong;
      ++r.received;
      if (credit) pm::write_all(*credit, &token, 1);
      if (ack) pm::acknowledge(*ack);
    }
    pm::write_all(done, &r, sizeof r);
  }
};

// channel: prodcons's pipe channel (workloads/prodcons/process.cpp) between
// the benchmark process (the producer) and one forked consumer. One pipe
// write per send and one read per receive; capacity B > 0 adds a credit pipe
// preloaded with B tokens (the producer reads one before each write, the
// consumer writes one back after each read) so that at most B values are
// sent and not yet received, and the data pipe is sized to hold B values;
// capacity 0 is the model's rendezvous, pm::send_and_await_ack(): the send
// returns once the consumer has read the value and acknowledged it.
//
// Timed in one batch of all the iterations (KeepRunningBatch), because the
// last values are received by another process after the last send: the
// batch ends when the producer has closed the data pipe and read the
// consumer's receipt, so every value is received inside the timed region.
void channel(benchmark::State& state, const Params& params) {
  const uint64_t capacity = params.u("capacity");
  pm::Pipe data = pm::make_pipe();
  pm::Pipe credit;
  pm::Pipe ack;
  pm::Pipe ready = pm::make_pipe();
  pm::Pipe done = pm::make_pipe();
  if (capacity > 0) {
    const size_t need = pm::pipe_bytes_for(capacity, sizeof(Value));
    if (pm::pipe_size(data.write) < need) pm::set_pipe_size(data.write, need);
    credit = pm::make_pipe();
    const size_t tokens_need = pm::pipe_bytes_for(capacity, 1);
    if (pm::pipe_size(credit.write) < tokens_need) pm::set_pipe_size(credit.write, tokens_need);
    const std::string tokens(capacity, 't');
    pm::write_all(credit.write, tokens.data(), tokens.size());
  } else {
    ack = pm::make_pipe();
  }

  // Declared after the pipes: if this unwinds, the consumer is killed and
  // reaped first.
  pm::Children consumer(1);
  consumer.spawn([&] {
    data.write.close();
    credit.read.close();
    ack.read.close();
    ready.read.close();
    done.read.close();
    pm::announce(ready.write);
    ready.write.close();
    Consumer{data.read, capacity > 0 ? &credit.write : nullptr,
             capacity == 0 ? &ack.write : nullptr, done.write}();
  });
  data.read.close();
  credit.write.close();
  ack.write.close();
  ready.write.close();
  done.write.close();
  // The consumer announces itself before the clock starts, so that its
  // first scheduling is not part of the batch.
  if (pm::await_announcements(ready.read, 1) != 1)
    throw SystemError("channel: the consumer ended before it started", 0);

  Receipt receipt;
  bool got_receipt = false;
  const uint64_t n = static_cast<uint64_t>(state.max_iterations);
  // One batch of all the iterations: the body runs once.
  while (state.KeepRunningBatch(state.max_iterations)) {
    char token;
    for (Value v = 0; v < n; ++v) {
      if (capacity > 0) {
        if (!pm::read_exact(credit.read, &token, 1)) [[unlikely]]
          break;  // the consumer is gone: its receipt will be missing
        pm::write_all(data.write, &v, sizeof v);
      } else {
        pm::send_and_await_ack(data.write, ack.read, &v, sizeof v);
      }
    }
    data.write.close();  // end of file: the consumer writes its receipt
    got_receipt = pm::read_exact(done.read, &receipt, sizeof receipt);
  }
  consumer.reap_all();
  if (!got_receipt) {
    state.SkipWithError("the consumer ended without a receipt");
    return;
  }
  check_receipt(state, receipt, n);
}

// lock: the mutex of counter's `lock` mode (workloads/counter/process.cpp),
// pm::SharedMutex — a PTHREAD_PROCESS_SHARED pthread mutex of the default
// type — placed in an anonymous MAP_SHARED mapping as counter places it, so
// that forked children would lock the same one. Uncontended: only the
// benchmark process locks it, so an iteration is the futex-free fast path of
// a process-shared mutex (one atomic exchange each way).
void lock(benchmark::State& state, const Params&) {
  const pm::SharedMapping shared(sizeof(pm::SharedMutex));
  auto* mutex = new (shared.data()) pm::SharedMutex;
  struct Destroy {
    pm::SharedMutex* m;
    ~Destroy() { m->~SharedMutex(); }
  } destroy{mutex};
  for (auto _ : state) {
    std::lock_guard<pm::SharedMutex> hold(*mutex);
    benchmark::ClobberMemory();
  }
}

// spawn: pm::fork_child() of a child that does nothing and _exit(0)s, then
// pm::reap() (waitpid, checking the exit status): the model's spawn and join,
// as the spawn workload uses them, one unit at a time. fork copies the
// benchmark process's page tables, so the cost grows with its size, as it
// would for any program that forks.
void spawn(benchmark::State& state, const Params&) {
  for (auto _ : state) pm::reap(pm::fork_child([] {}));
}

}  // namespace

const Primitives& process_primitives() {
  static const Primitives table{
      {switch_, nullptr,
       "two processes, the benchmark process and a forked one, and two pipes: one 8-byte "
       "write() and one blocking read() each way per round trip (timed on the benchmark "
       "thread)"},
      {channel, nullptr,
       "the benchmark process writes values to a pipe that one forked process reads; capacity "
       "B > 0 adds a credit pipe of B tokens, capacity 0 is the model's rendezvous (an "
       "acknowledgement pipe); one batch of all iterations, ended by the consumer's receipt"},
      {lock, nullptr,
       "lock + unlock of the PTHREAD_PROCESS_SHARED mutex in MAP_SHARED memory that counter's "
       "lock mode uses, uncontended"},
      {spawn, nullptr, "fork() of a child that _exit(0)s at once, then waitpid()"},
  };
  return table;
}

}  // namespace cmbench::micro
