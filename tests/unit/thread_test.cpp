// The thread model: the semantics of its primitives (BoundedQueue,
// ThreadGroup, the default stack size) and its implementations of every
// workload but echo at tiny sizes, including how spawn and skynet end when
// the kernel refuses a thread.
// No assertion depends on timing: where a test checks that something has
// NOT happened yet (a push blocked on a full queue or an untaken rendezvous),
// it waits a little first, which can only make a broken queue pass, never a
// correct one fail.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <semaphore>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "harness/cell/errors.hpp"
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/thread/bounded_queue.hpp"
#include "models/thread/condition.hpp"
#include "models/thread/stack.hpp"
#include "models/thread/thread_group.hpp"
#include "workloads/counter/spec.hpp"
#include "workloads/pingpong/spec.hpp"
#include "workloads/prodcons/spec.hpp"
#include "workloads/ring/spec.hpp"
#include "workloads/skynet/spec.hpp"
#include "workloads/sleepers/spec.hpp"
#include "workloads/spawn/spec.hpp"

namespace cmbench::models::thread {
const ModelInfo& info();
}
namespace cmbench::impls {
extern const Impl prodcons_thread;
extern const Impl counter_thread;
extern const Impl pingpong_thread;
extern const Impl spawn_thread;
extern const Impl skynet_thread;
extern const Impl ring_thread;
extern const Impl sleepers_thread;
}  // namespace cmbench::impls

