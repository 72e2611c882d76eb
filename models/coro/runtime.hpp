#pragma once
// The coro model's shared pieces: stackless C++20 coroutines
// (boost::asio::awaitable) on ONE boost::asio::io_context run by one thread,
// talking over boost::asio::experimental::channel. Everything here is Asio's
// own; this header names the types once and answers the three questions the
// suite asks of Asio's channel (checked in Boost 1.81's
// boost/asio/experimental/detail/impl/channel_service.hpp, and unit-tested in
// tests/unit/coro_test.cpp):
//
// 1. Capacity. channel(ex, n) buffers exactly n values: start_send_op pushes
//    into the buffer while its state is `buffer` and switches to `block` when
//    buffer_size() == max_buffer_size_, so the (n+1)-th send waits. n = 0
//    starts in `block`: a send waits in the channel's queue until a receiver
//    takes the value (or, if a receiver is already waiting, hands it over and
//    both complete) -- a rendezvous, Go's unbuffered channel. So the suite's
//    capacity B is channel(ex, B), with no wrapper.
//
// 2. Close. close() completes only the *receivers* waiting on an empty
//    channel (with experimental::error::channel_closed) and then marks both
//    ends closed: a receive that finds buffered values after close() fails
//    with channel_closed too -- buffered values are lost -- and senders
//    parked on a full or unbuffered channel are left pending. Go's close()
//    lets receivers drain the buffer, Asio's does not, so a workload that must
//    deliver everything ends a stream with an end-of-stream value sent
//    through the channel instead (prodcons: one per consumer, after every
//    producer finished; counter: one 0 after the last unit), and uses close()
//    only where the channel is empty and its receivers are parked (spawn's
//    release, ring's inboxes, pingpong's ping).
//
// 3. Mutex. Asio has no coroutine mutex. Mutex below is the usual Asio idiom
//    for one: a channel<void(error_code)> of capacity 1 whose single buffered
//    value is the lock token. lock() = send (completes at once when the buffer
//    is empty, else parks in the channel's FIFO of senders); unlock() =
//    try_receive, which takes the token and, if a sender is parked, moves its
//    token into the buffer and completes it -- a FIFO hand-off. lock() tries
//    try_send() first so an uncontended lock does not suspend the coroutine,
//    as any coroutine mutex's fast path does (cf. boost::fibers::mutex, which
//    does not park when free).
//
// Completion tokens and executor: operations are awaited with asio::deferred,
// which Asio 1.81's awaitable accepts directly (co_await of a deferred
// operation, awaitable_frame::await_transform) and which skips use_awaitable's
// extra handler state; coroutines and channels use the io_context's concrete
// executor type (awaitable<T, io_context::executor_type>, Asio's documented
// Executor parameter) rather than the type-erased default any_io_executor.
// Measured on pingpong, prodcons 1x1 B=1024 and skynet 10^6 (interleaved runs,
// noisy 2-core machine): use_awaitable was ~30% slower per pingpong round than
// deferred, and any_io_executor ~10-40% slower than the concrete executor
// (skynet most). Receives that may see a close use as_tuple(deferred), so the
// end of a stream is an error code, not an exception.
//
// Fast paths: Asio never runs a completion handler inside the initiating
// call, so every co_await of an operation -- even one that completes at once,
// a send into a buffer with room -- suspends the coroutine and resumes it
// through the io_context's queue: a yield per message. The hot loops
// therefore try the channel's own non-waiting calls first (try_send,
// try_receive, documented members of experimental::channel) and co_await
// only when those would have to wait, as Go's and the fiber models' channels
// do not park a sender that finds room. Measured: see the report.
//
// Threads (the model's `threads` parameter): with 1, the default, one thread
// runs the io_context and nothing is shared across threads, so the channels
// are experimental::channel, which has no lock. With N > 1 the io_context is
// run by N threads (Asio's thread-pool shape: io_context::run() called from
// every one), a completion handler may resume a coroutine on any of them,
// and two coroutines of a workload may run at once. experimental::channel is
// not safe for that (its state is unguarded; Asio's answer for one channel
// used from several threads is experimental::concurrent_channel, the same
// interface with a mutex), and neither is any other state the coroutines
// share. A strand per channel would be the other correct choice, but a
// channel whose users all run on one strand runs them one at a time, so it
// would measure one thread with extra hops. So a workload honours threads >
// 1 only where it has been written for it — its channels concurrent, its
// shared counters atomic: prodcons and skynet, the core-scaling preset's
// workloads — and every other refuses it (one_thread_only) rather than run
// unsynchronised.
//
// Memory: a coroutine's frame is heap-allocated by operator new of the
// promise (awaitable_frame), which goes through Asio's thread-local recycling
// allocator (thread_info_base::awaitable_frame_tag): it caches
// BOOST_ASIO_RECYCLING_ALLOCATOR_CACHE_SIZE (2) freed frames per thread for
// reuse, so a burst of N live frames is N mallocs. A parked unit costs its
// frame, co_spawn's entry-point frame and awaitable_thread, and the pending
// operation's state (the channel's receive op, or the timer's wait op).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/experimental/channel_error.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>

