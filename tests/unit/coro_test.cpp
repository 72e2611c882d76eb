// The coro model: the Asio channel semantics the workloads rely on (exact
// capacity, rendezvous at 0, what close() does), the coroutine mutex, and
// every workload run in-process at tiny sizes, started, stopped and
// verified. The echo load generator re-executes this binary as `loadgen`,
// hence the main at the end.
#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/coro/runtime.hpp"
#include "tests/unit/catalog_cells.hpp"
#include "workloads/echo/spec.hpp"

namespace cmbench {
namespace {

namespace rt = cmbench::coro;
namespace asio = boost::asio;
using rt::error_code;

// Runs a lambda coroutine with its closure moved into this coroutine's
// frame: a lambda's coroutine refers to its closure, which as a temporary
// would be gone before the coroutine first runs.
template <typename F>
rt::Task<> owned(F f) {
  co_await f();
}

// Lets every other ready handler run `n` times over.
rt::Task<> yield(int n = 5) {
  for (int i = 0; i < n; ++i) co_await asio::post(co_await asio::this_coro::executor, rt::kAwait);
}

// channel(ex, n) holds exactly n values: n try_sends succeed, the next fails;
// an async_send beyond n stays pending until a receive makes room.
TEST(CoroChannel, CapacityIsExact) {
  for (std::size_t b : {1u, 2u, 7u, 1024u}) {
    SCOPED_TRACE(b);
    asio::io_context io(1);
    rt::Channel<int> ch(io.get_executor(), b);
    EXPECT_EQ(ch.capacity(), b);
    for (std::size_t i = 0; i < b; ++i) EXPECT_TRUE(ch.try_send(error_code{}, static_cast<int>(i)));
    EXPECT_FALSE(ch.try_send(error_code{}, -1));
    bool sent = false;
    rt::spawn(io, owned([&]() -> rt::Task<> {
      co_await ch.async_send(error_code{}, 99, rt::kAwait);
      sent = true;
    }));
    io.run_for(std::chrono::milliseconds(20));
    EXPECT_FALSE(sent);  // the (b+1)-th send waits
    io.restart();
    std::vector<int> got;
    rt::spawn(io, owned([&]() -> rt::Task<> {
      for (std::size_t i = 0; i <= b; ++i) got.push_back(co_await ch.async_receive(rt::kAwait));
    }));
    io.run();
    EXPECT_TRUE(sent);
    ASSERT_EQ(got.size(), b + 1);
    for (std::size_t i = 0; i < b; ++i) EXPECT_EQ(got[i], static_cast<int>(i));
    EXPECT_EQ(got[b], 99);  // FIFO: the waiting sender's value comes last
  }
}

// channel(ex, 0) is a rendezvous: try_send fails with no receiver waiting,
// and async_send completes only after a receiver took the value (the
// receiver's own resumption is queued, so it may run after the sender's).
TEST(CoroChannel, ZeroIsARendezvous) {
  asio::io_context io(1);
  rt::Channel<int> ch(io.get_executor(), 0);
  EXPECT_FALSE(ch.try_send(error_code{}, 1));
  bool sent = false, receiving = false, received = false;
  rt::spawn(io, owned([&]() -> rt::Task<> {
    co_await ch.async_send(error_code{}, 7, rt::kAwait);
    EXPECT_TRUE(receiving);
    sent = true;
  }));
  rt::spawn(io, owned([&]() -> rt::Task<> {
    co_await yield();
    EXPECT_FALSE(sent);  // the sender is still parked after many turns
    receiving = true;
    const int v = co_await ch.async_receive(rt::kAwait);
    received = true;
    EXPECT_EQ(v, 7);
  }));
  io.run();
  EXPECT_TRUE(sent);
  EXPECT_TRUE(received);
  // And with the receiver first: the sender completes at once, handing over.
  io.restart();
  int got = 0;
  rt::spawn(io, owned([&]() -> rt::Task<> { got = co_await ch.async_receive(rt::kAwait); }));
  io.poll();
  EXPECT_TRUE(ch.try_send(error_code{}, 8));
  io.run();
  EXPECT_EQ(got, 8);
}

// What the workloads' termination is built on: close() wakes parked
// receivers with channel_closed, and drops values still buffered (unlike
// Go), which is why prodcons and counter end their streams with a value.
TEST(CoroChannel, CloseWakesReceiversAndDropsBufferedValues) {
  asio::io_context io(1);
  rt::Channel<int> empty(io.get_executor(), 0);
  int woken = 0;
  for (int i = 0; i < 3; ++i)
    rt::spawn(io, owned([&]() -> rt::Task<> {
      auto [ec, v] = co_await empty.async_receive(rt::kAwaitTuple);
      EXPECT_EQ(ec, asio::experimental::error::channel_closed);
      ++woken;
    }));
  io.poll();
  EXPECT_EQ(woken, 0);
  empty.close();
  io.run();
  EXPECT_EQ(woken, 3);

  io.restart();
  rt::Channel<int> buffered(io.get_executor(), 4);
  EXPECT_TRUE(buffered.try_send(error_code{}, 1));
  EXPECT_TRUE(buffered.try_send(error_code{}, 2));
  buffered.close();
  bool closed = false;
  rt::spawn(io, owned([&]() -> rt::Task<> {
    auto [ec, v] = co_await buffered.async_receive(rt::kAwaitTuple);
    closed = ec == asio::experimental::error::channel_closed;
  }));
  io.run();
  EXPECT_TRUE(closed);  // the two buffered values are gone
}

// rt::receive: true with the value, false once closed.
TEST(CoroChannel, ReceiveHelper) {
  asio::io_context io(1);
  rt::Channel<int> ch(io.get_executor(), 2);
  ASSERT_TRUE(ch.try_send(error_code{}, 5));
  std::vector<bool> results;
  rt::spawn(io, owned([&]() -> rt::Task<> {
    int v = 0;
    results.push_back(co_await rt::receive(ch, v));
    EXPECT_EQ(v, 5);
    results.push_back(co_await rt::receive(ch, v));
  }));
  io.poll();
  ch.close();
  io.run();
  EXPECT_EQ(results, (std::vector<bool>{true, false}));
}

// The mutex excludes across a suspension inside the critical section, and
// hands the lock over in FIFO order.
TEST(CoroMutex, ExcludesAcrossSuspensionInFifoOrder) {
  asio::io_context io(1);
  rt::Mutex mutex(io.get_executor());
  int inside = 0, max_inside = 0;
  std::vector<int> order;
  for (int i = 0; i < 4; ++i)
    rt::spawn(io, owned([&, i]() -> rt::Task<> {
      co_await mutex.lock();
      order.push_back(i);
      ++inside;
      max_inside = std::max(max_inside, inside);
      co_await yield(3);
      --inside;
      mutex.unlock();
    }));
  io.run();
  EXPECT_EQ(max_inside, 1);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_TRUE(mutex.try_lock());
  EXPECT_FALSE(mutex.try_lock());
  mutex.unlock();
  EXPECT_TRUE(mutex.try_lock());
}

INSTANTIATE_TEST_SUITE_P(CoroWorkloads, CatalogCells,
                         ::testing::ValuesIn(catalog_cells::entries_of("coro")),
                         catalog_cells::test_name);

}  // namespace
}  // namespace cmbench

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "loadgen")
    return cmbench::echo::loadgen_main(argc, argv);
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
