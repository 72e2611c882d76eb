// cmbench::fiber::offload (models/fiber/offload.hpp): a blocking call made on
// a pool thread while the calling fiber is parked and the scheduler keeps
// running the others. Every test runs on one thread (FiberOffload) and on two
// (FiberMNOffload). No timing assertions: where a test needs a call to block
// "for a while", the while is bounded by a poll() timeout whose expiry the
// test reports as a failure, not by a measured duration.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "harness/cell/probe.hpp"
#include "models/fiber/channel.hpp"
#include "models/fiber/offload.hpp"
#include "models/fiber/scheduler.hpp"

namespace {

using cmbench::fiber::Channel;
using cmbench::fiber::FiberDeadlock;
using cmbench::fiber::Scheduler;
using cmbench::fiber::offload;
namespace this_fiber = cmbench::fiber::this_fiber;

constexpr std::size_t kTestStack = 64 * 1024;

// A pipe whose read end blocks (the point of offloading a read on it).
struct BlockingPipe {
  int fds[2] = {-1, -1};
  BlockingPipe() {
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
  }
  ~BlockingPipe() {
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
  }
  // Blocks until a byte arrives or `timeout_ms` passes; returns the byte,
  // or 0 on timeout (then nobody wrote: the scheduler was blocked too).
  char read_within(int timeout_ms) const {
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return 0;
    char c = 0;
    return ::read(fds[0], &c, 1) == 1 ? c : 0;
  }
  void write(char c) const {
    if (::write(fds[1], &c, 1) != 1) throw std::runtime_error("write(pipe)");
  }
};

void results_and_exceptions_come_back(unsigned threads) {
  Scheduler s(kTestStack, threads);
  int value = 0;
  std::string text;
  bool caught = false, void_ran = false;
  s.spawn([&] {
    value = offload([] { return 6 * 7; });
    text = offload([] { return std::string(100, 'x'); });  // a result that owns memory
    offload([&] { void_ran = true; });
    try {
      offload([]() -> int { throw std::invalid_argument("from the pool"); });
    } catch (const std::invalid_argument& e) {
      caught = std::string(e.what()) == "from the pool";
    }
  });
  s.run();
  EXPECT_EQ(value, 42);
  EXPECT_EQ(text, std::string(100, 'x'));
  EXPECT_TRUE(void_ran);
  EXPECT_TRUE(caught);
  EXPECT_EQ(s.live(), 0u);
}

TEST(FiberOffload, ResultsAndExceptionsComeBack) { results_and_exceptions_come_back(1); }
TEST(FiberMNOffload, ResultsAndExceptionsComeBack) { results_and_exceptions_come_back(2); }

TEST(FiberOffload, TheCallRunsOnAnotherThread) {
  Scheduler s(kTestStack);
  std::thread::id fiber_thread, call_thread;
  s.spawn([&] {
    fiber_thread = std::this_thread::get_id();
    call_thread = offload([] { return std::this_thread::get_id(); });
  });
  s.run();
  EXPECT_NE(fiber_thread, call_thread);
  EXPECT_GE(cmbench::fiber::offload_threads_started(), 1u);
  EXPECT_LE(cmbench::fiber::offload_threads_started(), cmbench::fiber::offload_threads());
}

// Started ahead (as the blocking workload does before its timed region):
// up to the pool's maximum, never beyond it, never fewer than run already;
// a call afterwards starts no thread.
TEST(FiberOffload, StartingThePoolAheadStartsItsThreadsUpToItsMaximum) {
  const std::size_t max = cmbench::fiber::offload_threads();
  ASSERT_GE(max, 2u);
  const std::size_t want = std::max<std::size_t>(2, cmbench::fiber::offload_threads_started());
  EXPECT_EQ(cmbench::fiber::start_offload_threads(want), want);
  EXPECT_EQ(cmbench::fiber::offload_threads_started(), want);
  EXPECT_EQ(cmbench::fiber::start_offload_threads(max + 10), max);
  EXPECT_EQ(cmbench::fiber::start_offload_threads(1), max);
  Scheduler s(kTestStack);
  int value = 0;
  s.spawn([&] { value = offload([] { return 5; }); });
  s.run();
  EXPECT_EQ(value, 5);
  EXPECT_EQ(cmbench::fiber::offload_threads_started(), max);
}

TEST(FiberOffload, OutsideAFiberTheCallIsMadeInPlace) {
  EXPECT_EQ(offload([] { return std::this_thread::get_id(); }), std::this_thread::get_id());
  EXPECT_THROW(offload([]() -> int { throw std::out_of_range("x"); }), std::out_of_range);
}

// The call blocks on a pipe that only another fiber of the same scheduler
// writes: it returns only if the scheduler kept running fibers meanwhile.
// (Had it blocked the scheduler's thread, the poll() times out and the
// byte is 0.)
void other_fibers_run_while_the_call_blocks(unsigned threads) {
  Scheduler s(kTestStack, threads);
  BlockingPipe pipe;
  char got = 0;
  std::atomic<int> bystander_rounds{0};
  std::atomic<bool> call_done{false};
  s.spawn([&] {
    got = offload([&] { return pipe.read_within(20'000); });
    call_done = true;
  });
  s.spawn([&] {
    // Give the call time to start blocking, without sleeping the thread.
    for (int i = 0; i < 100; ++i) {
      ++bystander_rounds;
      this_fiber::sleep_until(cmbench::now_ns() + 50'000);
    }
    EXPECT_FALSE(call_done.load()) << "the call returned before anyone wrote";
    pipe.write('x');
  });
  s.run();
  EXPECT_EQ(got, 'x');
  EXPECT_EQ(bystander_rounds.load(), 100);
}

TEST(FiberOffload, OtherFibersRunWhileTheCallBlocks) { other_fibers_run_while_the_call_blocks(1); }
TEST(FiberMNOffload, OtherFibersRunWhileTheCallBlocks) {
  other_fibers_run_while_the_call_blocks(2);
}

// More calls at once than the pool has threads, and a ping-pong pair that
// keeps switching meanwhile: every result comes back to its own fiber.
void many_concurrent_offloads(unsigned threads) {
  constexpr int kCallers = 200;
  Scheduler s(kTestStack, threads);
  std::vector<int64_t> results(kCallers, -1);
  std::atomic<int> finished{0};
  Channel<int> ping(0), pong(0);
  uint64_t rounds = 0;
  for (int i = 0; i < kCallers; ++i)
    s.spawn([&, i] {
      results[static_cast<std::size_t>(i)] = offload([i] {
        std::this_thread::sleep_for(std::chrono::microseconds(100 + i % 7 * 50));
        return int64_t{i} * 3;
      });
      ++finished;
    });
  s.spawn([&] {
    while (finished.load() < kCallers) {
      ping.send(1);
      pong.recv();
      ++rounds;
    }
    ping.close();
  });
  s.spawn([&] {
    while (ping.recv()) pong.send(2);
  });
  s.run();
  for (int i = 0; i < kCallers; ++i) EXPECT_EQ(results[static_cast<std::size_t>(i)], int64_t{i} * 3);
  EXPECT_GT(rounds, 0u);
  EXPECT_LE(cmbench::fiber::offload_threads_started(), cmbench::fiber::offload_threads());
  EXPECT_EQ(s.live(), 0u);
}

TEST(FiberOffload, ManyConcurrentOffloads) { many_concurrent_offloads(1); }
TEST(FiberMNOffload, ManyConcurrentOffloads) { many_concurrent_offloads(2); }

// The only other fiber waits for the offloading one: while the call runs
// nothing is runnable, and that is no deadlock.
void a_pending_offload_is_not_a_deadlock(unsigned threads) {
  Scheduler s(kTestStack, threads);
  Channel<int> ch(0);
  int got = 0;
  s.spawn([&] { got = *ch.recv(); });
  s.spawn([&] {
    ch.send(offload([] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      return 5;
    }));
  });
  EXPECT_NO_THROW(s.run());
  EXPECT_EQ(got, 5);
}

TEST(FiberOffload, APendingOffloadIsNotADeadlock) { a_pending_offload_is_not_a_deadlock(1); }
TEST(FiberMNOffload, APendingOffloadIsNotADeadlock) { a_pending_offload_is_not_a_deadlock(2); }

// A fiber fails while another's call is still blocked: the runtime waits for
// the call to return before it unwinds its fiber (the call uses that fiber's
// stack), then rethrows the failure. A thread outside the scheduler unblocks
// the call a little later.
void shutdown_waits_for_an_offload_in_flight(unsigned threads) {
  Scheduler s(kTestStack, threads);
  BlockingPipe pipe;
  std::atomic<bool> call_returned{false}, unwound{false};
  std::atomic<bool> call_started{false};
  char got = 0;  // written by the call, on the fiber's stack's behalf
  s.spawn([&] {
    struct OnUnwind {
      std::atomic<bool>& flag;
      ~OnUnwind() { flag = true; }
    } guard{unwound};
    char local = 0;  // the call writes into this fiber's own frame
    offload([&] {
      call_started = true;
      local = pipe.read_within(20'000);
      call_returned = true;
    });
    got = local;
    ADD_FAILURE() << "the offloading fiber carried on after the runtime failed";
  });
  s.spawn([&] {
    while (!call_started) this_fiber::sleep_until(cmbench::now_ns() + 100'000);
    throw std::runtime_error("boom");
  });
  std::thread writer([&] {
    while (!call_started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    pipe.write('y');
  });
  try {
    s.run();
    ADD_FAILURE() << "run() returned normally";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "boom");
  }
  writer.join();
  EXPECT_TRUE(call_returned.load());
  EXPECT_TRUE(unwound.load());
  EXPECT_EQ(got, 0);
  EXPECT_EQ(s.live(), 0u);
  // And the scheduler runs (and offloads) again afterwards.
  int again = 0;
  s.spawn([&] { again = offload([] { return 9; }); });
  s.run();
  EXPECT_EQ(again, 9);
}

TEST(FiberOffload, ShutdownWaitsForAnOffloadInFlight) { shutdown_waits_for_an_offload_in_flight(1); }
TEST(FiberMNOffload, ShutdownWaitsForAnOffloadInFlight) {
  shutdown_waits_for_an_offload_in_flight(2);
}

// Fibers parked on a channel nobody will send on are still a deadlock once
// the offloads have returned.
void a_deadlock_after_the_offloads_is_still_one(unsigned threads) {
  Scheduler s(kTestStack, threads);
  Channel<int> never(0);
  s.spawn([&] {
    offload([] { std::this_thread::sleep_for(std::chrono::milliseconds(2)); });
    never.recv();
  });
  EXPECT_THROW(s.run(), FiberDeadlock);
  EXPECT_EQ(s.live(), 0u);
}

TEST(FiberOffload, ADeadlockAfterTheOffloadsIsStillOne) {
  a_deadlock_after_the_offloads_is_still_one(1);
}
TEST(FiberMNOffload, ADeadlockAfterTheOffloadsIsStillOne) {
  a_deadlock_after_the_offloads_is_still_one(2);
}

}  // namespace
