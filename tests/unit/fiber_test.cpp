// The fiber model: the semantics of cmbench's own runtime (scheduler, mutex,
// channel, stack pool) and its workload implementations at tiny sizes. No
// timing assertions.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <csignal>
#include <cstring>
#include <thread>
#include <map>
#include <mutex>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/fiber/channel.hpp"
#include "models/fiber/mutex.hpp"
#include "models/fiber/net.hpp"
#include "models/fiber/run_queue.hpp"
#include "models/fiber/scheduler.hpp"
#include "workloads/counter/spec.hpp"
#include "workloads/echo/spec.hpp"
#include "workloads/pingpong/spec.hpp"
#include "workloads/prodcons/spec.hpp"
#include "workloads/ring/spec.hpp"
#include "workloads/skynet/spec.hpp"
#include "workloads/sleepers/spec.hpp"
#include "workloads/spawn/spec.hpp"

namespace cmbench::models::fiber {
const ModelInfo& info();
}
namespace cmbench::impls {
extern const Impl prodcons_fiber;
extern const Impl counter_fiber;
extern const Impl pingpong_fiber;
extern const Impl spawn_fiber;
extern const Impl skynet_fiber;
extern const Impl ring_fiber;
extern const Impl echo_fiber;
extern const Impl sleepers_fiber;
}  // namespace cmbench::impls

namespace {

using cmbench::fiber::Channel;
using cmbench::fiber::ControlBlock;
using cmbench::fiber::ChannelClosed;
using cmbench::fiber::FiberDeadlock;
using cmbench::fiber::JoinHandle;
using cmbench::fiber::Mutex;
using cmbench::fiber::Scheduler;
namespace this_fiber = cmbench::fiber::this_fiber;

// Roomier than the default so that gtest's failure messages (built on the
// fiber's stack) fit even under AddressSanitizer.
constexpr std::size_t kTestStack = 64 * 1024;

TEST(FiberScheduler, SpawnAndYieldRunFibersInFifoOrder) {
  Scheduler s(kTestStack);
  std::vector<int> log;
  for (int id = 0; id < 3; ++id) {
    s.spawn([&log, id] {
      for (int round = 0; round < 3; ++round) {
        log.push_back(id);
        this_fiber::yield();
      }
    });
  }
  s.run();
  EXPECT_EQ(log, (std::vector<int>{0, 1, 2, 0, 1, 2, 0, 1, 2}));
  EXPECT_EQ(s.live(), 0u);
}

// Go's order (models/fiber/run_queue.hpp): a fiber spawned by a fiber runs
// next, ahead of the fibers already queued; a fiber that yields goes behind
// them all.
TEST(FiberScheduler, SpawnFromAFiberRunsTheChildNext) {
  Scheduler s(kTestStack);
  std::vector<std::string> log;
  s.spawn([&] {
    log.push_back("a");
    s.spawn([&] { log.push_back("child"); });
    this_fiber::yield();
    log.push_back("a2");
  });
  s.spawn([&] { log.push_back("b"); });
  s.run();
  EXPECT_EQ(log, (std::vector<std::string>{"a", "child", "b", "a2"}));
}

// --- RunQueue: Go's order on one thread ---------------------------------------
struct QNode {
  int id;
  QNode* next = nullptr;
};
using Queue = cmbench::fiber::RunQueue<QNode>;

std::vector<int> drain(Queue& q) {
  std::vector<int> ids;
  while (QNode* n = q.pop()) ids.push_back(n->id);
  return ids;
}

TEST(RunQueue, NextDisplacesToTheLocalTailAndYieldsGoGlobal) {
  std::vector<QNode> n(6);
  for (int i = 0; i < 6; ++i) n[i].id = i;
  Queue q;
  q.reserve(n.size());
  q.push(&n[0]);         // a reactor wake: local tail
  q.push_global(&n[1]);  // a yield: global tail
  q.push_next(&n[2]);
  q.push_next(&n[3]);    // displaces 2 to the local tail
  EXPECT_EQ(q.size(), 4u);
  EXPECT_EQ(drain(q), (std::vector<int>{3, 0, 2, 1}));
  EXPECT_TRUE(q.empty());
}

TEST(RunQueue, AFullLocalQueueSpillsItsOlderHalfToTheGlobalQueue) {
  std::vector<QNode> n(Queue::kLocal + 1);
  for (size_t i = 0; i < n.size(); ++i) n[i].id = static_cast<int>(i);
  Queue q;
  q.reserve(n.size());
  for (auto& node : n) q.push(&node);
  // 0..127 moved to the global queue; the local queue keeps 128..256 and is
  // served first, except that every 61st pick serves the global queue.
  std::vector<int> got = drain(q);
  ASSERT_EQ(got.size(), n.size());
  EXPECT_EQ(got[0], 128);
  EXPECT_EQ(got[59], 187);
  EXPECT_EQ(got[60], 0) << "the 61st pick serves the global queue";
  EXPECT_EQ(got[61], 188);
  std::vector<int> sorted = got;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) EXPECT_EQ(sorted[i], static_cast<int>(i));
}

TEST(RunQueue, AnEmptyLocalQueueTakesABatchFromTheGlobalQueue) {
  std::vector<QNode> n(300);
  for (size_t i = 0; i < n.size(); ++i) n[i].id = static_cast<int>(i);
  Queue q;
  q.reserve(n.size() + 1);
  for (auto& node : n) q.push_global(&node);
  QNode* first = q.pop();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->id, 0);
  // 1..127 moved to the local queue: a fiber queued at the local tail now
  // waits behind them, where it would have run before the global queue.
  QNode late{1000};
  q.push(&late);
  std::vector<int> got;
  for (int i = 0; i < 40; ++i) got.push_back(q.pop()->id);
  std::vector<int> want;
  for (int i = 1; i <= 40; ++i) want.push_back(i);
  EXPECT_EQ(got, want);
  got = drain(q);
  const auto at = std::find(got.begin(), got.end(), 1000) - got.begin();
  EXPECT_EQ(got[at - 1], 127) << "right behind the batch";
  EXPECT_EQ(got.size(), 260u);
}

TEST(RunQueue, AChainOfNextPicksIsBoundedSoTheQueueIsNotStarved) {
  QNode a{1}, b{2}, waiting{3};
  Queue q;
  q.reserve(3);
  q.push(&waiting);
  q.push_next(&a);
  // Two fibers handing a value to each other: each pick makes the other next.
  int picks = 0;
  QNode* n = nullptr;
  while ((n = q.pop()) != &waiting) {
    ASSERT_LT(++picks, 1000);
    q.push_next(n == &a ? &b : &a);
  }
  EXPECT_EQ(picks, static_cast<int>(Queue::kNextStreak));
}

