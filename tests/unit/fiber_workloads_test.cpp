// The fiber model's implementation of every catalog workload, at tiny sizes,
// on one thread (the M:N runs are in fiber_mn_test.cpp).
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <utility>
#include "workloads/blocking/spec.hpp"
#include "workloads/counter/spec.hpp"
#include "workloads/echo/spec.hpp"
#include "workloads/fairness/spec.hpp"
#include "workloads/idle/spec.hpp"
#include "workloads/pingpong/spec.hpp"
#include "workloads/prodcons/spec.hpp"
#include "workloads/ring/spec.hpp"
#include "workloads/skynet/spec.hpp"
#include "workloads/sleepers/spec.hpp"
#include "workloads/spawn/spec.hpp"

#include "tests/unit/fiber_test_support.hpp"

namespace fiber_test {
namespace {

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

// blocking: inline, and offload=pool through cmbench::fiber::offload, on one
// thread and in M:N mode.
class BlockingFiber : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};
TEST_P(BlockingFiber, EveryCallBlocksAndTheBystandersRun) {
  auto [offload, threads] = GetParam();
  expect_ok(cmbench::impls::blocking_fiber,
            params_for(cmbench::blocking::spec(), {{"blockers", "3"},
                                                   {"calls", "4"},
                                                   {"delay_us", "200"},
                                                   {"pairs", "2"},
                                                   {"offload", offload},
                                                   {"threads", threads}}));
}
INSTANTIATE_TEST_SUITE_P(Offloads, BlockingFiber,
                         ::testing::Combine(::testing::Values("inline", "pool"), ::testing::Values("1", "2")));

// blocking, offload=pool: while every blocker's call is on the pool, the
// bystanders go on; their round trips far outnumber the blocking calls.
TEST(BlockingFiberPool, BystandersRunWhileTheCallsBlock) {
  cmbench::Probe probe;
  cmbench::impls::blocking_fiber.run(
      params_for(cmbench::blocking::spec(),
                 {{"blockers", "2"}, {"calls", "5"}, {"delay_us", "2000"}, {"pairs", "1"}, {"offload", "pool"}}),
      probe);
  ASSERT_TRUE(probe.verdict().ok) << probe.verdict().message;
  const auto m = probe.metrics();
  // 10 calls of 2 ms on a pool: at least ~5 ms of wall time in which one
  // pair's round trip (microseconds) is free to run; inline, the pair would
  // get about one round trip per call.
  EXPECT_GT(m["latency_ns"]["count"].get<uint64_t>(), 100u);
}

class FairnessFiber : public ::testing::TestWithParam<std::string> {};
TEST_P(FairnessFiber, EveryHogSpendsItsBudget) {
  expect_ok(cmbench::impls::fairness_fiber,
            params_for(cmbench::fairness::spec(),
                       {{"hogs", "3"}, {"work_ms", "1"}, {"budget_ms", "3"}, {"yield", GetParam()}, {"pairs", "2"}}));
}
INSTANTIATE_TEST_SUITE_P(Yields, FairnessFiber, ::testing::Values("slice", "never"));

class IdleFiber : public ::testing::TestWithParam<int> {};
TEST_P(IdleFiber, ServesEveryTrickleRequest) {
  expect_ok(cmbench::impls::idle_fiber,
            params_for(cmbench::idle::spec(),
                       {{"connections", std::to_string(GetParam())}, {"requests", "2"}, {"rate", "3000"}}));
}
INSTANTIATE_TEST_SUITE_P(Connections, IdleFiber, ::testing::Values(1, 30));

}  // namespace
}  // namespace fiber_test
