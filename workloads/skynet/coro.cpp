// skynet in the coro model, in the shape of Go's classic skynet: every unit
// is a coroutine co_spawn'ed on one io_context (one thread; with threads > 1
// that many run it, and the channels are concurrent ones: runtime.hpp); an inner unit
// co_spawns ten children, receives their ten results from its own unbuffered
// boost::asio::experimental::channel (in its frame, as Go's make(chan int) is
// on the goroutine), and sends the sum to its parent's channel. co_spawn
// posts a new coroutine rather than running it at once, so the tree unfolds
// level by level and nearly every unit is alive at once, as with the fiber
// rows' launch::post (1,111,111 coroutine frames for a million leaves).
// A child is not joined explicitly: it ends right after its send completed,
// never touching the channel again, and io_context::run() returning is the
// join of the whole tree.
//
// When a frame cannot be allocated (std::bad_alloc from co_spawn in the
// parent), the parent stops creating children, frees the model's memory
// reserve (runtime.hpp: the units alive still allocate operation states to
// finish), and sets a flag after which no unit creates children; every
// parent collects the results of those it made, the tree finishes, and the
// cell throws LimitError. No coroutine is left parked.
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>

#include "harness/cell/errors.hpp"
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/coro/runtime.hpp"
#include "workloads/skynet/spec.hpp"

namespace cmbench::skynet::coro {

namespace rt = cmbench::coro;

namespace {

constexpr uint64_t kDiv = 10;

struct Tree {
  boost::asio::io_context& io;
  rt::MemoryReserve reserve;
  // Atomic: with threads > 1 units on different threads count and stop
  // together (runtime.hpp).
  std::atomic<uint64_t> created{0};
  std::atomic<bool> out_of_memory{false};
};

// Ch: rt::Channel<uint64_t> on one thread, rt::ConcurrentChannel<uint64_t>
// on several.
template <typename Ch>
rt::Task<> skynet(Tree& tree, Ch& c, uint64_t num, uint64_t size) {
  if (size == 1) {
    co_await c.async_send(rt::error_code{}, num, rt::kAwait);
    co_return;
  }
  Ch rc(tree.io.get_executor(), 0);
  const uint64_t child = size / kDiv;
  uint64_t made = 0;
  try {
    for (; made < kDiv && !tree.out_of_memory.load(std::memory_order_relaxed); ++made) {
      rt::spawn(tree.io, skynet(tree, rc, num + made * child, child));
      tree.created.fetch_add(1, std::memory_order_relaxed);
    }
  } catch (const std::bad_alloc&) {
    if (!tree.out_of_memory.exchange(true)) tree.reserve.release();
  }
  uint64_t sum = 0;
  for (uint64_t i = 0; i < made; ++i) sum += co_await rc.async_receive(rt::kAwait);
  co_await c.async_send(rt::error_code{}, sum, rt::kAwait);
}

template <typename Ch>
rt::Task<> root(Tree& tree, uint64_t leaves, uint64_t& sum) {
  // Go's main: c := make(chan int); go skynet(c, 0, leaves, 10); <-c
  Ch c(tree.io.get_executor(), 0);
  rt::spawn(tree.io, skynet(tree, c, 0, leaves));
  tree.created.fetch_add(1, std::memory_order_relaxed);
  sum = co_await c.async_receive(rt::kAwait);
}

void run(const Params& params, Probe& probe) {
  const uint64_t leaves = params.u("leaves");
  const unsigned threads = rt::threads_of(params);
  boost::asio::io_context io(static_cast<int>(threads));
  Tree tree{io, {}};
  uint64_t sum = 0;

  rt::prepare(probe, threads);
  probe.note("channel",
             std::string(threads == 1 ? "an asio::experimental::channel(ex, 0)"
                                      : "an asio::experimental::concurrent_channel(ex, 0)") +
                 " per inner unit, in its frame; children started with co_spawn (posted)");

  probe.start();
  if (threads == 1)
    rt::spawn(io, root<rt::Channel<uint64_t>>(tree, leaves, sum));
  else
    rt::spawn(io, root<rt::ConcurrentChannel<uint64_t>>(tree, leaves, sum));
  rt::run_threads(io, threads);
  probe.stop();
  probe.note("coroutines_created", tree.created.load());
  if (tree.out_of_memory) {
    probe.note("reached", tree.created.load());
    throw LimitError("operator new(coroutine frame): " + std::string(std::strerror(ENOMEM)) +
                         " after " + std::to_string(tree.created.load()) + " of " +
                         std::to_string(units_of(leaves)) + " units",
                     ENOMEM);
  }
  probe.verify(verify(params, sum));
}

}  // namespace

}  // namespace cmbench::skynet::coro

CMBENCH_IMPL(skynet, coro, cmbench::skynet::coro::run, nullptr)