TEST(FiberScheduler, APingPongPairDoesNotStarveAQueuedFiber) {
  Scheduler s(kTestStack);
  Channel<int> ping(0), pong(0);
  int rounds_before_other = -1, rounds = 0;
  s.spawn([&] {
    for (int i = 0; i < 1000; ++i) {
      ping.send(i);
      pong.recv();
      ++rounds;
    }
    ping.close();
  });
  s.spawn([&] {
    while (std::optional<int> v = ping.recv()) pong.send(*v);
  });
  s.spawn([&] { rounds_before_other = rounds; });
  s.run();
  EXPECT_EQ(rounds, 1000);
  EXPECT_GE(rounds_before_other, 0);
  EXPECT_LT(rounds_before_other, 100) << "the third fiber waited behind the pair";
}

TEST(FiberScheduler, RunCanBeCalledAgainAfterMoreSpawns) {
  Scheduler s(kTestStack);
  int runs = 0;
  s.spawn([&] { ++runs; });
  s.run();
  s.spawn([&] { ++runs; });
  s.run();
  s.run();  // nothing to do
  EXPECT_EQ(runs, 2);
}

TEST(FiberScheduler, JoinWaitsForTheFiberToFinish) {
  Scheduler s(kTestStack);
  bool child_done = false;
  bool seen_done_after_join = false;
  bool done_before = true, done_after = false;
  s.spawn([&] {
    JoinHandle child = s.spawn([&] {
      for (int i = 0; i < 5; ++i) this_fiber::yield();
      child_done = true;
    });
    done_before = child.done();
    child.join();
    seen_done_after_join = child_done;
    done_after = child.done();
    child.join();  // joining a finished fiber returns at once
  });
  s.run();
  EXPECT_FALSE(done_before);
  EXPECT_TRUE(seen_done_after_join);
  EXPECT_TRUE(done_after);
}

TEST(FiberScheduler, SeveralFibersCanJoinOne) {
  Scheduler s(kTestStack);
  int joined = 0;
  JoinHandle target = s.spawn([] {
    for (int i = 0; i < 3; ++i) this_fiber::yield();
  });
  for (int i = 0; i < 3; ++i) {
    s.spawn([&] {
      target.join();
      EXPECT_TRUE(target.done());
      ++joined;
    });
  }
  s.run();
  EXPECT_EQ(joined, 3);
}

TEST(FiberScheduler, JoinOutsideAFiberIsALogicError) {
  Scheduler s(kTestStack);
  JoinHandle h = s.spawn([] {});
  EXPECT_THROW(h.join(), std::logic_error);
  s.run();
  EXPECT_TRUE(h.done());
  EXPECT_NO_THROW(h.join());  // done: nothing to wait for
}

TEST(FiberScheduler, StacksAreReusedFromThePool) {
  Scheduler s(16384);
  int finished = 0;
  s.spawn([&] {
    for (int i = 0; i < 2000; ++i) {
      JoinHandle h = s.spawn([&] { ++finished; });
      h.join();
    }
  });
  s.run();
  EXPECT_EQ(finished, 2000);
  // The driver and one child at a time: two stacks, whatever the count.
  EXPECT_LE(s.stacks_mapped(), 2u);
  EXPECT_EQ(s.stacks_free(), s.stacks_mapped());

  // A wave of 100 fibers alive at once, run to the end, then another wave:
  // the second wave maps nothing new.
  for (int wave = 0; wave < 3; ++wave) {
    for (int i = 0; i < 100; ++i) s.spawn([] { this_fiber::yield(); });
    s.run();
  }
  EXPECT_EQ(s.stacks_mapped(), 100u);
  EXPECT_EQ(s.stacks_free(), 100u);
}

TEST(FiberScheduler, StackSizeIsRoundedToPages) {
  Scheduler s(5000);
  EXPECT_EQ(s.stack_size() % s.guard_size(), 0u);
  EXPECT_GE(s.stack_size(), 5000u);
}

TEST(FiberScheduler, AnExceptionInAFiberReachesRunAfterTheOthersAreUnwound) {
  Scheduler s(kTestStack);
  Channel<int> never(0);
  auto alive = std::make_shared<int>(0);
  bool parked_unwound = false;
  bool ran_after_throw = false;
  s.spawn([&] {
    struct OnUnwind {
      bool* flag;
      ~OnUnwind() { *flag = true; }
    } guard{&parked_unwound};
    never.recv();  // parks forever
  });
  s.spawn([] { throw std::runtime_error("boom"); });
  s.spawn([&, alive] { ran_after_throw = true; });  // queued, never started
  try {
    s.run();
    FAIL() << "run() returned normally";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "boom");
  }
  EXPECT_TRUE(parked_unwound);
  EXPECT_FALSE(ran_after_throw);
  EXPECT_EQ(alive.use_count(), 1);  // the never-started fiber's function was destroyed
  EXPECT_EQ(s.live(), 0u);
  EXPECT_EQ(s.stacks_free(), s.stacks_mapped());
}

TEST(FiberScheduler, OnlyTheFirstExceptionIsRethrown) {
  Scheduler s(kTestStack);
  s.spawn([] { throw std::runtime_error("first"); });
  s.spawn([] { throw std::runtime_error("second"); });
  try {
    s.run();
    FAIL() << "run() returned normally";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "first");
  }
}

TEST(FiberScheduler, AllFibersParkedIsADeadlock) {
  Scheduler s(kTestStack);
  Channel<int> ch(0);
  Mutex m;
  s.spawn([&] { ch.recv(); });
  s.spawn([&] {
    std::lock_guard<Mutex> hold(m);
    ch.send(1);  // the receiver is parked: handed over, no wait
    ch.send(2);  // nobody will receive: parks holding the lock
  });
  s.spawn([&] { std::lock_guard<Mutex> wait(m); });
  EXPECT_THROW(s.run(), FiberDeadlock);
  EXPECT_EQ(s.live(), 0u);
  EXPECT_EQ(ch.parked_senders(), 0u);  // unwound senders left the queue
  EXPECT_FALSE(m.locked());            // and released the lock
  EXPECT_EQ(m.waiters(), 0u);
}

TEST(FiberScheduler, DestroyingASchedulerUnwindsFibersThatNeverRan) {
  auto alive = std::make_shared<int>(0);
  bool ran = false;
  {
    Scheduler s(kTestStack);
    s.spawn([alive, &ran] { ran = true; });
    EXPECT_EQ(alive.use_count(), 2);
  }
  EXPECT_FALSE(ran);
  EXPECT_EQ(alive.use_count(), 1);
}

TEST(FiberScheduler, AFunctionTooBigForTheControlBlockRunsOrIsDestroyed) {
  auto alive = std::make_shared<int>(0);
  std::array<char, 4 * ControlBlock::kInlineFunction> big{};  // kept on the heap until it runs
  big[0] = 'x';
  char seen = 0;
  {
    Scheduler s(kTestStack);
    s.spawn([alive, big, &seen] { seen = big[0]; });
    EXPECT_EQ(alive.use_count(), 2);
    s.run();
    EXPECT_EQ(seen, 'x');
    EXPECT_EQ(alive.use_count(), 1);  // destroyed in the fiber, once it ran
    s.spawn([alive, big, &seen] { seen = big[1]; });  // never runs: the scheduler goes first
    EXPECT_EQ(alive.use_count(), 2);
  }
  EXPECT_EQ(seen, 'x');
  EXPECT_EQ(alive.use_count(), 1);
}

