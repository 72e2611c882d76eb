// The run-queue policy (models/fiber/policy.hpp, run_queue.hpp): Go's order
// on one thread, tested on the queue itself and through the scheduler.
#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "models/fiber/policy.hpp"
#include "models/fiber/run_queue.hpp"

#include "tests/unit/fiber_test_support.hpp"

namespace fiber_test {
namespace {

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

TEST(RunQueue, PeekForeseesTheNextTwoPicksAndTakesNothing) {
  std::vector<QNode> n(Queue::kLocal + 3);
  for (size_t i = 0; i < n.size(); ++i) n[i].id = static_cast<int>(i);
  Queue q;
  q.reserve(n.size());
  EXPECT_EQ(q.peek(), nullptr);
  // Every source in turn: `next`, the local queue, the global queue.
  q.push(&n[0]);
  q.push_global(&n[1]);
  q.push_next(&n[2]);
  std::vector<int> seen;
  while (!q.empty()) {
    const size_t size = q.size();
    QNode* first = q.peek();
    QNode* second = q.peek(1);
    EXPECT_EQ(q.size(), size) << "peek takes nothing";
    QNode* got = q.pop();
    EXPECT_EQ(got, first);
    EXPECT_EQ(q.peek(), second) << "after taking " << got->id;
    seen.push_back(got->id);
  }
  EXPECT_EQ(seen, (std::vector<int>{2, 0, 1}));
  EXPECT_EQ(q.peek(1), nullptr);
  // After a spill, the local queue's head is mid-ring: peek(k) still names
  // the k-th pop (up to the 61st pick, which serves the global queue first:
  // the one case a peek misses).
  for (auto& node : n) q.push(&node);
  QNode* foreseen = q.peek(1);
  for (int pick = 1; pick <= 50; ++pick) {  // the queue has made 3 picks before
    QNode* first = q.peek();
    if (pick > 1) {
      EXPECT_EQ(first, foreseen) << "pick " << pick;
    }
    foreseen = q.peek(1);
    EXPECT_EQ(q.pop(), first) << "pick " << pick;
  }
}

// --- GoOrder: the reasons a fiber becomes runnable, mapped onto the queue -----
// --- StealQueue: a worker's own queue in M:N mode -----------------------------
using Steal = cmbench::fiber::StealQueue<QNode>;

TEST(StealQueue, AThiefTakesTheOlderHalfAndTheOwnerKeepsTheRestInOrder) {
  std::vector<QNode> n(7);
  std::array<QNode*, Steal::kCapacity / 2> spill{};
  Steal victim, thief;
  for (int i = 0; i < 7; ++i) {
    n[i].id = i;
    EXPECT_EQ(victim.push(&n[i], spill), 0u);
  }
  EXPECT_EQ(victim.size_hint(), 7u);
  // Half rounded up (4): the first runs at once, the other three go to the
  // thief's own queue.
  EXPECT_EQ(thief.steal_into(victim), nullptr);  // nothing to steal from an empty queue
  QNode* first = victim.steal_into(thief);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->id, 0);
  EXPECT_EQ(thief.size_hint(), 3u);
  std::vector<int> stolen, kept;
  while (QNode* q = thief.pop()) stolen.push_back(q->id);
  while (QNode* q = victim.pop()) kept.push_back(q->id);
  EXPECT_EQ(stolen, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(kept, (std::vector<int>{4, 5, 6}));
  EXPECT_EQ(victim.steal_into(thief), nullptr);
}

TEST(StealQueue, AFullQueueSpillsItsOlderHalfForTheGlobalQueue) {
  std::vector<QNode> n(Steal::kCapacity + 1);
  std::array<QNode*, Steal::kCapacity / 2> spill{};
  Steal q;
  for (std::size_t i = 0; i < Steal::kCapacity; ++i) {
    n[i].id = static_cast<int>(i);
    ASSERT_EQ(q.push(&n[i], spill), 0u);
  }
  n.back().id = static_cast<int>(Steal::kCapacity);
  ASSERT_EQ(q.push(&n.back(), spill), Steal::kCapacity / 2);
  for (std::size_t i = 0; i < Steal::kCapacity / 2; ++i) EXPECT_EQ(spill[i]->id, static_cast<int>(i));
  EXPECT_EQ(q.size_hint(), Steal::kCapacity / 2 + 1);
  EXPECT_EQ(q.pop()->id, static_cast<int>(Steal::kCapacity / 2));
}

TEST(StealQueue, ABatchFromTheGlobalQueueGoesBehindWhatIsQueuedInOrderAndCanBeStolen) {
  // Scheduler::take_global: the share a worker takes from the global queue
  // at once, under one lock of its own queue.
  std::vector<QNode> n(6);
  for (int i = 0; i < 6; ++i) n[i].id = i;
  std::array<QNode*, Steal::kCapacity / 2> spill{};
  Steal q, thief;
  ASSERT_EQ(q.push(&n[0], spill), 0u);
  const std::array<QNode*, 5> batch{&n[1], &n[2], &n[3], &n[4], &n[5]};
  q.push_batch(batch.data(), batch.size());
  EXPECT_EQ(q.size_hint(), 6u);
  QNode* first = q.steal_into(thief);  // half: 0, 1, 2
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->id, 0);
  std::vector<int> stolen, kept;
  while (QNode* x = thief.pop()) stolen.push_back(x->id);
  while (QNode* x = q.pop()) kept.push_back(x->id);
  EXPECT_EQ(stolen, (std::vector<int>{1, 2}));
  EXPECT_EQ(kept, (std::vector<int>{3, 4, 5}));
}

TEST(GoOrderPolicy, EachReasonTakesItsPlaceInGosOrder) {
  std::vector<ControlBlock> cb(6);
  cmbench::fiber::GoOrder p;
  p.reserve(cb.size());
  EXPECT_FALSE(p.has_ready_fibers());
  p.spawned(&cb[0], false);  // by the thread before run(): the tail
  p.polled(&cb[1]);          // by the reactor: the tail
  p.yielded(&cb[2]);         // behind everything
  p.spawned(&cb[3], true);   // by a fiber: next
  p.awakened(&cb[4]);        // made ready by a fiber: next, displacing 3 to the tail
  EXPECT_EQ(p.ready_count(), 5u);
  std::vector<ControlBlock*> order;
  while (ControlBlock* c = p.pick_next()) order.push_back(c);
  EXPECT_EQ(order, (std::vector<ControlBlock*>{&cb[4], &cb[0], &cb[1], &cb[3], &cb[2]}));
  EXPECT_FALSE(p.has_ready_fibers());
}

}  // namespace
}  // namespace fiber_test
