// spawn in the coro model: the thread creates N coroutines with co_spawn on
// one io_context; each counts itself parked and parks in async_receive on one
// shared unbuffered boost::asio::experimental::channel `release`. The thread
// (the creator, outside any coroutine, like the other models' main fiber)
// runs each new unit to its parking point before it makes the next, and
// once all N are parked has memory read, then close()s `release`: the channel is empty and every
// unit is a parked receiver, so close() completes every receive with
// channel_closed (models/coro/runtime.hpp, 2); each unit counts itself
// finished and ends. Join: io_context::run() returns once every coroutine
// has ended (the pending receives hold the io_context's work count, so it
// cannot return while any unit is parked).
//
// Memory per unit: a parked unit is its coroutine frame, co_spawn's
// entry-point frame and awaitable_thread, and the channel's pending receive
// operation -- heap blocks from Asio's recycling allocator, which caches only
// two per thread, so these are mallocs; no stack. asio::awaitable's promise
// has its own operator new, so the frames cannot be counted one by one;
// instead the note heap_bytes_per_unit is glibc's count of allocated heap
// bytes (mallinfo2().uordblks, two reads that take microseconds) while all N
// are parked, minus before the first was created, over N -- the frames and
// operation states with malloc's per-block overhead, next to the harness's
// resident-memory figure (memory_per_unit_bytes).
//
// When a frame or an operation cannot be allocated (std::bad_alloc), the
// thread stops creating, frees the model's memory reserve (runtime.hpp: room
// for the units made to end), releases the units it made, runs them to
// their end, and the cell throws LimitError naming how many were
// reached.
#include <malloc.h>

#include <cerrno>
#include <cstdint>
#include <new>

#include "harness/cell/errors.hpp"
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/coro/runtime.hpp"
#include "workloads/spawn/spec.hpp"

namespace cmbench::spawn::coro {

namespace rt = cmbench::coro;

namespace {

// What every unit shares; a unit's frame holds one pointer to it rather than
// three references (the frame is most of what a parked unit costs).
struct Shared {
  rt::Channel<bool>& release;
  uint64_t parked = 0;
  uint64_t finished = 0;
};

rt::Task<> unit(Shared* s) {
  ++s->parked;
  co_await s->release.async_receive(rt::kAwaitTuple);  // parks until close()
  ++s->finished;
}

void run(const Params& params, Probe& probe) {
  const uint64_t n = params.u("units");
  boost::asio::io_context io(1);
  rt::Channel<bool> release(io.get_executor(), 0);
  Shared shared{release};
  uint64_t created = 0;
  bool out_of_memory = false;
  rt::MemoryReserve reserve;

  rt::prepare(probe);
  probe.note("park",
             "async_receive on one shared asio::experimental::channel(ex, 0); release = close()");
  probe.note("join", "io_context::run() returns once every coroutine has ended");

  probe.memory_baseline();
  const std::size_t heap_before = mallinfo2().uordblks;
  probe.start();
  try {
    for (; created < n; ++created) {
      rt::spawn(io, unit(&shared));
      // Runs the new unit to its parking point at once, so the handler that
      // started it is freed (and its block reused by the next spawn) before
      // the next unit is made: created all first, each of those blocks would
      // be freed only once every frame was allocated, leaving a 128-byte
      // hole per unit that the process's resident memory counts (688 B a
      // unit against 560 B of heap, measured). poll_one: never blocks.
      while (shared.parked <= created && io.poll_one() > 0) {
      }
    }
  } catch (const std::bad_alloc&) {
    reserve.release();
    out_of_memory = true;
  }
  const std::size_t heap_parked = mallinfo2().uordblks;
  if (!out_of_memory) probe.memory_parked(n);
  release.close();
  io.run();
  probe.stop();

  if (out_of_memory) {
    probe.note("reached", created);
    throw LimitError(limit_message(params, created, "operator new(coroutine frame)", ENOMEM),
                     ENOMEM);
  }
  probe.note("heap_bytes_per_unit",
             heap_parked > heap_before  // 0 under a sanitizer's own malloc
                 ? static_cast<double>(heap_parked - heap_before) / static_cast<double>(n)
                 : 0.0);
  probe.verify(verify(params, shared.parked, shared.finished));
}

// Coroutines of this workload share the release channel and the count of units parked unguarded: one thread only
// (models/coro/runtime.hpp, Threads).
std::optional<std::string> unsupported(const Params& params) {
  return rt::one_thread_only(params, "the release channel and the count of units parked");
}

}  // namespace

}  // namespace cmbench::spawn::coro

CMBENCH_IMPL(spawn, coro, cmbench::spawn::coro::run, cmbench::spawn::coro::unsupported)
