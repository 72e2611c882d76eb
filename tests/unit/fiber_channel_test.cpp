// Channel<T> (models/fiber/channel.hpp): Go's channel semantics on one
// thread.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "models/fiber/intrusive.hpp"
#include "tests/unit/fiber_test_support.hpp"

namespace fiber_test {
namespace {

using cmbench::fiber::IntrusiveQueue;

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
    EXPECT_EQ(ch.parked_receivers(), 0u);  // handed over whole (splice)
  });
  s.run();
  EXPECT_EQ(woke_empty, 3);
}

struct SpliceNode {
  SpliceNode* next = nullptr;
  int id = 0;
};

template <bool kCounted>
std::vector<int> drain_ids(IntrusiveQueue<SpliceNode, kCounted>& q) {
  std::vector<int> ids;
  while (SpliceNode* n = q.pop()) ids.push_back(n->id);
  return ids;
}

template <bool kCounted>
void splice_keeps_order_and_empties_the_source() {
  SpliceNode n[5];
  for (int i = 0; i < 5; ++i) n[i].id = i;
  IntrusiveQueue<SpliceNode, kCounted> a, b;
  a.splice(b);  // both empty
  EXPECT_TRUE(a.empty());
  b.push(&n[0]);
  b.push(&n[1]);
  a.splice(b);  // into an empty queue
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.size(), 0u);
  a.splice(b);  // an empty source changes nothing
  EXPECT_EQ(a.size(), 2u);
  b.push(&n[2]);
  b.push(&n[3]);
  a.splice(b);  // onto a non-empty queue: appended, in order
  a.push(&n[4]);
  EXPECT_EQ(a.size(), 5u);
  EXPECT_EQ(drain_ids(a), (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_TRUE(a.empty());
  b.push(&n[0]);  // the source is usable again
  EXPECT_EQ(drain_ids(b), (std::vector<int>{0}));
}

TEST(IntrusiveQueue, SpliceAppendsEveryNodeInOrderAndEmptiesTheSource) {
  splice_keeps_order_and_empties_the_source<true>();
  splice_keeps_order_and_empties_the_source<false>();
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

TEST(Channel, IsOneCacheLineAndRefusesACapacityItsIndicesCannotHold) {
  // The lock, the indices and both waiter queues share one line (see the
  // members' comment in channel.hpp); the indices are 32-bit.
  EXPECT_EQ(sizeof(Channel<std::string>), 64u);
  EXPECT_EQ(alignof(Channel<std::string>), 64u);
  auto ch = std::make_unique<Channel<std::string>>(3);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(ch.get()) % 64, 0u);
  EXPECT_THROW(Channel<int>(std::size_t{1} << 32), std::length_error);
}

TEST(Channel, CountsParkedWaitersWithoutKeepingACount) {
  // The waiter queues keep no length (IntrusiveQueue<T, false>): the counts
  // walk them, and follow pushes and pops.
  Scheduler s(kTestStack);
  Channel<int> ch(0);
  std::vector<int> got;
  for (int i = 0; i < 3; ++i) s.spawn([&ch, i] { ch.send(i); });
  s.spawn([&] {
    EXPECT_EQ(ch.parked_senders(), 3u);
    for (int i = 0; i < 3; ++i) {
      got.push_back(*ch.recv());
      EXPECT_EQ(ch.parked_senders(), static_cast<std::size_t>(2 - i));
    }
    EXPECT_EQ(ch.parked_receivers(), 0u);
  });
  s.run();
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2}));
}

}  // namespace
}  // namespace fiber_test
