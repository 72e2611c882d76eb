// The fiber Mutex (models/fiber/mutex.hpp) on one thread, and the SpinLock
// (models/fiber/spinlock.hpp) that the M:N mode's wait queues take.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "models/fiber/spinlock.hpp"

#include "tests/unit/fiber_test_support.hpp"

namespace fiber_test {
namespace {

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

// Normal mode: unlock() frees the lock and wakes the first waiter, and a
// fiber that relocks at once gets it back; the waiters still get it in
// their order once it is left free.
TEST(FiberMutex, UnlockFreesTheLockAndWakesTheWaitersInOrder) {
  Scheduler s(kTestStack);
  Mutex m;
  std::vector<int> order;
  s.spawn([&] {
    m.lock();
    this_fiber::yield();  // 1, 2, 3 park in that order
    EXPECT_EQ(m.waiters(), 3u);
    m.unlock();
    // Not handed over: waiter 1 is woken to compete, and has not run yet.
    EXPECT_TRUE(m.try_lock());
    EXPECT_EQ(m.waiters(), 2u);
    m.unlock();
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
  EXPECT_FALSE(m.locked());
  EXPECT_FALSE(m.starving());
}

// Starvation mode: a woken waiter that loses after waiting past the
// threshold gets the lock handed over at the next unlock, so the fiber that
// keeps relocking cannot take it back. The holder blocks its thread for
// twice the threshold, so the waiter has waited at least that long however
// slow the machine (a lower bound, not a timing assertion).
TEST(FiberMutex, AWaiterStarvedPastTheThresholdIsHandedTheLock) {
  Scheduler s(kTestStack);
  Mutex m;
  std::vector<std::string> events;
  s.spawn([&] {
    m.lock();
    this_fiber::yield();  // the waiter parks
    std::this_thread::sleep_for(std::chrono::nanoseconds(2 * Mutex::kStarvingAfterNs));
    m.unlock();            // wakes the waiter, which has not run yet
    EXPECT_TRUE(m.try_lock());  // normal mode: taken back at once
    this_fiber::yield();   // the waiter runs, loses, and starves the mutex
    EXPECT_TRUE(m.starving());
    m.unlock();            // handed over
    EXPECT_FALSE(m.try_lock());
    EXPECT_TRUE(m.locked());
    events.push_back("holder done");
  });
  s.spawn([&] {
    m.lock();
    events.push_back("waiter has it");
    // The only waiter, and it waited past the threshold: normal mode again.
    EXPECT_FALSE(m.starving());
    m.unlock();
  });
  s.run();
  EXPECT_EQ(events, (std::vector<std::string>{"holder done", "waiter has it"}));
  EXPECT_FALSE(m.locked());
}

// Fibers unwound while they wait (an exception stops the runtime): one
// woken to compete and not yet run, one still queued. The mutex is left free
// and empty, and works in the next run.
TEST(FiberMutex, WaitersUnwoundByAnExceptionLeaveItFreeAndEmpty) {
  Scheduler s(kTestStack);
  Mutex m;
  int unwound = 0;
  s.spawn([&] {
    m.lock();
    this_fiber::yield();  // two waiters park
    m.unlock();           // the first is woken, the second stays queued
    throw std::runtime_error("boom");
  });
  for (int f = 0; f < 2; ++f) {
    s.spawn([&] {
      try {
        m.lock();
      } catch (...) {
        ++unwound;
        throw;
      }
      m.unlock();
    });
  }
  EXPECT_THROW(s.run(), std::runtime_error);
  EXPECT_EQ(unwound, 2);
  EXPECT_FALSE(m.locked());
  EXPECT_EQ(m.waiters(), 0u);
  // Contended again: the unlock must wake the waiter (a woken mark left
  // behind by the unwound fiber would keep it parked: FiberDeadlock).
  int ran = 0;
  for (int f = 0; f < 2; ++f) {
    s.spawn([&] {
      m.lock();
      this_fiber::yield();
      ++ran;
      m.unlock();
    });
  }
  EXPECT_NO_THROW(s.run());
  EXPECT_EQ(ran, 2);
}

// --- SpinLock ---------------------------------------------------------------

// Threads that take the lock back to back, as fibers on every worker do a
// shared channel's: each waiter backs off and looks again, and no increment
// of the unguarded counter is lost.
TEST(SpinLock, ExcludesThreadsThatTakeItBackToBack) {
  cmbench::fiber::SpinLock lock;
  uint64_t counter = 0;
  constexpr int kThreads = 4, kEach = 50'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        std::lock_guard<cmbench::fiber::SpinLock> held(lock);
        ++counter;
      }
    });
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(counter, uint64_t{kThreads} * kEach);
}

// A holder that keeps the lock far longer than the spin budget (as a
// preempted one does): the waiter runs out of pauses, yields until the lock
// is free, and gets it then, not before.
TEST(SpinLock, AWaiterPastItsSpinBudgetGetsTheLockWhenItIsFreed) {
  cmbench::fiber::SpinLock lock;
  std::atomic<bool> released{false}, got{false}, early{false};
  lock.lock();
  std::thread waiter([&] {
    lock.lock();
    early = !released.load();
    got = true;
    lock.unlock();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(got.load());
  released = true;
  lock.unlock();
  waiter.join();
  EXPECT_TRUE(got.load());
  EXPECT_FALSE(early.load());
  EXPECT_TRUE(lock.try_lock());
  lock.unlock();
}

}  // namespace
}  // namespace fiber_test
