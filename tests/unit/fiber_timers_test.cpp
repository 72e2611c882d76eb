// Timers (models/fiber/timers.hpp): the heap on its own, with a hand-driven
// clock, and sleepers through the scheduler.
#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>
#include <vector>
#include "models/fiber/timers.hpp"

#include "tests/unit/fiber_test_support.hpp"

namespace fiber_test {
namespace {

// --- the heap on its own ----------------------------------------------------
// Fake control blocks: the heap only stores and hands back the pointers.
ControlBlock* fake(std::uintptr_t id) { return reinterpret_cast<ControlBlock*>(id * 64); }

TEST(FiberTimerHeap, FiresDueTimersEarliestFirstAndFifoAmongEquals) {
  cmbench::fiber::Timers t;
  t.add(300, fake(1));
  t.add(100, fake(2));
  t.add(200, fake(3));
  t.add(100, fake(4));  // same deadline as 2, added later
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t.nearest(), 100);
  std::vector<ControlBlock*> fired;
  auto record = [&](ControlBlock* cb) { fired.push_back(cb); };
  EXPECT_EQ(t.fire_due(99, record), 0u);  // nothing is due before its deadline
  EXPECT_EQ(t.fire_due(200, record), 3u);
  EXPECT_EQ(fired, (std::vector<ControlBlock*>{fake(2), fake(4), fake(3)}));
  EXPECT_EQ(t.nearest(), 300);
  t.clear();
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.fire_due(1000, record), 0u);
}

// --- sleepers through the scheduler --------------------------------------------
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

}  // namespace
}  // namespace fiber_test