TEST(FiberStacks, AQueuedFiberTouchesNoStackUntilItRuns) {
  Scheduler s(kTestStack);
  int ran = 0;
  for (int i = 0; i < 1000; ++i) s.spawn([&] { ++ran; });
  // Reserved (carved: spawn fails if it cannot be), not yet touched.
  EXPECT_EQ(s.stacks_mapped(), 1000u);
  EXPECT_EQ(s.stacks_touched(), 0u);
  s.run();
  EXPECT_EQ(ran, 1000);
  // Each ran to its end before the next but one started: a finishing fiber
  // starts the next on a second stack before its own goes back to the pool.
  EXPECT_EQ(s.stacks_touched(), 2u);
  EXPECT_EQ(s.stacks_free(), 1000u);

  // Parked fibers keep theirs: 100 parked at once touch 100.
  Channel<int> release(0);
  for (int i = 0; i < 100; ++i) s.spawn([&] { release.recv(); });
  s.spawn([&] { release.close(); });
  s.run();
  EXPECT_EQ(s.stacks_touched(), 101u);
  EXPECT_EQ(s.stacks_free(), s.stacks_mapped());
}

int recurse(int depth) {
  volatile char pad[512];
  pad[0] = static_cast<char>(depth);
  if (depth == 0) return pad[0];
  return recurse(depth - 1) + pad[0];
}

int recurse_small(int depth) {
  volatile char pad[200];
  pad[0] = static_cast<char>(depth);
  if (depth == 0) return pad[0];
  return recurse_small(depth - 1) + pad[0];
}

TEST(FiberSchedulerDeathTest, StackOverflowHitsTheGuardPage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto overflow = [] {
    Scheduler s(16384);
    int sink = 0;
    s.spawn([&sink] { sink = recurse(1 << 20); });
    s.run();
  };
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // AddressSanitizer either reports the SIGSEGV itself (its default) or lets
  // it kill the process (handle_segv=0, as the asan test preset sets);
  // ThreadSanitizer reports it as a stack overflow and exits: a death
  // either way.
  EXPECT_DEATH(overflow(), "");
#else
  EXPECT_EXIT(overflow(), ::testing::KilledBySignal(SIGSEGV), "");
#endif
}

// --- Channel ------------------------------------------------------------

class BufferedChannel : public ::testing::TestWithParam<int> {};

TEST_P(BufferedChannel, ExactlyCapacitySendsCompleteWithoutAReceiver) {
  const int cap = GetParam();
  const int total = 3 * cap + 2;
  Scheduler s(kTestStack);
  Channel<int> ch(static_cast<std::size_t>(cap));
  int sent = 0;
  std::vector<int> got;
  s.spawn([&] {
    for (int i = 0; i < total; ++i) {
      ch.send(i);
      ++sent;
    }
  });
  s.spawn([&] {
    // The sender ran first: B sends completed, the (B+1)-th parked.
    EXPECT_EQ(sent, cap);
    EXPECT_EQ(ch.size(), static_cast<std::size_t>(cap));
    EXPECT_EQ(ch.parked_senders(), 1u);
    // A receive frees a slot and moves the parked sender's value into it.
    got.push_back(*ch.recv());
    EXPECT_EQ(ch.size(), static_cast<std::size_t>(cap));
    EXPECT_EQ(ch.parked_senders(), 0u);
    EXPECT_EQ(sent, cap);  // the sender is runnable but has not run
    this_fiber::yield();
    EXPECT_EQ(sent, cap + 1);  // its send returned; the next one parked
    EXPECT_EQ(ch.parked_senders(), 1u);
    while (static_cast<int>(got.size()) < total) got.push_back(*ch.recv());
  });
  s.run();
  ASSERT_EQ(static_cast<int>(got.size()), total);
  for (int i = 0; i < total; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], i);
}

INSTANTIATE_TEST_SUITE_P(Capacities, BufferedChannel, ::testing::Values(1, 3, 7));

TEST(Channel, RendezvousSendCompletesOnlyWhenAReceiverTakesTheValue) {
  Scheduler s(kTestStack);
  Channel<int> ch(0);
  bool sent = false;
  s.spawn([&] {
    ch.send(42);
    sent = true;
  });
  s.spawn([&] {
    for (int i = 0; i < 5; ++i) this_fiber::yield();
    EXPECT_FALSE(sent);
    EXPECT_EQ(ch.parked_senders(), 1u);
    EXPECT_EQ(ch.size(), 0u);
    EXPECT_EQ(ch.recv(), std::optional<int>(42));
    EXPECT_FALSE(sent);  // runnable, not yet run
    this_fiber::yield();
    EXPECT_TRUE(sent);
  });
  s.run();
  EXPECT_TRUE(sent);
}

TEST(Channel, SendToAParkedReceiverHandsTheValueOverDirectly) {
  for (std::size_t cap : {0u, 4u}) {
    Scheduler s(kTestStack);
    Channel<int> ch(cap);
    std::vector<std::string> log;
    s.spawn([&] {
      log.push_back("recv");
      std::optional<int> v = ch.recv();
      log.push_back("got " + std::to_string(v.value_or(-1)));
    });
    s.spawn([&] {
      ch.send(7);  // the receiver is parked: no wait, no buffer
      log.push_back("sent");
      EXPECT_EQ(ch.size(), 0u);
      EXPECT_EQ(ch.parked_receivers(), 0u);
    });
    s.run();
    EXPECT_EQ(log, (std::vector<std::string>{"recv", "sent", "got 7"})) << "capacity " << cap;
  }
}

TEST(Channel, ReceiversAreServedInFifoOrder) {
  Scheduler s(kTestStack);
  Channel<int> ch(0);
  std::vector<std::pair<int, int>> got;  // (receiver, value)
  for (int r = 0; r < 3; ++r)
    s.spawn([&, r] { got.emplace_back(r, *ch.recv()); });
  s.spawn([&] {
    for (int v = 10; v < 13; ++v) ch.send(v);
  });
  s.run();
  // Served in the order they parked; each one woken runs next, so they
  // record in another order (the last woken first).
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::pair<int, int>>{{0, 10}, {1, 11}, {2, 12}}));
}

TEST(Channel, CloseLetsReceiversDrainThenReturnsNullopt) {
  Scheduler s(kTestStack);
  Channel<int> ch(4);
  std::vector<std::optional<int>> got;
  bool send_threw = false, close_threw = false;
  s.spawn([&] {
    ch.send(1);
    ch.send(2);
    ch.close();
    try {
      ch.send(3);
    } catch (const ChannelClosed&) {
      send_threw = true;
    }
    try {
      ch.close();
    } catch (const ChannelClosed&) {
      close_threw = true;
    }
    for (int i = 0; i < 4; ++i) got.push_back(ch.recv());
  });
  s.run();
  EXPECT_TRUE(send_threw);
  EXPECT_TRUE(close_threw);
  EXPECT_EQ(got, (std::vector<std::optional<int>>{1, 2, std::nullopt, std::nullopt}));
}