namespace {

using cmbench::models::thread::Condition;
using cmbench::models::thread::BoundedQueue;
using cmbench::models::thread::ThreadGroup;
using namespace std::chrono_literals;

// Long enough for a wrongly unblocked thread to get scheduled and show it.
constexpr auto kSettle = 50ms;

// Waits until `pred` holds; a correct queue makes it hold, a broken one
// hangs and is caught by the test timeout.
template <typename Pred>
void wait_until(Pred pred) {
  while (!pred()) std::this_thread::sleep_for(1ms);
}

// --- BoundedQueue --------------------------------------------------------

TEST(BoundedQueue, FifoWithinCapacity) {
  BoundedQueue<int> q(4);
  for (int round = 0; round < 3; ++round) {  // wraps around the ring
    for (int i = 0; i < 4; ++i) q.push(round * 10 + i);
    for (int i = 0; i < 4; ++i) {
      auto v = q.pop();
      ASSERT_TRUE(v.has_value());
      EXPECT_EQ(*v, round * 10 + i);
    }
  }
}

TEST(BoundedQueue, PushBlocksWhileFull) {
  constexpr int kCapacity = 3;
  BoundedQueue<int> q(kCapacity);
  std::atomic<int> pushed{0};
  std::thread pusher([&] {
    for (int i = 0; i < kCapacity + 2; ++i) {
      q.push(i);
      pushed.fetch_add(1);
    }
  });
  wait_until([&] { return pushed.load() == kCapacity; });
  std::this_thread::sleep_for(kSettle);
  EXPECT_EQ(pushed.load(), kCapacity) << "a push completed with the queue full";
  EXPECT_EQ(q.pop(), 0);
  wait_until([&] { return pushed.load() == kCapacity + 1; });
  std::this_thread::sleep_for(kSettle);
  EXPECT_EQ(pushed.load(), kCapacity + 1);
  for (int i = 1; i < kCapacity + 2; ++i) EXPECT_EQ(q.pop(), i);
  pusher.join();
  EXPECT_EQ(pushed.load(), kCapacity + 2);
}

TEST(BoundedQueue, RendezvousPushCompletesOnlyWhenTaken) {
  BoundedQueue<int> q(0);
  std::atomic<int> pushed{0};
  std::thread pusher([&] {
    q.push(1);
    pushed.fetch_add(1);
    q.push(2);
    pushed.fetch_add(1);
  });
  // Nobody pops yet: the first value sits in the handoff slot, untaken.
  std::this_thread::sleep_for(kSettle);
  EXPECT_EQ(pushed.load(), 0) << "a capacity-0 push completed with no popper";
  EXPECT_EQ(q.pop(), 1);
  wait_until([&] { return pushed.load() == 1; });
  std::this_thread::sleep_for(kSettle);
  EXPECT_EQ(pushed.load(), 1) << "the second push completed before it was taken";
  EXPECT_EQ(q.pop(), 2);
  pusher.join();
  EXPECT_EQ(pushed.load(), 2);
}

TEST(BoundedQueue, RendezvousDeliversInOrder) {
  // One pusher, one popper, many handoffs through the single slot: every
  // value arrives once and in order, and close() after the last push (which
  // returned, so its value was taken) leaves nothing behind.
  BoundedQueue<int> q(0);
  constexpr int kN = 2000;
  std::vector<int> got;
  got.reserve(kN);
  std::thread popper([&] {
    while (auto v = q.pop()) got.push_back(*v);
  });
  for (int i = 0; i < kN; ++i) q.push(i);
  q.close();
  popper.join();
  ASSERT_EQ(got.size(), static_cast<size_t>(kN));
  for (int i = 0; i < kN; ++i) EXPECT_EQ(got[i], i);
}

TEST(BoundedQueue, ClosedAndDrainedPopsNullopt) {
  BoundedQueue<int> q(2);
  q.push(7);
  q.close();
  q.close();  // harmless
  EXPECT_EQ(q.pop(), 7);
  EXPECT_EQ(q.pop(), std::nullopt);
  EXPECT_EQ(q.pop(), std::nullopt);
}

TEST(BoundedQueue, PushAfterCloseThrows) {
  for (size_t capacity : {0u, 1u, 4u}) {
    BoundedQueue<int> q(capacity);
    q.close();
    EXPECT_THROW(q.push(1), std::logic_error) << "capacity " << capacity;
  }
}

TEST(BoundedQueue, CloseWakesEveryBlockedPopper) {
  for (size_t capacity : {0u, 1u, 8u}) {
    BoundedQueue<int> q(capacity);
    constexpr int kPoppers = 4;
    std::atomic<int> nullopts{0};
    std::vector<std::thread> poppers;
    for (int i = 0; i < kPoppers; ++i)
      poppers.emplace_back([&] {
        if (!q.pop().has_value()) nullopts.fetch_add(1);
      });
    std::this_thread::sleep_for(kSettle);  // let them block (not required for correctness)
    q.close();
    for (auto& t : poppers) t.join();
    EXPECT_EQ(nullopts.load(), kPoppers) << "capacity " << capacity;
  }
}

TEST(BoundedQueue, CloseMakesBlockedPushersThrow) {
  BoundedQueue<int> q(1);
  q.push(0);
  std::atomic<int> threw{0};
  std::vector<std::thread> pushers;
  for (int i = 0; i < 3; ++i)
    pushers.emplace_back([&] {
      try {
        q.push(1);
      } catch (const std::logic_error&) {
        threw.fetch_add(1);
      }
    });
  std::this_thread::sleep_for(kSettle);
  q.close();
  for (auto& t : pushers) t.join();
  // Pushers that found the queue full when it closed throw; the value
  // already in it is still delivered.
  EXPECT_EQ(threw.load(), 3);
  EXPECT_EQ(q.pop(), 0);
  EXPECT_EQ(q.pop(), std::nullopt);
}

TEST(BoundedQueue, RendezvousDepositSurvivesClose) {
  BoundedQueue<int> q(0);
  std::atomic<int> outcome{0};  // 1: push returned, 2: push threw
  std::thread pusher([&] {
    try {
      q.push(42);
      outcome = 1;
    } catch (const std::logic_error&) {
      outcome = 2;
    }
  });
  // Almost always the push has deposited its value by now; if close() comes
  // first instead, the push throws, which is also correct.
  std::this_thread::sleep_for(kSettle);
  q.close();
  std::optional<int> v = q.pop();
  pusher.join();
  if (outcome.load() == 1) {
    // Deposited before close(): the value counts as sent, so it is
    // delivered, and the push returned only because this pop took it.
    EXPECT_EQ(v, 42);
  } else {
    EXPECT_EQ(outcome.load(), 2);
    EXPECT_EQ(v, std::nullopt);
  }
  EXPECT_EQ(q.pop(), std::nullopt);
}

// A condition variable the test drives, to check whom the queue notifies:
// wait() sleeps until the test opens the gate once per waiter it wants back
// (so it never returns on its own), and notify_*() only count. Its state is
// shared by every instance, since the queue's are out of the test's reach.
struct ScriptedCv {
  void wait(std::unique_lock<std::mutex>& lock) {
    asleep.fetch_add(1);
    lock.unlock();
    gate.acquire();
    asleep.fetch_sub(1);
    lock.lock();
    returns.fetch_add(1);
  }
  void notify_one() noexcept { notify_ones.fetch_add(1); }
  void notify_all() noexcept { notify_alls.fetch_add(1); }

