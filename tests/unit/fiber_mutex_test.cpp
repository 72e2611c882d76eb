// The fiber Mutex (models/fiber/mutex.hpp) on one thread.
#include <gtest/gtest.h>

#include <mutex>
#include <vector>

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

}  // namespace
}  // namespace fiber_test