TEST(Channel, CloseWakesParkedReceiversWithNullopt) {
  Scheduler s(kTestStack);
  Channel<int> ch(2);
  int woke_empty = 0;
  for (int r = 0; r < 3; ++r)
    s.spawn([&] {
      if (!ch.recv()) ++woke_empty;
    });
  s.spawn([&] {
    EXPECT_EQ(ch.parked_receivers(), 3u);
    ch.close();
  });
  s.run();
  EXPECT_EQ(woke_empty, 3);
}

TEST(Channel, CloseMakesParkedSendersThrow) {
  for (std::size_t cap : {0u, 1u}) {
    Scheduler s(kTestStack);
    Channel<int> ch(cap);
    int threw = 0, completed = 0;
    for (int w = 0; w < 2; ++w)
      s.spawn([&] {
        try {
          ch.send(1);
          ++completed;
          ch.send(2);
          ++completed;
        } catch (const ChannelClosed&) {
          ++threw;
        }
      });
    s.spawn([&] { ch.close(); });
    s.run();
    EXPECT_EQ(threw, 2) << "capacity " << cap;
    EXPECT_EQ(completed, cap == 0 ? 0 : 1) << "capacity " << cap;
  }
}

TEST(Channel, AnEscapingChannelClosedReachesRun) {
  Scheduler s(kTestStack);
  Channel<int> ch(0);
  s.spawn([&] { ch.send(1); });
  s.spawn([&] { ch.close(); });
  EXPECT_THROW(s.run(), ChannelClosed);
}

TEST(Channel, CarriesMoveOnlyValues) {
  Scheduler s(kTestStack);
  Channel<std::unique_ptr<int>> buffered(1), unbuffered(0);
  int sum = 0;
  s.spawn([&] {
    buffered.send(std::make_unique<int>(1));
    buffered.send(std::make_unique<int>(2));  // parks: moved from the waiter
    unbuffered.send(std::make_unique<int>(3));
  });
  s.spawn([&] {
    for (int i = 0; i < 2; ++i) sum += **buffered.recv();
    sum += **unbuffered.recv();
  });
  s.run();
  EXPECT_EQ(sum, 6);
}

TEST(Channel, WaitingOutsideAFiberIsALogicError) {
  Scheduler s(kTestStack);
  Channel<int> ch(1);
  ch.send(1);  // fits: no need to wait
  EXPECT_THROW(ch.send(2), std::logic_error);
  EXPECT_EQ(ch.recv(), std::optional<int>(1));
  EXPECT_THROW(ch.recv(), std::logic_error);
  ch.close();
  EXPECT_EQ(ch.recv(), std::nullopt);
}

// --- Mutex ----------------------------------------------------------------

TEST(FiberMutex, ExcludesAcrossYields) {
  Scheduler s(kTestStack);
  Mutex m;
  int inside = 0, max_inside = 0, total = 0;
  for (int f = 0; f < 4; ++f) {
    s.spawn([&] {
      for (int i = 0; i < 50; ++i) {
        m.lock();
        ++inside;
        max_inside = std::max(max_inside, inside);
        this_fiber::yield();  // the others run, and park on the lock
        ++total;
        --inside;
        m.unlock();
        this_fiber::yield();
      }
    });
  }
  s.run();
  EXPECT_EQ(max_inside, 1);
  EXPECT_EQ(total, 200);
  EXPECT_FALSE(m.locked());
}

TEST(FiberMutex, UnlockHandsTheLockToTheFirstWaiter) {
  Scheduler s(kTestStack);
  Mutex m;
  std::vector<int> order;
  s.spawn([&] {
    m.lock();
    this_fiber::yield();  // 1, 2, 3 park in that order
    m.unlock();
    // Handed off: the lock belongs to waiter 1 already, so it is not free to
    // take back even though waiter 1 has not run yet.
    EXPECT_FALSE(m.try_lock());
    order.push_back(0);
  });
  for (int f = 1; f <= 3; ++f) {
    s.spawn([&, f] {
      m.lock();
      order.push_back(f);
      m.unlock();
    });
  }
  s.run();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
}

// --- the workloads ----------------------------------------------------------

cmbench::Params params_for(const cmbench::WorkloadSpec& spec,
                           const std::map<std::string, std::string>& given) {
  std::vector<cmbench::ParamDef> defs = spec.params;
  const auto& model = cmbench::models::fiber::info().params;
  defs.insert(defs.end(), model.begin(), model.end());
  return cmbench::make_params(defs, given);
}

class ProdconsFiber
    : public ::testing::TestWithParam<std::tuple<std::pair<int, int>, int, int>> {};

TEST_P(ProdconsFiber, DeliversEveryMessageOnce) {
  auto [pc, capacity, payload] = GetParam();
  cmbench::Params p = params_for(cmbench::prodcons::spec(),
                                 {{"producers", std::to_string(pc.first)},
                                  {"consumers", std::to_string(pc.second)},
                                  {"capacity", std::to_string(capacity)},
                                  {"payload", std::to_string(payload)},
                                  {"messages", "2000"}});
  cmbench::Probe probe;
  cmbench::impls::prodcons_fiber.run(p, probe);
  EXPECT_TRUE(probe.started());
  EXPECT_TRUE(probe.stopped());
  ASSERT_TRUE(probe.verified());
  EXPECT_TRUE(probe.verdict().ok) << probe.verdict().message;
  EXPECT_EQ(probe.merged_latency().count(), 2000u);
  EXPECT_EQ(probe.notes().at("stack_protection"), Scheduler(16384).stack_protection());
  EXPECT_EQ(probe.notes().at("stack_size"), 16384);
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, ProdconsFiber,
    ::testing::Combine(::testing::Values(std::pair{1, 1}, std::pair{4, 4}, std::pair{3, 2}),
                       ::testing::Values(0, 1, 7, 1024), ::testing::Values(0, 64, 1024)));

TEST(ProdconsFiberStack, HonoursTheStackSizeParameter) {
  cmbench::Params p = params_for(cmbench::prodcons::spec(),
                                 {{"messages", "100"}, {"stack_size", "65536"}});
  cmbench::Probe probe;
  cmbench::impls::prodcons_fiber.run(p, probe);
  EXPECT_TRUE(probe.verdict().ok) << probe.verdict().message;
  EXPECT_EQ(probe.notes().at("stack_size"), 65536);
}

class CounterFiber : public ::testing::TestWithParam<std::tuple<int, std::string>> {};