  static inline std::atomic<int> asleep{0}, returns{0}, notify_ones{0}, notify_alls{0};
  static inline std::counting_semaphore<64> gate{0};
};

// A notify_one() is made for a waiter not yet notified, and only for one:
// pushes made while the notified consumer is still on its way back to the
// mutex make no system call (each one did before: 2.5 times glibc's cost per
// value at 1 producer, 1 consumer, capacity 1024). And a notification that
// another thread's return consumed leaves its waiter to be notified again.
TEST(BoundedQueue, NotifiesEachWaiterOnceUntilItWakes) {
  for (auto* n : {&ScriptedCv::asleep, &ScriptedCv::returns, &ScriptedCv::notify_ones, &ScriptedCv::notify_alls})
    n->store(0);
  BoundedQueue<int, ScriptedCv> q(8);
  std::vector<int> got;
  std::thread consumer([&] {
    for (int i = 0; i < 3; ++i) got.push_back(*q.pop());
  });
  wait_until([] { return ScriptedCv::asleep.load() == 1; });
  q.push(1);
  q.push(2);
  q.push(3);
  EXPECT_EQ(ScriptedCv::notify_ones.load(), 1);  // one waiter, notified once
  ScriptedCv::gate.release();
  consumer.join();
  EXPECT_EQ(got, (std::vector<int>{1, 2, 3}));

  // Two consumers asleep; one value, so one of them is notified. A third
  // consumer takes the value without waiting, and the notified one's return
  // finds nothing: it sleeps again, counted as not notified, so the next
  // value notifies again (2 waiters, 0 notified) rather than relying on it.
  std::vector<std::optional<int>> two(2);
  std::thread a([&] { two[0] = q.pop(); });
  std::thread b([&] { two[1] = q.pop(); });
  wait_until([] { return ScriptedCv::asleep.load() == 2; });
  q.push(10);
  EXPECT_EQ(ScriptedCv::notify_ones.load(), 2);
  EXPECT_EQ(q.pop(), 10);  // the third consumer
  ScriptedCv::gate.release();
  wait_until([] { return ScriptedCv::returns.load() == 2 && ScriptedCv::asleep.load() == 2; });
  q.push(11);
  EXPECT_EQ(ScriptedCv::notify_ones.load(), 3);
  q.push(12);
  EXPECT_EQ(ScriptedCv::notify_ones.load(), 4);  // the second waiter, not yet notified
  q.push(13);
  EXPECT_EQ(ScriptedCv::notify_ones.load(), 4);  // both notified, neither back yet
  ScriptedCv::gate.release(2);
  a.join();
  b.join();
  std::vector<int> values{two[0].value(), two[1].value()};
  std::sort(values.begin(), values.end());
  EXPECT_EQ(values, (std::vector<int>{11, 12}));
  EXPECT_EQ(q.pop(), 13);
  EXPECT_EQ(ScriptedCv::notify_alls.load(), 0);
}

// Many producers and consumers: every value exactly once, nobody stuck (a
// lost wake-up shows as a hang, caught by the test timeout).
class QueueStress : public ::testing::TestWithParam<std::tuple<size_t, int, int>> {};

TEST_P(QueueStress, EveryValueOnce) {
  const auto [capacity, producers, consumers] = GetParam();
  constexpr uint64_t kPerProducer = 5000;
  BoundedQueue<uint64_t> q(capacity);
  std::vector<uint64_t> sums(consumers), counts(consumers);
  std::vector<std::thread> threads;
  for (int c = 0; c < consumers; ++c)
    threads.emplace_back([&, c] {
      uint64_t sum = 0, count = 0;
      while (auto v = q.pop()) {
        sum += *v;
        ++count;
      }
      sums[c] = sum;
      counts[c] = count;
    });
  std::vector<std::thread> pushers;
  for (int p = 0; p < producers; ++p)
    pushers.emplace_back([&, p] {
      for (uint64_t i = 0; i < kPerProducer; ++i) q.push(p * kPerProducer + i);
    });
  for (auto& t : pushers) t.join();
  q.close();
  for (auto& t : threads) t.join();
  const uint64_t n = producers * kPerProducer;
  uint64_t sum = 0, count = 0;
  for (int c = 0; c < consumers; ++c) {
    sum += sums[c];
    count += counts[c];
  }
  EXPECT_EQ(count, n);
  EXPECT_EQ(sum, n * (n - 1) / 2);
}

INSTANTIATE_TEST_SUITE_P(Shapes, QueueStress,
                         ::testing::Combine(::testing::Values(size_t{0}, size_t{1}, size_t{7}),
                                            ::testing::Values(1, 4), ::testing::Values(1, 3)));

// --- Condition (the model's futex condition variable) ----------------------

TEST(Condition, NotifyOneWakesAWaiterWhosePredicateHolds) {
  std::mutex m;
  Condition cv;
  bool ready = false;
  std::thread waiter([&] {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return ready; });
    EXPECT_TRUE(ready);
  });
  std::this_thread::sleep_for(kSettle);  // usually asleep by now; correct either way
  {
    std::lock_guard lock(m);
    ready = true;
  }
  cv.notify_one();
  waiter.join();
}

