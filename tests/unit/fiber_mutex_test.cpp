// The fiber Mutex (models/fiber/mutex.hpp) on one thread, and the SpinLock
// (models/fiber/spinlock.hpp) that the M:N mode's wait queues take.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
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