TEST_P(CounterFiber, CountsEveryIncrement) {
  auto [units, mode] = GetParam();
  cmbench::Params p = params_for(
      cmbench::counter::spec(),
      {{"units", std::to_string(units)}, {"increments", "3000"}, {"mode", mode}});
  cmbench::Probe probe;
  cmbench::impls::counter_fiber.run(p, probe);
  EXPECT_TRUE(probe.started());
  EXPECT_TRUE(probe.stopped());
  ASSERT_TRUE(probe.verified());
  EXPECT_TRUE(probe.verdict().ok) << probe.verdict().message;
}

INSTANTIATE_TEST_SUITE_P(Modes, CounterFiber,
                         ::testing::Combine(::testing::Values(1, 2, 64),
                                            ::testing::Values("lock", "atomic", "message")));

}  // namespace

// --- stacks beyond the guard-page budget ------------------------------------

namespace {

TEST(FiberStacks, GuardPagesUpToTheBudgetThenCanaries) {
  Scheduler s(kTestStack);
  ASSERT_GT(s.guard_budget(), 0u);
  EXPECT_NE(s.stack_protection().find(std::to_string(s.guard_budget())), std::string::npos);
  Channel<int> release(0);
  const std::size_t n = s.guard_budget() + 100;
  std::size_t parked = 0;
  for (std::size_t i = 0; i < n; ++i) s.spawn([&] {
      ++parked;
      release.recv();
    });
  s.spawn([&] { release.close(); });
  s.run();
  EXPECT_EQ(parked, n);
  EXPECT_EQ(s.stacks_mapped(), n + 1);
  EXPECT_EQ(s.stacks_guarded(), s.guard_budget());
  // Slabs, not a mapping per stack.
  EXPECT_LT(s.stack_slabs(), n / 32);
}

TEST(FiberStacksDeathTest, OverflowOnAnUnguardedStackTripsTheCanary) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto overflow = [] {
    Scheduler s(16384);
    Channel<int> release(0);
    int sink = 0;
    // 100 frames of about 250 bytes: past the 16 KiB stack's bottom, into
    // the neighbouring stack's top, but not through the whole slab. The
    // yield (with another fiber runnable) is the switch that checks.
    auto overflowing = [&] {
      sink = recurse_small(100);
      s.spawn([] {});
      this_fiber::yield();
      release.close();
    };
    // Every guarded stack, and the first unguarded one (below which the
    // slab ends), go to parked fibers; stacks are handed out as fibers
    // start, so the last of them to start spawns the overflowing one, which
    // runs next, on the second unguarded stack.
    const std::size_t parkers = s.guard_budget() + 1;
    std::size_t parked = 0;
    for (std::size_t i = 0; i < parkers; ++i) s.spawn([&] {
        if (++parked == parkers) s.spawn(overflowing);
        release.recv();
      });
    s.run();
  };
#if defined(__SANITIZE_ADDRESS__)
  (void)overflow;
  GTEST_SKIP() << "AddressSanitizer's larger frames make the overflow's reach unpredictable";
#elif defined(__SANITIZE_THREAD__)
  (void)overflow;
  GTEST_SKIP() << "ThreadSanitizer maps a trace for every fiber it is told about: the guard "
                  "budget's 16,383 parked fibers exhaust vm.max_map_count before the canary";
#else
  EXPECT_DEATH(overflow(), "stack overflow: a fiber wrote into the canary");
#endif
}

// --- the reactor and timers -------------------------------------------------

struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    r = fds[0];
    w = fds[1];
  }
  ~Pipe() {
    ::close(r);
    ::close(w);
  }
};

TEST(FiberReactor, WaitReadableParksUntilDataArrives) {
  Scheduler s(kTestStack);
  Pipe p;
  std::vector<std::string> log;
  s.spawn([&] {
    log.push_back("wait");
    EXPECT_TRUE(s.wait_readable(p.r));
    char c = 0;
    EXPECT_EQ(::read(p.r, &c, 1), 1);
    log.push_back(std::string("read ") + c);
  });
  s.spawn([&] {
    log.push_back("write");
    EXPECT_EQ(::write(p.w, "x", 1), 1);
  });
  s.run();
  EXPECT_EQ(log, (std::vector<std::string>{"wait", "write", "read x"}));
  s.forget(p.r);
}

TEST(FiberReactor, AnEdgeBeforeTheWaitIsNotLost) {
  Scheduler s(kTestStack);
  Pipe p;
  bool second = false;
  bool finished = false;
  s.spawn([&] {
    char c;
    ASSERT_EQ(::write(p.w, "a", 1), 1);
    ASSERT_TRUE(s.wait_readable(p.r));  // registers; ready at once
    ASSERT_EQ(::read(p.r, &c, 1), 1);
    ASSERT_EQ(::write(p.w, "b", 1), 1);
    // The edge of "b" arrives while nobody waits to read: the poll during
    // this sleep records it, and the next wait must return at once.
    s.sleep_until(cmbench::now_ns() + 1'000'000);
    second = s.wait_readable(p.r);
    finished = true;
  });
  s.spawn([&] {  // a watchdog, so that a lost edge fails instead of hanging
    s.sleep_until(cmbench::now_ns() + 300'000'000);
    if (!finished) s.forget(p.r);
  });
  s.run();
  EXPECT_TRUE(second);
  s.forget(p.r);
}

TEST(FiberReactor, ForgetWakesTheWaiterWithFalse) {
  Scheduler s(kTestStack);
  Pipe p;
  bool result = true;
  s.spawn([&] { result = s.wait_readable(p.r); });
  s.spawn([&] { s.forget(p.r); });
  s.run();
  EXPECT_FALSE(result);
}

TEST(FiberReactor, AYieldingFiberCannotStarveIo) {
  Scheduler s(kTestStack);
  Pipe p;
  bool done = false;
  int spins = 0;
  s.spawn([&] {
    s.wait_readable(p.r);
    done = true;
  });
  s.spawn([&] {
    ASSERT_EQ(::write(p.w, "z", 1), 1);
    while (!done && spins < 1'000'000) {
      ++spins;
      this_fiber::yield();
    }
  });
  s.run();
  EXPECT_TRUE(done);
  EXPECT_LT(spins, 1000);
  s.forget(p.r);
}

TEST(FiberReactor, BusyFibersCannotStarveIoEither) {
  // Two fibers ping-pong forever (until the reader is done): the run queue
  // never empties, so only the round polls let the pipe's reader in.
  Scheduler s(kTestStack);
  Pipe p;
  bool done = false;
  uint64_t rounds = 0;
  Channel<int> a(0), b(0);
  s.spawn([&] {
    s.wait_readable(p.r);
    done = true;
  });
  s.spawn([&] {
    ASSERT_EQ(::write(p.w, "z", 1), 1);
    while (!done && rounds < 1'000'000) {
      a.send(1);
      b.recv();
      ++rounds;
    }
    a.close();
  });
  s.spawn([&] {
    while (a.recv()) b.send(2);
  });
  s.run();
  EXPECT_TRUE(done);
  EXPECT_LT(rounds, 1000u);
  EXPECT_GT(s.round_polls(), 0u);
  s.forget(p.r);
}

