// The boost-fiber model: how the suite's capacity maps onto Boost.Fiber's
// channels (semantics, no timing), and every workload run in-process at tiny
// sizes, started, stopped and verified. The echo load generator re-executes
// this binary as `loadgen`, hence the main at the end.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/boost_fiber/runtime.hpp"
#include "tests/unit/catalog_cells.hpp"
#include "workloads/echo/spec.hpp"

namespace cmbench {
namespace {

namespace bf = cmbench::boost_fiber;
namespace fibers = boost::fibers;

// The stacks are colored (models/stack_color.hpp): sixteen 16 KiB stacks in
// a row have their tops at sixteen different offsets in their pages, and each
// has at least the stack_size asked for.
TEST(BoostFiberStacks, ConsecutiveStacksStartAtDifferentOffsetsInTheirPages) {
  constexpr std::size_t kSize = 16384;
  auto salloc = bf::stack_allocator(kSize);
  std::vector<boost::context::stack_context> stacks;
  std::set<uintptr_t> offsets;
  for (int i = 0; i < 16; ++i) {
    stacks.push_back(salloc.allocate());
    EXPECT_GE(stacks.back().size, kSize);
    offsets.insert(reinterpret_cast<uintptr_t>(stacks.back().sp) % 4096);
  }
  EXPECT_EQ(offsets.size(), 16u) << "sixteen stacks in a row should start at sixteen offsets in their pages";
  for (auto& sc : stacks) salloc.deallocate(sc);
}

TEST(BoostFiberCapacity, BufferedCapacityIsAPowerOfTwoHoldingAtLeastB) {
  EXPECT_EQ(bf::buffered_capacity_for(1), 2u);
  EXPECT_EQ(bf::buffered_capacity_for(3), 4u);
  EXPECT_EQ(bf::buffered_capacity_for(7), 8u);
  EXPECT_EQ(bf::buffered_capacity_for(1023), 1024u);
  EXPECT_EQ(bf::buffered_capacity_for(1024), 2048u);
  EXPECT_EQ(bf::buffered_capacity_for(2), 4u);
  EXPECT_FALSE(bf::needs_credits(1));
  EXPECT_FALSE(bf::needs_credits(7));
  EXPECT_FALSE(bf::needs_credits(1023));
  EXPECT_TRUE(bf::needs_credits(2));
  EXPECT_TRUE(bf::needs_credits(1024));
  for (uint64_t b = 1; b < 5000; ++b) {
    const uint64_t cap = bf::buffered_capacity_for(b);
    EXPECT_EQ(cap & (cap - 1), 0u) << b;
    EXPECT_GE(cap - 1, b) << b;
    EXPECT_LT(cap / 2 - 1, b) << b;  // the smallest that fits
  }
}

// The trap itself, checked against the library: buffered_channel(n) holds
// n - 1 values, and refuses a size that is not a power of two >= 2.
TEST(BoostFiberCapacity, BufferedChannelHoldsSizeMinusOne) {
  fibers::buffered_channel<int> ch(8);
  int pushed = 0;
  while (ch.try_push(pushed) == fibers::channel_op_status::success) ++pushed;
  EXPECT_EQ(pushed, 7);
  EXPECT_THROW(fibers::buffered_channel<int>(6), fibers::fiber_error);
  EXPECT_THROW(fibers::buffered_channel<int>(1), fibers::fiber_error);
}

// ExactChannel holds exactly B values for every B, and gives each back in order.
TEST(BoostFiberCapacity, ExactChannelHoldsExactlyB) {
  for (uint64_t b : {1u, 2u, 3u, 5u, 7u, 8u, 100u, 1023u, 1024u, 1025u}) {
    bf::ExactChannel<uint64_t> ch(b);
    EXPECT_EQ(ch.uses_credits(), bf::needs_credits(b)) << b;
    uint64_t held = 0;
    while (ch.try_push(held)) ++held;
    EXPECT_EQ(held, b);
    // One received frees exactly one slot.
    uint64_t v = 99;
    ASSERT_TRUE(ch.pop(v));
    EXPECT_EQ(v, 0u);
    EXPECT_TRUE(ch.try_push(held));
    EXPECT_FALSE(ch.try_push(held + 1));
    ch.close();
    uint64_t expect = 1, got = 0;
    while (ch.pop(v)) {
      EXPECT_EQ(v, expect++);
      ++got;
    }
    EXPECT_EQ(got, b) << b;
  }
}

// A sender parked on a full ExactChannel resumes once a value was received,
// never before, and the values in flight never exceed B.
TEST(BoostFiberCapacity, ExactChannelParksSenderWhileFull) {
  constexpr uint64_t kB = 5, kN = 200;
  bf::ExactChannel<uint64_t> ch(kB);
  uint64_t sent = 0, received = 0, max_in_flight = 0;
  fibers::fiber producer([&] {
    for (uint64_t i = 0; i < kN; ++i) {
      ch.push(i);
      ++sent;
      max_in_flight = std::max(max_in_flight, sent - received);
    }
    ch.close();
  });
  fibers::fiber consumer([&] {
    uint64_t v = 0, expect = 0;
    while (ch.pop(v)) {
      EXPECT_EQ(v, expect++);
      ++received;
      boost::this_fiber::yield();  // let the producer fill the buffer again
    }
  });
  producer.join();
  consumer.join();
  EXPECT_EQ(received, kN);
  EXPECT_EQ(max_in_flight, kB);
}

// unbuffered_channel is a rendezvous: push() returns only after pop() took it.
TEST(BoostFiberCapacity, UnbufferedIsARendezvous) {
  fibers::unbuffered_channel<int> ch;
  bool pushed = false, popped = false;
  fibers::fiber producer([&] {
    ch.push(7);
    EXPECT_TRUE(popped);
    pushed = true;
  });
  fibers::fiber consumer([&] {
    for (int i = 0; i < 5; ++i) boost::this_fiber::yield();
    EXPECT_FALSE(pushed);
    int v = 0;
    ASSERT_EQ(ch.pop(v), fibers::channel_op_status::success);
    popped = true;
    EXPECT_EQ(v, 7);
  });
  producer.join();
  consumer.join();
  EXPECT_TRUE(pushed);
}

INSTANTIATE_TEST_SUITE_P(BoostFiberWorkloads, CatalogCells,
                         ::testing::ValuesIn(catalog_cells::entries_of("boost-fiber")),
                         catalog_cells::test_name);

// echo's cells install their own Boost.Fiber algorithm (the Asio bridge);
// the fibers of this thread still run on Boost.Fiber's default afterwards.
TEST(BoostFiberWorkloads, EchoLeavesTheDefaultScheduler) {
  catalog_cells::run_workload("boost-fiber", "echo");
  fibers::unbuffered_channel<int> ch;
  fibers::fiber f([&] { ch.push(1); });
  int v = 0;
  EXPECT_EQ(ch.pop(v), fibers::channel_op_status::success);
  f.join();
}

}  // namespace
}  // namespace cmbench

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "loadgen")
    return cmbench::echo::loadgen_main(argc, argv);
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