#include <cstddef>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <thread>
#include <vector>
#include <type_traits>
#include <utility>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"

namespace cmbench::coro {

namespace asio = boost::asio;
using boost::system::error_code;

// The executor every coroutine and channel uses: the io_context's own (see
// the header comment; any_io_executor, the default, costs a type-erased call
// per completion).
using Executor = asio::io_context::executor_type;

template <typename T = void>
using Task = asio::awaitable<T, Executor>;

// A channel carrying one T per message (Asio's documented signature shape).
template <typename T>
using Channel = asio::experimental::channel<Executor, void(error_code, T)>;

// The same for coroutines on several threads (threads > 1): Asio's channel
// with a mutex (the header comment).
template <typename T>
using ConcurrentChannel = asio::experimental::concurrent_channel<Executor, void(error_code, T)>;

// The completion tokens (see the header comment).
inline constexpr auto kAwait = asio::deferred;
inline constexpr auto kAwaitTuple = asio::as_tuple(asio::deferred);

// An io_context for one thread: concurrency_hint 1 tells Asio no other
// thread runs it, so its scheduler takes no locks.
inline asio::io_context make_context() { return asio::io_context(1); }

// co_spawn's completion handler: rethrows what a coroutine threw, so that it
// leaves io_context::run() (the cell then fails with it) instead of being
// dropped silently as `detached` would.
struct Rethrow {
  void operator()(std::exception_ptr e) const {
    if (e) std::rethrow_exception(e);
  }
};

template <typename Awaitable>
void spawn(asio::io_context& io, Awaitable&& task) {
  asio::co_spawn(io.get_executor(), std::forward<Awaitable>(task), Rethrow{});
}

// Receives one value; false when the channel was closed (or cancelled).
template <typename T>
Task<bool> receive(Channel<T>& ch, T& out) {
  auto [ec, v] = co_await ch.async_receive(kAwaitTuple);
  if (ec) co_return false;
  out = std::move(v);
  co_return true;
}

// Takes a value without waiting, if one is buffered or a sender is parked;
// false otherwise (and when the channel is closed). Either channel type.
template <typename Ch, typename T>
bool try_receive(Ch& ch, T& out) {
  return ch.try_receive([&out](error_code, T v) { out = std::move(v); });
}

// The model's `threads` parameter (0: one per core); 1 when the cell has no
// such parameter (a test that did not add the model's parameters).
inline unsigned threads_of(const Params& params) {
  if (!params.has("threads")) return 1;
  const auto n = static_cast<unsigned>(params.u("threads"));
  if (n != 0) return n;
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : cores;
}

// Runs io.run() on `threads` threads: this one and threads - 1 it starts and
// joins. An exception leaving run() on a started thread (a coroutine's,
// through Rethrow) stops the io_context, so the others return too, and is
// rethrown here after the join.
inline void run_threads(asio::io_context& io, unsigned threads) {
  if (threads <= 1) {
    io.run();
    return;
  }
  std::vector<std::exception_ptr> errors(threads);
  auto runner = [&io, &errors](unsigned i) {
    try {
      io.run();
    } catch (...) {
      errors[i] = std::current_exception();
      io.stop();
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back(runner, i);
  runner(0);
  for (std::thread& t : pool) t.join();
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
}

// The unsupported() of a workload written for one thread only.
inline std::optional<std::string> one_thread_only(const Params& params, const char* shares) {
  if (threads_of(params) == 1) return std::nullopt;
  return std::string("parameter 'threads': the coro model runs this workload on one thread only: its "
                     "coroutines share ") +
         shares +
         ", unguarded (experimental::channel is not safe across threads; see models/coro/runtime.hpp); "
         "accepted: threads=1 (prodcons and skynet take more)";
}

// A coroutine mutex: a channel of capacity 1 whose buffered value is the lock
// token (header comment, 3). Not recursive; unlock() by the holder only.
class Mutex {
 public:
  explicit Mutex(const Executor& ex) : token_(ex, 1) {}

  Task<void> lock() {
    if (token_.try_send(error_code{})) co_return;
    co_await token_.async_send(error_code{}, kAwait);
  }
  // For the tests: takes the lock if free, without suspending.
  bool try_lock() { return token_.try_send(error_code{}); }
  void unlock() { token_.try_receive([](error_code) {}); }

 private:
  asio::experimental::channel<Executor, void(error_code)> token_;
};

// Runs fn() on `pool` (an asio::thread_pool) and completes with its result
// on the awaiting coroutine's own executor: `co_await offload(pool, fn)`
// parks only the calling coroutine while a pool thread makes a call that
// would block the io_context's thread. This is asio::post to a thread pool,
// with the result posted back: asio::post(pool, token) alone would not do,
// because post() invokes a handler through the handler's own associated
// executor (the coroutine's io_context), so the coroutine would never run on
// the pool. The initiation keeps the io_context's work count up (an
// outstanding_work.tracked executor) until the result is delivered, so
// io_context::run() cannot return meanwhile. fn must not throw: Asio 1.81's
// awaitable cannot resume from a void(exception_ptr, T) completion (its
// handler dereferences the result tuple), so there is no channel for one.
template <typename F>
auto offload(asio::thread_pool& pool, F fn) {
  using R = std::invoke_result_t<F&>;
  static_assert(std::is_nothrow_invocable_v<F&>, "offload: fn must be noexcept (see above)");
  return asio::async_initiate<decltype(kAwait), void(R)>(
      [&pool](auto handler, F fn) {
        auto home = asio::prefer(asio::get_associated_executor(handler),
                                 asio::execution::outstanding_work.tracked);
        asio::post(pool, [handler = std::move(handler), fn = std::move(fn), home = std::move(home)]() mutable {
          R result = fn();
          asio::post(home, [handler = std::move(handler), result = std::move(result)]() mutable {
            std::move(handler)(std::move(result));
          });
        });
      },
      kAwait, std::move(fn));
}

// `co_await yield(ex)` lets the other ready coroutines run: the calling
// coroutine (running on `ex`) is resumed from the back of the executor's
// queue, asio::post of its continuation.
inline auto yield(const Executor& ex) { return asio::post(ex, kAwait); }

// Headroom for running out of memory (under --memory-limit): an untouched
// malloc'd block (address space only, nothing resident) that a workload frees
// when creating a unit first fails with std::bad_alloc. The units already
// made still need a little memory to finish -- each co_await allocates its
// operation's state inside Asio (awaitable_async_op's initiation), where a
// bad_alloc ends the process -- and this gives it back, so they can be
// released and run to their end and the cell ends as a `limit`.
class MemoryReserve {
 public:
  static constexpr std::size_t kBytes = std::size_t{64} << 20;
  MemoryReserve() : block_(std::malloc(kBytes)) {}
  MemoryReserve(const MemoryReserve&) = delete;
  MemoryReserve& operator=(const MemoryReserve&) = delete;
  ~MemoryReserve() { std::free(block_); }
  void release() {
    std::free(block_);
    block_ = nullptr;
  }

 private:
  void* block_;
};

// The notes every implementation shares.
inline void prepare(Probe& probe, unsigned threads = 1) {
  probe.note("scheduler",
             threads == 1
                 ? std::string("one boost::asio::io_context(1) run by one thread; coroutines are started "
                               "with co_spawn (posted, not run at once) and resumed by completion handlers")
                 : "one boost::asio::io_context(" + std::to_string(threads) + ") whose run() is called by " +
                       std::to_string(threads) +
                       " threads; coroutines are started with co_spawn and resumed by completion handlers "
                       "on any of them; channels are experimental::concurrent_channel");
  probe.note("threads", threads);
  probe.note("frames",
             "heap-allocated coroutine frames (Asio's thread-local recycling allocator caches "
             "two freed frames per thread)");
}

}  // namespace cmbench::coro