// The echo/fiber crash (SIGSEGV in Scheduler::start, the stack pool's
// reserved count underflowed): a fiber that parks runs the round poll
// itself (park -> next_to_run -> poll), and that poll may report the
// parking fiber's own descriptor (or fire its own timer). The fiber is then
// the next to run: it must carry on, not be switched to (and started
// again) while it runs. Reproduced on demand by sweeping how many fibers
// finish before the wait (each finish is one switch towards the next round
// poll), so that for some count the round poll falls exactly on the park,
// with the data (or the deadline) already there and nothing else runnable.
template <typename Wait>
void sweep_round_poll_onto_a_park(Wait wait) {
  for (int j = 0; j < 2 * static_cast<int>(Scheduler::kPollRound) + 8; ++j) {
    SCOPED_TRACE("fibers that finish before the wait: " + std::to_string(j));
    Scheduler s(kTestStack);
    Pipe other;  // a second waiter, so that every switch counts towards a poll
    bool woke = false;
    s.spawn([&] { EXPECT_TRUE(s.wait_readable(other.r)); });
    for (int i = 0; i < j; ++i) s.spawn([] {});
    s.spawn([&] {
      woke = wait(s);
      ASSERT_EQ(::write(other.w, "y", 1), 1);
    });
    s.run();
    EXPECT_TRUE(woke);
    EXPECT_EQ(s.live(), 0u);
    s.forget(other.r);
  }
}

TEST(FiberReactor, AParkingFiberReadiedByItsOwnRoundPollCarriesOn) {
  uint64_t polls_on_the_park = 0;
  sweep_round_poll_onto_a_park([&](Scheduler& s) {
    Pipe ready;  // readable before the wait: its edge comes at registration
    EXPECT_EQ(::write(ready.w, "x", 1), 1);
    const uint64_t before = s.round_polls();
    const bool ok = s.wait_readable(ready.r);
    char c = 0;
    const bool read = ::read(ready.r, &c, 1) == 1 && c == 'x';
    polls_on_the_park += s.round_polls() > before && s.blocking_polls() == 0;
    s.forget(ready.r);
    return ok && read;
  });
  // The sweep did put a round poll onto the park, or it proved nothing.
  EXPECT_GT(polls_on_the_park, 0u);
}

TEST(FiberTimers, ASleeperWhoseDeadlinePassedBeforeItsRoundPollCarriesOn) {
  sweep_round_poll_onto_a_park([](Scheduler& s) {
    // Due by the time park() polls: that poll fires the sleeper's own timer.
    s.sleep_until(cmbench::now_ns() + 1);
    return true;
  });
}

TEST(FiberTimers, SleepersWakeInDeadlineOrderAndNeverEarly) {
  Scheduler s(kTestStack);
  std::vector<int> order;
  int early = 0;
  const int64_t base = cmbench::now_ns();
  for (int id : {3, 1, 2}) {
    s.spawn([&, id] {
      const int64_t due = base + id * 2'000'000;
      this_fiber::sleep_until(due);
      if (cmbench::now_ns() < due) ++early;
      order.push_back(id);
    });
  }
  s.run();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(early, 0);
  EXPECT_GE(s.blocking_polls(), 1u);
}

TEST(FiberTimers, APastDeadlineReturnsAtOnce) {
  Scheduler s(kTestStack);
  bool done = false;
  s.spawn([&] {
    s.sleep_until(cmbench::now_ns() - 1);
    done = true;
  });
  s.run();
  EXPECT_TRUE(done);
  EXPECT_EQ(s.blocking_polls(), 0u);
}

TEST(FiberTimers, ASleeperIsUnwoundWhenTheRuntimeFails) {
  Scheduler s(kTestStack);
  bool unwound = false;
  s.spawn([&] {
    struct OnUnwind {
      bool* flag;
      ~OnUnwind() { *flag = true; }
    } guard{&unwound};
    this_fiber::sleep_until(cmbench::now_ns() + 60'000'000'000);
  });
  s.spawn([] { throw std::runtime_error("boom"); });
  EXPECT_THROW(s.run(), std::runtime_error);
  EXPECT_TRUE(unwound);
  EXPECT_EQ(s.live(), 0u);
}

TEST(FiberScheduler, OnThreadStackRunsTheCallAndRethrows) {
  Scheduler s(kTestStack);
  int called = 0;
  bool caught = false;
  s.spawn([&] {
    char big[1];
    big[0] = 1;
    s.on_thread_stack([&] {
      volatile char deep[256 * 1024];  // far more than the fiber's stack
      deep[0] = big[0];
      called += deep[0];
    });
    try {
      s.on_thread_stack([] { throw std::runtime_error("on thread"); });
    } catch (const std::runtime_error&) {
      caught = true;
    }
  });
  s.run();
  EXPECT_EQ(called, 1);
  EXPECT_TRUE(caught);
}

// An echo server built from the net helpers, driven by blocking clients on
// threads: the reactor end to end, independent of the load generator.
TEST(FiberNet, EchoServerServesConcurrentClients) {
  namespace net = cmbench::fiber::net;
  Scheduler s(kTestStack);
  uint16_t port = 0;
  net::Socket listener = net::listen_loopback(s, 16, port);
  constexpr int kClients = 4, kRequests = 50;
  Pipe done;
  int served = 0;
  std::vector<std::thread> clients;
  std::vector<int> good(kClients, 0);
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(port);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
      for (int r = 0; r < kRequests; ++r) {
        char req[32], resp[32];
        std::snprintf(req, sizeof req, "client %d request %d", c, r);
        const std::size_t n = std::strlen(req);
        if (::write(fd, req, n) != static_cast<ssize_t>(n)) break;
        std::size_t got = 0;
        while (got < n) {
          ssize_t k = ::read(fd, resp + got, n - got);
          if (k <= 0) break;
          got += static_cast<std::size_t>(k);
        }
        if (got == n && std::memcmp(req, resp, n) == 0) ++good[c];
      }
      ::close(fd);
    });
  }
  std::thread closer([&] {
    for (auto& t : clients) t.join();
    [[maybe_unused]] ssize_t k = ::write(done.w, "d", 1);
  });
  s.spawn([&] {
    while (net::Socket conn = net::accept(listener)) {
      s.spawn([&, conn = std::move(conn)]() mutable {
        char buf[64];
        while (std::size_t n = net::read_some(conn, buf, sizeof buf))
          if (!net::write_all(conn, buf, n)) break;
        ++served;
      });
    }
  });
  s.spawn([&] {
    s.wait_readable(done.r);
    s.forget(done.r);
    listener.close();
  });
  s.run();
  closer.join();
  EXPECT_EQ(served, kClients);
  for (int c = 0; c < kClients; ++c) EXPECT_EQ(good[c], kRequests) << "client " << c;
}

// --- the catalog workloads --------------------------------------------------

