// counter in the coro model: U coroutines on one io_context (one thread) each
// add 1 to a count K times.
//   lock     rt::Mutex (models/coro/runtime.hpp, 3: Asio has no coroutine
//            mutex; a capacity-1 channel holding the lock token is the Asio
//            idiom) around ++count. Nothing between lock and unlock
//            suspends, and nothing in a unit's loop does either (an
//            uncontended lock() completes by try_send without suspending),
//            so on one thread each unit runs its K increments to the end and
//            the mutex is never contended: the cost of an uncontended
//            coroutine lock, like the other single-threaded models'.
//   atomic   std::atomic fetch_add (relaxed: only the total matters), for the
//            same reason uncontended.
//   message  an owner coroutine async_receive()s +1 values from a channel of
//            exactly counter::kMessageCapacity (1024) slots. Asio's close()
//            would drop buffered values (runtime.hpp, 2), so the last unit to
//            finish sends a 0 as end of stream; the owner stops at it, after
//            every +1 (the channel is FIFO).
#include <atomic>
#include <cstdint>
#include <string>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/coro/runtime.hpp"
#include "workloads/counter/spec.hpp"

namespace cmbench::counter::coro {

namespace rt = cmbench::coro;

namespace {

rt::Task<> locked_unit(rt::Mutex& mutex, uint64_t& count, uint64_t increments) {
  for (uint64_t k = 0; k < increments; ++k) {
    co_await mutex.lock();
    ++count;
    mutex.unlock();
  }
}

rt::Task<> atomic_unit(std::atomic<uint64_t>& count, uint64_t increments) {
  for (uint64_t k = 0; k < increments; ++k) count.fetch_add(1, std::memory_order_relaxed);
  co_return;
}

rt::Task<> message_unit(rt::Channel<uint64_t>& channel, uint64_t& units_left,
                        uint64_t increments) {
  for (uint64_t k = 0; k < increments; ++k)
    if (!channel.try_send(rt::error_code{}, uint64_t{1}))  // fast path: runtime.hpp
      co_await channel.async_send(rt::error_code{}, uint64_t{1}, rt::kAwait);
  if (--units_left == 0) co_await channel.async_send(rt::error_code{}, uint64_t{0}, rt::kAwait);
}

rt::Task<> owner(rt::Channel<uint64_t>& channel, uint64_t& count) {
  for (;;) {
    uint64_t v = 0;
    if (!rt::try_receive(channel, v)) v = co_await channel.async_receive(rt::kAwait);
    if (v == 0) co_return;  // end of stream
    count += v;
  }
}

void run(const Params& params, Probe& probe) {
  const uint64_t units = params.u("units");
  const uint64_t increments = params.u("increments");
  const std::string& mode = params.s("mode");
  boost::asio::io_context io(1);
  rt::prepare(probe);

  uint64_t final_count = 0;
  if (mode == "lock") {
    rt::Mutex mutex(io.get_executor());
    uint64_t count = 0;
    probe.note("lock",
               "a capacity-1 asio::experimental::channel as the lock token (Asio has no "
               "coroutine mutex); uncontended: lock() = try_send, unlock() = try_receive");
    probe.start();
    for (uint64_t u = 0; u < units; ++u) rt::spawn(io, locked_unit(mutex, count, increments));
    io.run();
    probe.stop();
    final_count = count;
  } else if (mode == "atomic") {
    std::atomic<uint64_t> count{0};
    probe.note("lock", "none: std::atomic fetch_add (relaxed); one thread, so never contended");
    probe.start();
    for (uint64_t u = 0; u < units; ++u) rt::spawn(io, atomic_unit(count, increments));
    io.run();
    probe.stop();
    final_count = count.load();
  } else {
    rt::Channel<uint64_t> channel(io.get_executor(), kMessageCapacity);
    uint64_t count = 0, units_left = units;
    probe.note("channel", "boost::asio::experimental::channel(ex, " +
                              std::to_string(kMessageCapacity) + "): exactly that capacity");
    probe.note("termination",
               "the last unit to finish sends 0 as end of stream (Asio's close() would drop "
               "buffered values)");
    probe.start();
    rt::spawn(io, owner(channel, count));
    for (uint64_t u = 0; u < units; ++u)
      rt::spawn(io, message_unit(channel, units_left, increments));
    io.run();
    probe.stop();
    final_count = count;
  }
  probe.verify(verify(params, final_count));
}

// Coroutines of this workload share the counter, its lock (a channel) or its message channel unguarded: one thread only
// (models/coro/runtime.hpp, Threads).
std::optional<std::string> unsupported(const Params& params) {
  return rt::one_thread_only(params, "the counter, its lock (a channel) or its message channel");
}

}  // namespace

}  // namespace cmbench::counter::coro

CMBENCH_IMPL(counter, coro, cmbench::counter::coro::run, cmbench::counter::coro::unsupported)
