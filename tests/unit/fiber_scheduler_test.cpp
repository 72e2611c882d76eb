// The fiber runtime's scheduler on one thread (models/fiber/scheduler.hpp):
// spawn and run order, join, failures, deadlock, destruction, the thread's
// own stack. No timing assertions.
#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/unit/fiber_test_support.hpp"

namespace fiber_test {
namespace {

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

}  // namespace
}  // namespace fiber_test