TEST(Condition, NotifyAllWakesEveryWaiter) {
  std::mutex m;
  Condition cv;
  int generation = 0;
  std::atomic<int> woken{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 8; ++i)
    waiters.emplace_back([&] {
      std::unique_lock lock(m);
      cv.wait(lock, [&] { return generation > 0; });
      woken.fetch_add(1);
    });
  std::this_thread::sleep_for(kSettle);
  {
    std::lock_guard lock(m);
    generation = 1;
  }
  cv.notify_all();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(woken.load(), 8);
}

TEST(Condition, APredicateAlreadyTrueDoesNotSleep) {
  std::mutex m;
  Condition cv;
  std::unique_lock lock(m);
  cv.wait(lock, [] { return true; });  // would hang if it slept: nobody notifies
  EXPECT_TRUE(lock.owns_lock());
}

// Handing one token around N threads with notify_one: every hand-off must
// wake the thread whose turn it is, among N-1 waiters on one condition (the
// shape in which glibc's condition variable loses a signal now and then).
TEST(Condition, ATokenPassedAroundManyWaitersIsNeverLost) {
  constexpr int kThreads = 6, kPasses = 3000;
  std::mutex m;
  Condition cv;
  int turn = 0, passes = 0;
  std::vector<std::thread> threads;
  for (int id = 0; id < kThreads; ++id)
    threads.emplace_back([&, id] {
      std::unique_lock lock(m);
      for (;;) {
        cv.wait(lock, [&] { return turn == id || passes >= kPasses; });
        if (passes >= kPasses) break;
        turn = (turn + 1) % kThreads;
        ++passes;
        lock.unlock();
        cv.notify_all();  // the next holder is one of several waiters
        lock.lock();
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(passes, kPasses);
}

// --- ThreadGroup ---------------------------------------------------------

TEST(ThreadGroup, NothingRunsBeforeStart) {
  std::atomic<int> ran{0};
  ThreadGroup g(4);
  for (int i = 0; i < 4; ++i) g.spawn([&] { ran.fetch_add(1); });
  std::this_thread::sleep_for(kSettle);
  EXPECT_EQ(ran.load(), 0);
  g.start();
  g.join_all();
  EXPECT_EQ(ran.load(), 4);
}

TEST(ThreadGroup, UnstartedGroupReleasesAndJoinsWithoutRunning) {
  std::atomic<int> ran{0};
  {
    ThreadGroup g(3);
    for (int i = 0; i < 3; ++i) g.spawn([&] { ran.fetch_add(1); });
  }
  EXPECT_EQ(ran.load(), 0);
}

// The tests run as root here, where RLIMIT_NPROC does not apply; a small
// RLIMIT_AS makes pthread_create fail to map thread stacks instead, which
// glibc reports as EAGAIN. ASan reserves terabytes of shadow address space,
// so this cannot run under it (nor under ThreadSanitizer).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CMBENCH_NO_RLIMIT_AS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CMBENCH_NO_RLIMIT_AS 1
#endif
#endif

#ifndef CMBENCH_NO_RLIMIT_AS
size_t address_space_bytes() {
  std::ifstream statm("/proc/self/statm");
  size_t pages = 0;
  statm >> pages;
  return pages * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

void limit_address_space_to_current_plus(size_t extra) {
  rlimit lim{};
  lim.rlim_cur = lim.rlim_max = address_space_bytes() + extra;
  if (setrlimit(RLIMIT_AS, &lim) != 0) std::_Exit(2);
}
#endif

TEST(ThreadGroupDeathTest, ThreadCreationFailureIsLimitErrorAfterJoining) {
#ifdef CMBENCH_NO_RLIMIT_AS
  GTEST_SKIP() << "RLIMIT_AS cannot be used under AddressSanitizer";
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        limit_address_space_to_current_plus(64ull << 20);  // room for a few 8 MiB stacks
        try {
          ThreadGroup g(1000);
          for (int i = 0; i < 1000; ++i) g.spawn([] {});
          g.start();
          g.join_all();
          std::_Exit(3);  // every thread was created: the limit did not bite
        } catch (const cmbench::LimitError& e) {
          std::fprintf(stderr, "limit: %s (errno %d)\n", e.what(), e.err());
          std::_Exit(e.err() == EAGAIN ? 0 : 4);
        }
      },
      ::testing::ExitedWithCode(0), "limit: std::thread");
#endif
}

// --- prodcons ------------------------------------------------------------

std::vector<cmbench::ParamDef> defs(const cmbench::WorkloadSpec& spec) {
  auto d = spec.params;
  for (const auto& p : cmbench::models::thread::info().params) d.push_back(p);
  return d;
}

using Shape = std::tuple<int, int>;  // producers, consumers
class Prodcons : public ::testing::TestWithParam<std::tuple<Shape, int, int>> {};

TEST_P(Prodcons, VerifiesAtTinySizes) {
  const auto [shape, capacity, payload] = GetParam();
  const auto [producers, consumers] = shape;
  auto params = cmbench::make_params(defs(cmbench::prodcons::spec()),
                                     {{"producers", std::to_string(producers)},
                                      {"consumers", std::to_string(consumers)},
                                      {"capacity", std::to_string(capacity)},
                                      {"messages", "3001"},
                                      {"payload", std::to_string(payload)}});
  cmbench::Probe probe;
  cmbench::impls::prodcons_thread.run(params, probe);
  EXPECT_TRUE(probe.started());
  EXPECT_TRUE(probe.stopped());
  ASSERT_TRUE(probe.verified());
  EXPECT_TRUE(probe.verdict().ok) << probe.verdict().message;
  EXPECT_EQ(probe.merged_latency().count(), 3001u);
  EXPECT_TRUE(probe.notes().contains("channel"));
}

std::string prodcons_name(const ::testing::TestParamInfo<Prodcons::ParamType>& info) {
  const auto& [shape, capacity, payload] = info.param;
  return "p" + std::to_string(std::get<0>(shape)) + "c" + std::to_string(std::get<1>(shape)) +
         "_cap" + std::to_string(capacity) + "_payload" + std::to_string(payload);
}

INSTANTIATE_TEST_SUITE_P(Matrix, Prodcons,
                         ::testing::Combine(::testing::Values(Shape{1, 1}, Shape{4, 4},
                                                              Shape{3, 2}),
                                            ::testing::Values(0, 1, 7, 1024),
                                            ::testing::Values(0, 64, 1024)),
                         prodcons_name);

TEST(ThreadImpls, NoUnsupportedParameters) {
  EXPECT_EQ(cmbench::impls::prodcons_thread.unsupported, nullptr);
  EXPECT_EQ(cmbench::impls::counter_thread.unsupported, nullptr);
  EXPECT_EQ(cmbench::impls::pingpong_thread.unsupported, nullptr);
  EXPECT_EQ(cmbench::impls::spawn_thread.unsupported, nullptr);
  EXPECT_EQ(cmbench::impls::skynet_thread.unsupported, nullptr);
  EXPECT_EQ(cmbench::impls::ring_thread.unsupported, nullptr);
  EXPECT_EQ(cmbench::impls::sleepers_thread.unsupported, nullptr);
}

TEST(ProdconsDeathTest, ThreadLimitIsLimitError) {
#ifdef CMBENCH_NO_RLIMIT_AS
  GTEST_SKIP() << "RLIMIT_AS cannot be used under AddressSanitizer";
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto params = cmbench::make_params(defs(cmbench::prodcons::spec()),
                                     {{"producers", "500"}, {"consumers", "500"},
                                      {"messages", "1000"}, {"capacity", "0"}});
  EXPECT_EXIT(
      {
        limit_address_space_to_current_plus(64ull << 20);
        try {
          cmbench::Probe probe;
          cmbench::impls::prodcons_thread.run(params, probe);
          std::_Exit(3);
        } catch (const cmbench::LimitError& e) {
          std::fprintf(stderr, "limit: %s\n", e.what());
          std::_Exit(0);
        }
      },
      ::testing::ExitedWithCode(0), "limit: std::thread");
#endif
}

// --- counter -------------------------------------------------------------

class Counter : public ::testing::TestWithParam<std::tuple<int, std::string>> {};

TEST_P(Counter, Verifies) {
  const auto [units, mode] = GetParam();
  auto params = cmbench::make_params(
      defs(cmbench::counter::spec()),
      {{"units", std::to_string(units)}, {"increments", "1000"}, {"mode", mode}});
  cmbench::Probe probe;
  cmbench::impls::counter_thread.run(params, probe);
  EXPECT_TRUE(probe.started());
  EXPECT_TRUE(probe.stopped());
  ASSERT_TRUE(probe.verified());
  EXPECT_TRUE(probe.verdict().ok) << probe.verdict().message;
  EXPECT_TRUE(probe.notes().contains("lock"));
  EXPECT_EQ(probe.notes().contains("owner"), mode == "message");
}

INSTANTIATE_TEST_SUITE_P(Matrix, Counter,
                         ::testing::Combine(::testing::Values(1, 2, 64),
                                            ::testing::Values("lock", "atomic", "message")),
                         [](const auto& info) {
                           return "u" + std::to_string(std::get<0>(info.param)) + "_" +
                                  std::get<1>(info.param);
                         });

// --- the default stack --------------------------------------------------

TEST(Stack, DefaultStackSizeIsReadable) {
  // glibc's default is at least a page and is what every std::thread gets.
  EXPECT_GE(cmbench::models::thread::default_stack_bytes(),
            static_cast<size_t>(sysconf(_SC_PAGESIZE)));
}

// Runs `impl` on `params` and checks the contract every run must keep.
void run_and_verify(const cmbench::Impl& impl, const cmbench::Params& params,
                    cmbench::Probe& probe) {
  impl.run(params, probe);
  EXPECT_TRUE(probe.started());
  EXPECT_TRUE(probe.stopped());
  ASSERT_TRUE(probe.verified());
  EXPECT_TRUE(probe.verdict().ok) << probe.verdict().message;
}

// --- pingpong ------------------------------------------------------------

TEST(Pingpong, Verifies) {
  auto params = cmbench::make_params(defs(cmbench::pingpong::spec()), {{"rounds", "1000"}});
  cmbench::Probe probe;
  run_and_verify(cmbench::impls::pingpong_thread, params, probe);
  EXPECT_EQ(probe.merged_latency().count(), 1000u);  // one sample per round trip
  EXPECT_TRUE(probe.notes().contains("channel"));
}

TEST(Pingpong, OneRound) {
  auto params = cmbench::make_params(defs(cmbench::pingpong::spec()), {{"rounds", "1"}});
  cmbench::Probe probe;
  run_and_verify(cmbench::impls::pingpong_thread, params, probe);
}

// --- spawn ---------------------------------------------------------------

class Spawn : public ::testing::TestWithParam<int> {};

TEST_P(Spawn, Verifies) {
  auto params = cmbench::make_params(defs(cmbench::spawn::spec()),
                                     {{"units", std::to_string(GetParam())}});
  cmbench::Probe probe;
  run_and_verify(cmbench::impls::spawn_thread, params, probe);
  EXPECT_TRUE(probe.metrics().contains("memory_per_unit_bytes"));
  EXPECT_GT(probe.notes().value("stack_bytes", 0), 0);
  EXPECT_FALSE(probe.notes().contains("reached"));
}

INSTANTIATE_TEST_SUITE_P(Units, Spawn, ::testing::Values(1, 10, 500));

TEST(SpawnDeathTest, ThreadLimitIsLimitErrorNamingTheCountReached) {
#ifdef CMBENCH_NO_RLIMIT_AS
  GTEST_SKIP() << "RLIMIT_AS cannot be used under AddressSanitizer";
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto params = cmbench::make_params(defs(cmbench::spawn::spec()), {{"units", "1000"}});
  EXPECT_EXIT(
      {
        limit_address_space_to_current_plus(64ull << 20);  // room for a few 8 MiB stacks
        cmbench::Probe probe;
        try {
          cmbench::impls::spawn_thread.run(params, probe);
          std::_Exit(3);  // every thread was created: the limit did not bite
        } catch (const cmbench::LimitError& e) {
          // The threads made before the failure were released and joined,
          // or the run would not have returned at all.
          const uint64_t reached = probe.notes().value("reached", uint64_t{0});
          std::fprintf(stderr, "limit: %s (errno %d)\n", e.what(), e.err());
          const bool names_reached =
              std::string(e.what()).find(" after " + std::to_string(reached) + " of 1000 units") !=
              std::string::npos;
          std::_Exit(e.err() == EAGAIN && reached > 0 && reached < 1000 && names_reached ? 0 : 4);
        }
      },
      ::testing::ExitedWithCode(0), "limit: std::thread \\(pthread_create\\): .* after [0-9]+ of 1000 units");
#endif
}

// --- skynet --------------------------------------------------------------

class Skynet : public ::testing::TestWithParam<int> {};

TEST_P(Skynet, SumsTheTree) {
  auto params = cmbench::make_params(defs(cmbench::skynet::spec()),
                                     {{"leaves", std::to_string(GetParam())}});
  cmbench::Probe probe;
  run_and_verify(cmbench::impls::skynet_thread, params, probe);
  EXPECT_TRUE(probe.notes().contains("channel"));
}

INSTANTIATE_TEST_SUITE_P(Leaves, Skynet, ::testing::Values(1, 10, 100, 1000));

TEST(SkynetDeathTest, ThreadLimitTearsTheTreeDownAndIsLimitError) {
#ifdef CMBENCH_NO_RLIMIT_AS
  GTEST_SKIP() << "RLIMIT_AS cannot be used under AddressSanitizer";
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto params = cmbench::make_params(defs(cmbench::skynet::spec()), {{"leaves", "1000"}});
  EXPECT_EXIT(
      {
        // Room for a few dozen 8 MiB stacks, far fewer than the 1,111 units:
        // a half-built tree must come down instead of waiting for sums.
        limit_address_space_to_current_plus(256ull << 20);
        cmbench::Probe probe;
        try {
          cmbench::impls::skynet_thread.run(params, probe);
          std::_Exit(3);
        } catch (const cmbench::LimitError& e) {
          std::fprintf(stderr, "limit: %s (errno %d)\n", e.what(), e.err());
          const uint64_t reached = probe.notes().value("reached", uint64_t{0});
          std::_Exit(e.err() == EAGAIN && reached < 1111 ? 0 : 4);
        }
      },
      ::testing::ExitedWithCode(0), "limit: std::thread \\(pthread_create\\) after [0-9]+ of 1111 units");
#endif
}

// --- ring ----------------------------------------------------------------

using RingShape = std::tuple<int, int>;  // units, hops
class Ring : public ::testing::TestWithParam<RingShape> {};

TEST_P(Ring, TokenEndsAtTheRightUnit) {
  const auto [units, hops] = GetParam();
  auto params = cmbench::make_params(defs(cmbench::ring::spec()),
                                     {{"units", std::to_string(units)}, {"hops", std::to_string(hops)}});
  cmbench::Probe probe;
  run_and_verify(cmbench::impls::ring_thread, params, probe);
}

INSTANTIATE_TEST_SUITE_P(Shapes, Ring,
                         ::testing::Values(RingShape{5, 1000}, RingShape{503, 2000},
                                           RingShape{2, 1}, RingShape{5, 5}, RingShape{7, 3}),
                         [](const auto& info) {
                           return "n" + std::to_string(std::get<0>(info.param)) + "_t" +
                                  std::to_string(std::get<1>(info.param));
                         });

// --- sleepers ------------------------------------------------------------

TEST(Sleepers, WakesOnTimeAndNeverEarly) {
  auto params = cmbench::make_params(defs(cmbench::sleepers::spec()),
                                     {{"units", "10"}, {"sleeps", "3"}, {"sleep_ms", "2"}});
  cmbench::Probe probe;
  run_and_verify(cmbench::impls::sleepers_thread, params, probe);
  EXPECT_EQ(probe.merged_latency().count(), 30u);  // one lateness sample per wake
  EXPECT_TRUE(probe.metrics().contains("memory_per_unit_bytes"));
}

TEST(Sleepers, SleepUntilNeverWakesEarly) {
  // The conversion the implementation relies on: a now_ns() value, as a
  // steady_clock time point, is never reached early by sleep_until.
  for (int i = 0; i < 50; ++i) {
    const int64_t due = cmbench::now_ns() + 100'000 + i * 10'000;
    std::this_thread::sleep_until(
        std::chrono::steady_clock::time_point(std::chrono::nanoseconds(due)));
    EXPECT_GE(cmbench::now_ns(), due);
  }
}

}  // namespace
