// The shared pieces of the blocking, fairness and idle workloads: their
// verifiers fed good and bad tallies, Jain's index, the hogs' computation and
// its closed form, the progress snapshot, the trickle schedule, the blocking
// call and the thread counts.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "harness/cell/errors.hpp"
#include "harness/cell/params.hpp"
#include "workloads/blocking/spec.hpp"
#include "workloads/common/bystanders.hpp"
#include "workloads/echo/spec.hpp"
#include "workloads/fairness/spec.hpp"
#include "workloads/idle/spec.hpp"

namespace cmbench {
namespace {

Params params_of(const WorkloadSpec& spec, std::map<std::string, std::string> given) {
  return make_params(spec.params, given);
}

// --- bystanders ---

TEST(Bystanders, PassWhenEveryReplyIsCountedOnBothSides) {
  std::vector<bystanders::Tally> pairs(2);
  std::vector<Histogram> hists(2);
  for (int i = 0; i < 2; ++i) {
    for (uint64_t v = 0; v < 5; ++v) {
      bystanders::reply(pairs[i], v, v + 1);
      hists[i].record(100);
    }
    pairs[i].answered = 5;
  }
  EXPECT_TRUE(bystanders::verify(pairs, hists).ok);
  EXPECT_EQ(bystanders::round_trips(pairs), 10u);
}

TEST(Bystanders, FailOnAWrongReplyALostAnswerNoRoundTripOrAMissingSample) {
  std::vector<Histogram> hists(1);
  hists[0].record(1);
  hists[0].record(1);
  bystanders::Tally wrong;
  bystanders::reply(wrong, 0, 1);
  bystanders::reply(wrong, 1, 1);  // not v + 1
  wrong.answered = 2;
  EXPECT_FALSE(bystanders::verify({&wrong, 1}, hists).ok);

  bystanders::Tally lost{2, 0, 1};  // B answered one of A's two
  EXPECT_FALSE(bystanders::verify({&lost, 1}, hists).ok);

  bystanders::Tally none{0, 0, 0};
  EXPECT_FALSE(bystanders::verify({&none, 1}, {}).ok);

  bystanders::Tally three{3, 0, 3};  // three round trips, two samples
  const Verdict v = bystanders::verify({&three, 1}, hists);
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.message.find("latency samples"), std::string::npos) << v.message;
}

// --- blocking ---

TEST(Blocking, TheCallBlocksForItsDelay) {
  const int64_t took = blocking::blocking_call(2'000'000);
  EXPECT_GE(took, 2'000'000);
  EXPECT_LT(took, 1'000'000'000);
}

TEST(Blocking, VerifyChecksEveryBlockersCallsAndThatTheyBlocked) {
  const Params p = params_of(blocking::spec(), {{"blockers", "2"}, {"calls", "3"}, {"pairs", "1"}});
  std::vector<bystanders::Tally> pairs{{4, 0, 4}};
  std::vector<Histogram> hists(1);
  for (int i = 0; i < 4; ++i) hists[0].record(10);
  std::vector<blocking::Tally> good(2);
  for (auto& t : good)
    for (int k = 0; k < 3; ++k) blocking::called(t, 1'000'001, 1'000'000);
  EXPECT_TRUE(blocking::verify(p, good, pairs, hists).ok);

  auto early = good;
  blocking::called(early[1], 10, 1'000'000);  // returned before its delay
  early[1].calls = 3;
  const Verdict e = blocking::verify(p, early, pairs, hists);
  EXPECT_FALSE(e.ok);
  EXPECT_NE(e.message.find("did not block"), std::string::npos) << e.message;

  auto short_count = good;
  short_count[0].calls = 2;
  EXPECT_FALSE(blocking::verify(p, short_count, pairs, hists).ok);

  EXPECT_FALSE(blocking::verify(p, {good.data(), 1}, pairs, hists).ok);  // a blocker missing
  pairs[0].answered = 3;
  EXPECT_FALSE(blocking::verify(p, good, pairs, hists).ok);  // the bystanders' check
}

TEST(Blocking, ThreadCountsSeeTheThreadsAndTheChildren) {
  const uint64_t before = blocking::threads_now();
  ASSERT_GE(before, 1u);
  blocking::ThreadPeak peak;
  std::thread t([&] { peak.sample(); });
  t.join();
  EXPECT_GE(peak.peak(), before + 1);
  peak.observe(3);
  EXPECT_GE(peak.peak(), before + 1);

  int go[2];
  ASSERT_EQ(pipe(go), 0);
  const uint64_t alone = blocking::tree_threads(getpid());
  const pid_t child = fork();
  if (child == 0) {
    close(go[1]);  // so that the parent's close is end of file here
    char c;
    (void)!::read(go[0], &c, 1);
    _exit(0);
  }
  ASSERT_GT(child, 0);
  EXPECT_EQ(blocking::tree_threads(getpid()), alone + 1);
  close(go[1]);
  int status = 0;
  waitpid(child, &status, 0);
  close(go[0]);
}

// --- fairness ---

TEST(Fairness, JainsIndex) {
  const std::vector<uint64_t> equal{5, 5, 5, 5}, one{8, 0, 0, 0}, two{1, 3}, zero{0, 0};
  EXPECT_DOUBLE_EQ(fairness::jain_index(equal), 1.0);
  EXPECT_DOUBLE_EQ(fairness::jain_index(one), 0.25);
  EXPECT_DOUBLE_EQ(fairness::jain_index(two), 0.8);
  EXPECT_DOUBLE_EQ(fairness::jain_index(zero), 1.0);
  EXPECT_DOUBLE_EQ(fairness::jain_index({}), 1.0);
}

TEST(Fairness, TheClosedFormIsTheLoop) {
  for (uint64_t steps : {0ull, 1ull, 2ull, 3ull, 4095ull, 4096ull, 3 * 4096ull + 7}) {
    uint64_t x = 12345;
    for (uint64_t i = 0; i < steps; ++i) x = x * fairness::kLcgMul + fairness::kLcgInc;
    EXPECT_EQ(fairness::lcg_jump(12345, steps), x) << steps;
  }
  EXPECT_EQ(fairness::work_unit(1), fairness::lcg_jump(1, fairness::kUnitSteps));
  // The Go port (models/go/src/fairness_test.go) is checked against the same loop.
}

TEST(Fairness, TheFirstFinisherTakesTheSnapshot) {
  fairness::LocalBoard board(3);
  board->work(1, 2);
  board->work(0, 1);
  board->finish(1);  // first: sees (1, 2, 0)
  board->work(0, 1);
  board->work(2, 2);
  board->finish(0);
  EXPECT_FALSE(board->all_finished());
  board->finish(2);
  EXPECT_TRUE(board->all_finished());
  EXPECT_EQ(board->first(), 1u);
  EXPECT_EQ(board->snapshot(), (std::vector<uint64_t>{1, 2, 0}));
  EXPECT_EQ(board->state(2), fairness::lcg_jump(fairness::seed_of(2), 2 * fairness::kUnitSteps));
}

TEST(Fairness, VerifyWantsEveryBudgetTheRightStateAndTheSnapshot) {
  // budget_ms 1: kUnitsPerMs units per hog.
  const Params p = params_of(fairness::spec(), {{"hogs", "2"}, {"work_ms", "1"}, {"budget_ms", "1"}, {"pairs", "0"}});
  const uint64_t budget = fairness::budget_units(p);
  {
    fairness::LocalBoard board(2);
    board->work(0, budget);
    board->finish(0);
    board->work(1, budget);
    board->finish(1);
    EXPECT_TRUE(fairness::verify(p, *board, {}, {}).ok);
  }
  {
    fairness::LocalBoard board(2);  // hog 1 one unit short
    board->work(0, budget);
    board->finish(0);
    board->work(1, budget - 1);
    board->finish(1);
    EXPECT_FALSE(fairness::verify(p, *board, {}, {}).ok);
  }
  {
    fairness::LocalBoard board(2);  // never finished
    board->work(0, budget);
    board->work(1, budget);
    EXPECT_FALSE(fairness::verify(p, *board, {}, {}).ok);
  }
  {
    fairness::LocalBoard board(2);  // the snapshot taken before the first finisher was done
    board->work(0, budget - 1);
    board->finish(0);
    board->work(0, 1);
    board->work(1, budget);
    board->finish(1);
    EXPECT_FALSE(fairness::verify(p, *board, {}, {}).ok);
  }
}

TEST(Fairness, WorkMsMustFitTheBudget) {
  const Params p = params_of(fairness::spec(), {{"work_ms", "10"}, {"budget_ms", "5"}});
  ASSERT_TRUE(fairness::spec().validate);
  EXPECT_TRUE(fairness::spec().validate(p).has_value());
  EXPECT_EQ(fairness::spec().operations(params_of(fairness::spec(), {{"hogs", "3"}, {"budget_ms", "7"}})),
            3 * 7 * fairness::kUnitsPerMs);
}

// --- idle: the trickle schedule ---

TEST(Idle, TheTrickleGivesEveryConnectionItsRequestsEvenlySpaced) {
  const uint64_t c = 4, r = 3, rate = 8;  // 8 requests/s in all
  // Requests k in [C, C * (1 + R)) are the trickle: k = i * C + j.
  std::map<uint64_t, std::vector<int64_t>> due;  // per connection
  int64_t prev = -1;
  for (uint64_t k = c; k < c * (1 + r); ++k) {
    const int64_t at = echo::schedule_offset_ns(k, c, rate);
    EXPECT_GT(at, prev) << "the schedule must increase";
    prev = at;
    due[k % c].push_back(at);
  }
  ASSERT_EQ(due.size(), c);
  for (const auto& [j, times] : due) {
    ASSERT_EQ(times.size(), r) << "connection " << j;
    EXPECT_EQ(times.front(), static_cast<int64_t>(j * 1'000'000'000 / rate));
    // Each connection sends one request every C / rate seconds.
    for (size_t i = 1; i < times.size(); ++i)
      EXPECT_EQ(times[i] - times[i - 1], static_cast<int64_t>(c * 1'000'000'000 / rate));
  }
  // The whole trickle lasts C * R / rate seconds (the last one is due one interval before).
  EXPECT_EQ(echo::schedule_offset_ns(c * (1 + r) - 1, c, rate), static_cast<int64_t>((c * r - 1) * 1'000'000'000 / rate));
}

TEST(Idle, TheLoadIsTheIdleModeOfEchosGenerator) {
  const Params p = params_of(idle::spec(), {{"connections", "10"}, {"requests", "3"}, {"rate", "500"}});
  const echo::LoadSpec load = idle::load(p);
  EXPECT_EQ(load.loop, "idle");
  EXPECT_EQ(load.connections, 10u);
  EXPECT_EQ(load.trickle, 3u);
  EXPECT_EQ(load.requests, 40u);  // one first request and three trickle requests each
  EXPECT_EQ(load.size, idle::kRequestBytes);
  EXPECT_EQ(load.rate, 500u);
  EXPECT_EQ(idle::spec().operations(p), 30u);  // the trickle only
  EXPECT_TRUE(idle::verify_accepted(p, 10).ok);
  EXPECT_FALSE(idle::verify_accepted(p, 9).ok);
}

TEST(Idle, RaisesTheDescriptorLimitToTheHardOne) {
  rlimit before{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &before), 0);
  const std::string note = idle::raise_fd_limit(100);
  rlimit after{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &after), 0);
  EXPECT_EQ(after.rlim_cur, after.rlim_max == RLIM_INFINITY ? after.rlim_cur : after.rlim_max);
  EXPECT_GE(after.rlim_cur, before.rlim_cur);
  EXPECT_NE(note.find("RLIMIT_NOFILE"), std::string::npos) << note;
}

TEST(Idle, ALimitNoModelCanHoldIsALimitAtOnce) {
  // More descriptors than the kernel allows any process (fs.nr_open).
  unsigned long long nr_open = 0;
  if (FILE* f = std::fopen("/proc/sys/fs/nr_open", "r")) {
    ASSERT_EQ(std::fscanf(f, "%llu", &nr_open), 1);
    std::fclose(f);
  }
  ASSERT_GT(nr_open, 0u);
  try {
    idle::raise_fd_limit(nr_open + 1);
    FAIL() << "no LimitError";
  } catch (const LimitError& e) {
    EXPECT_EQ(e.err(), EMFILE);
    EXPECT_NE(std::string(e.what()).find("RLIMIT_NOFILE"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cmbench