void expect_ok(const cmbench::Impl& impl, const cmbench::Params& p) {
  cmbench::Probe probe;
  impl.run(p, probe);
  EXPECT_TRUE(probe.started());
  EXPECT_TRUE(probe.stopped());
  ASSERT_TRUE(probe.verified());
  EXPECT_TRUE(probe.verdict().ok) << probe.verdict().message;
}

TEST(PingpongFiber, CountsEveryRoundTrip) {
  cmbench::Params p = params_for(cmbench::pingpong::spec(), {{"rounds", "1000"}});
  cmbench::Probe probe;
  cmbench::impls::pingpong_fiber.run(p, probe);
  ASSERT_TRUE(probe.verified());
  EXPECT_TRUE(probe.verdict().ok) << probe.verdict().message;
  EXPECT_EQ(probe.merged_latency().count(), 1000u);
}

class SpawnFiber : public ::testing::TestWithParam<int> {};
TEST_P(SpawnFiber, ParksAndReleasesEveryUnit) {
  expect_ok(cmbench::impls::spawn_fiber,
            params_for(cmbench::spawn::spec(), {{"units", std::to_string(GetParam())}}));
}
INSTANTIATE_TEST_SUITE_P(Units, SpawnFiber, ::testing::Values(1, 10, 500));

class SkynetFiber : public ::testing::TestWithParam<int> {};
TEST_P(SkynetFiber, SumsTheLeaves) {
  expect_ok(cmbench::impls::skynet_fiber,
            params_for(cmbench::skynet::spec(), {{"leaves", std::to_string(GetParam())}}));
}
INSTANTIATE_TEST_SUITE_P(Leaves, SkynetFiber, ::testing::Values(1, 100, 1000));

class RingFiber : public ::testing::TestWithParam<std::pair<int, int>> {};
TEST_P(RingFiber, EndsAtTheRightUnit) {
  auto [units, hops] = GetParam();
  expect_ok(cmbench::impls::ring_fiber,
            params_for(cmbench::ring::spec(),
                       {{"units", std::to_string(units)}, {"hops", std::to_string(hops)}}));
}
INSTANTIATE_TEST_SUITE_P(Sizes, RingFiber,
                         ::testing::Values(std::pair{5, 1000}, std::pair{503, 2000},
                                           std::pair{2, 1}));

TEST(SleepersFiber, WakesEveryUnitOnTime) {
  expect_ok(cmbench::impls::sleepers_fiber,
            params_for(cmbench::sleepers::spec(),
                       {{"units", "10"}, {"sleeps", "3"}, {"sleep_ms", "2"}}));
}

class EchoFiber : public ::testing::TestWithParam<std::tuple<int, std::string>> {};
TEST_P(EchoFiber, EchoesEveryRequest) {
  auto [conns, loop] = GetParam();
  expect_ok(cmbench::impls::echo_fiber,
            params_for(cmbench::echo::spec(), {{"connections", std::to_string(conns)},
                                               {"requests", "200"},
                                               {"loop", loop}}));
}
INSTANTIATE_TEST_SUITE_P(Loads, EchoFiber,
                         ::testing::Combine(::testing::Values(1, 8),
                                            ::testing::Values("closed", "open")));

// --- M:N mode (threads > 1) -------------------------------------------------

// Records which threads ran a fiber, from any of them.
struct ThreadsSeen {
  std::mutex mu;
  std::set<std::thread::id> ids;
  void note() {
    std::lock_guard lock(mu);
    ids.insert(std::this_thread::get_id());
  }
  std::size_t count() {
    std::lock_guard lock(mu);
    return ids.size();
  }
};

TEST(FiberMN, ThreadsParameterZeroMeansOnePerCore) {
  Scheduler one(kTestStack);
  EXPECT_FALSE(one.multi());
  EXPECT_EQ(one.threads(), 1u);
  Scheduler two(kTestStack, 2);
  EXPECT_TRUE(two.multi());
  Scheduler all(kTestStack, 0);
  EXPECT_EQ(all.threads(), std::max(1u, std::thread::hardware_concurrency()));
}

TEST(FiberMN, TwoFibersRunAtTheSameTimeOnTwoThreads) {
  // A spins, without ever yielding, until B has run: on one thread that
  // would never end; on two, the other worker takes B.
  Scheduler s(kTestStack, 2);
  std::atomic<bool> b_ran{false};
  bool a_saw_b = false;
  ThreadsSeen seen;
  s.spawn([&] {
    seen.note();
    const int64_t give_up = cmbench::now_ns() + 20'000'000'000;
    while (!b_ran.load() && cmbench::now_ns() < give_up) std::this_thread::yield();
    a_saw_b = b_ran.load();
  });
  s.spawn([&] {
    seen.note();
    b_ran = true;
  });
  s.run();
  EXPECT_TRUE(a_saw_b);
  EXPECT_EQ(seen.count(), 2u);
}

class FiberMNChannel : public ::testing::TestWithParam<int> {};

TEST_P(FiberMNChannel, ManyFibersOnTwoThreadsDeliverEveryValueOnce) {
  constexpr int kProducers = 8, kConsumers = 8, kPerProducer = 3000;
  Scheduler s(kTestStack, 2);
  Channel<uint64_t> ch(static_cast<std::size_t>(GetParam()));
  std::atomic<uint64_t> received{0}, sum{0};
  std::vector<JoinHandle> producers;
  for (int p = 0; p < kProducers; ++p)
    producers.push_back(s.spawn([&, p] {
      for (int i = 0; i < kPerProducer; ++i) ch.send(static_cast<uint64_t>(p * kPerProducer + i));
    }));
  for (int c = 0; c < kConsumers; ++c)
    s.spawn([&] {
      uint64_t n = 0, total = 0;
      while (std::optional<uint64_t> v = ch.recv()) {
        ++n;
        total += *v;
      }
      received += n;
      sum += total;
    });
  s.spawn([&] {
    for (JoinHandle& h : producers) h.join();
    ch.close();
  });
  s.run();
  constexpr uint64_t kAll = uint64_t{kProducers} * kPerProducer;
  EXPECT_EQ(received.load(), kAll);
  EXPECT_EQ(sum.load(), kAll * (kAll - 1) / 2);
  EXPECT_EQ(s.live(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Capacities, FiberMNChannel, ::testing::Values(0, 1, 7));

TEST(FiberMN, MutexExcludesAcrossThreads) {
  constexpr int kFibers = 16, kIterations = 2000;
  Scheduler s(kTestStack, 2);
  Mutex m;
  uint64_t count = 0;  // plain: the mutex alone orders the increments
  int inside = 0;
  std::atomic<int> overlaps{0};
  for (int f = 0; f < kFibers; ++f)
    s.spawn([&, f] {
      for (int i = 0; i < kIterations; ++i) {
        m.lock();
        if (++inside != 1) ++overlaps;
        const uint64_t v = count;
        if ((i + f) % 64 == 0) this_fiber::yield();  // holds the lock across a switch
        count = v + 1;
        --inside;
        m.unlock();
      }
    });
  s.run();
  EXPECT_EQ(count, uint64_t{kFibers} * kIterations);
  EXPECT_EQ(overlaps.load(), 0);
}

TEST(FiberMN, JoinAcrossThreadsSeesTheChildsWork) {
  constexpr int kParents = 300;
  Scheduler s(kTestStack, 2);
  std::vector<uint64_t> results(kParents, 0);
  std::atomic<int> good{0};
  for (int p = 0; p < kParents; ++p)
    s.spawn([&, p] {
      uint64_t value = 0;
      JoinHandle child = s.spawn([&value, p] {
        if (p % 3 == 0) this_fiber::yield();
        value = static_cast<uint64_t>(p) * 7;
      });
      child.join();
      EXPECT_TRUE(child.done());
      results[static_cast<std::size_t>(p)] = value;
      if (value == static_cast<uint64_t>(p) * 7) ++good;
    });
  s.run();
  EXPECT_EQ(good.load(), kParents);
}

TEST(FiberMN, AllFibersParkedOnEveryThreadIsADeadlock) {
  Scheduler s(kTestStack, 2);
  Channel<int> never(0);
  std::atomic<int> unwound{0};
  for (int i = 0; i < 20; ++i)
    s.spawn([&] {
      struct Count {
        std::atomic<int>& n;
        ~Count() { ++n; }
      } count{unwound};
      never.recv();
    });
  EXPECT_THROW(s.run(), FiberDeadlock);
  EXPECT_EQ(unwound.load(), 20);
  EXPECT_EQ(s.live(), 0u);
  // And the scheduler runs again afterwards.
  bool ran = false;
  s.spawn([&] { ran = true; });
  s.run();
  EXPECT_TRUE(ran);
}

TEST(FiberMN, AnExceptionStopsEveryWorker) {
  Scheduler s(kTestStack, 2);
  std::atomic<bool> stop{false};
  for (int i = 0; i < 4; ++i)
    s.spawn([&] {
      while (!stop) this_fiber::yield();  // unwound by FiberCancelled
    });
  s.spawn([] {
    this_fiber::yield();
    throw std::runtime_error("boom");
  });
  EXPECT_THROW(s.run(), std::runtime_error);
  EXPECT_EQ(s.live(), 0u);
}

TEST(FiberMN, SleepersWakeInTimeAndNeverEarly) {
  Scheduler s(kTestStack, 2);
  constexpr int kSleepers = 40;
  std::atomic<int> early{0}, woke{0};
  const int64_t start = cmbench::now_ns();
  for (int i = 0; i < kSleepers; ++i)
    s.spawn([&, i] {
      const int64_t due = start + (1 + i % 10) * 2'000'000;
      this_fiber::sleep_until(due);
      if (cmbench::now_ns() < due) ++early;
      ++woke;
    });
  s.run();
  EXPECT_EQ(woke.load(), kSleepers);
  EXPECT_EQ(early.load(), 0);
}

TEST(FiberMN, AnEarlierTimerWakesTheWorkerBlockedInEpoll) {
  // One fiber sleeps long, so a worker blocks in epoll until its deadline;
  // a short sleep added afterwards (from the other worker) must not wait
  // for it.
  Scheduler s(kTestStack, 2);
  const int64_t start = cmbench::now_ns();
  int64_t short_woke = 0;
  s.spawn([&] { this_fiber::sleep_until(start + 600'000'000); });
  s.spawn([&] {
    this_fiber::sleep_until(start + 50'000'000);  // the poller is blocked by now
    this_fiber::sleep_until(cmbench::now_ns() + 5'000'000);
    short_woke = cmbench::now_ns();
  });
  s.run();
  EXPECT_LT(short_woke - start, 400'000'000) << "the short sleep waited for the long one";
}

TEST(FiberMN, ReactorWakesAFiberOnAnotherThread) {
  Scheduler s(kTestStack, 2);
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
  char got = 0;
  s.spawn([&] {
    ASSERT_TRUE(s.wait_readable(fds[0]));
    ASSERT_EQ(::read(fds[0], &got, 1), 1);
    s.forget(fds[0]);
  });
  s.spawn([&] {
    this_fiber::sleep_until(cmbench::now_ns() + 5'000'000);
    ASSERT_EQ(::write(fds[1], "x", 1), 1);
  });
  s.run();
  EXPECT_EQ(got, 'x');
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(FiberMN, OnThreadStackWorksOnAnyWorker) {
  Scheduler s(kTestStack, 2);
  std::atomic<int> calls{0};
  for (int i = 0; i < 50; ++i)
    s.spawn([&] {
      this_fiber::yield();
      s.on_thread_stack([&] { ++calls; });
    });
  s.run();
  EXPECT_EQ(calls.load(), 50);
}

// Every workload on two threads.
std::map<std::string, std::string> mn(std::map<std::string, std::string> given) {
  given["threads"] = "2";
  return given;
}

TEST(FiberMNWorkloads, Prodcons) {
  for (const char* pc : {"1", "4"})
    for (const char* cap : {"0", "1", "7"})
      expect_ok(cmbench::impls::prodcons_fiber,
                params_for(cmbench::prodcons::spec(), mn({{"producers", pc},
                                                          {"consumers", pc},
                                                          {"capacity", cap},
                                                          {"messages", "3000"}})));
}

TEST(FiberMNWorkloads, CounterModes) {
  for (const char* mode : {"lock", "atomic", "message"})
    expect_ok(cmbench::impls::counter_fiber,
              params_for(cmbench::counter::spec(),
                         mn({{"units", "16"}, {"increments", "2000"}, {"mode", mode}})));
}

TEST(FiberMNWorkloads, PingpongSpawnSkynetRing) {
  expect_ok(cmbench::impls::pingpong_fiber,
            params_for(cmbench::pingpong::spec(), mn({{"rounds", "2000"}})));
  expect_ok(cmbench::impls::spawn_fiber,
            params_for(cmbench::spawn::spec(), mn({{"units", "500"}})));
  expect_ok(cmbench::impls::skynet_fiber,
            params_for(cmbench::skynet::spec(), mn({{"leaves", "1000"}})));
  expect_ok(cmbench::impls::ring_fiber,
            params_for(cmbench::ring::spec(), mn({{"units", "503"}, {"hops", "2000"}})));
}

TEST(FiberMNWorkloads, SleepersAndEcho) {
  expect_ok(cmbench::impls::sleepers_fiber,
            params_for(cmbench::sleepers::spec(),
                       mn({{"units", "10"}, {"sleeps", "3"}, {"sleep_ms", "2"}})));
  for (const char* loop : {"closed", "open"})
    expect_ok(cmbench::impls::echo_fiber,
              params_for(cmbench::echo::spec(),
                         mn({{"connections", "8"}, {"requests", "200"}, {"loop", loop}})));
}

}  // namespace

// The echo load generator re-executes /proc/self/exe as `loadgen`, so this
// binary answers to that command itself, as the cmbench binary does.
int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "loadgen")
    return cmbench::echo::loadgen_main(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
