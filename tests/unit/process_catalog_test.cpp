// The process model's catalog workloads (pingpong, spawn, skynet, ring,
// sleepers) at tiny sizes, the parking primitives they use (park.hpp), and
// fault injection: a fork limit that makes spawn and skynet hit `limit`
// without hanging or leaving a process behind. No assertion depends on
// timing beyond "a sleep never ends before its deadline".
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "harness/cell/errors.hpp"
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/process/park.hpp"
#include "models/process/process.hpp"
#include "workloads/pingpong/spec.hpp"
#include "workloads/ring/spec.hpp"
#include "workloads/skynet/spec.hpp"
#include "workloads/sleepers/spec.hpp"
#include "workloads/spawn/spec.hpp"

namespace cmbench::models::process {
const ModelInfo& info();
}
namespace cmbench::impls {
extern const Impl pingpong_process;
extern const Impl spawn_process;
extern const Impl skynet_process;
extern const Impl ring_process;
extern const Impl sleepers_process;
}  // namespace cmbench::impls

namespace {

namespace pm = cmbench::models::process;

cmbench::Params params_of(const cmbench::WorkloadSpec& spec,
                          const std::map<std::string, std::string>& given) {
  auto defs = spec.params;
  const auto& model = pm::info().params;
  defs.insert(defs.end(), model.begin(), model.end());
  return cmbench::make_params(defs, given);
}

void expect_ok(const cmbench::Probe& probe) {
  EXPECT_TRUE(probe.started());
  EXPECT_TRUE(probe.stopped());
  EXPECT_TRUE(probe.verified());
  EXPECT_TRUE(probe.verdict().ok) << probe.verdict().message;
}

// This test process adopts every orphan of the processes it forks, so a unit
// that outlived its run (a grandchild never reaped by its parent) would show
// up here as a child.
void become_subreaper() { ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0); }

// True when this process has no child left, reaped or not.
bool no_children_left() {
  int status;
  return ::waitpid(-1, &status, WNOHANG) == -1 && errno == ECHILD;
}

class ProcessCatalog : public ::testing::Test {
 protected:
  void SetUp() override { become_subreaper(); }
  void TearDown() override { EXPECT_TRUE(no_children_left()); }
};

// --- park.hpp -------------------------------------------------------------

TEST_F(ProcessCatalog, AwaitAnnouncementsCountsEveryUnit) {
  pm::Pipe p = pm::make_pipe();
  pm::Children children(5);
  for (int i = 0; i < 5; ++i)
    children.spawn([&] {
      p.read.close();
      pm::announce(p.write);
    });
  p.write.close();
  EXPECT_EQ(pm::await_announcements(p.read, 5), 5u);
  children.reap_all();
}

TEST_F(ProcessCatalog, AwaitAnnouncementsStopsAtEndOfFile) {
  pm::Pipe p = pm::make_pipe();
  pm::Children children(5);
  // Two of five units end without announcing.
  for (int i = 0; i < 5; ++i)
    children.spawn([&, i] {
      p.read.close();
      if (i % 2 == 0) pm::announce(p.write);
    });
  p.write.close();
  EXPECT_EQ(pm::await_announcements(p.read, 5), 3u);
  children.reap_all();
}

TEST_F(ProcessCatalog, AwaitAnnouncementsLeavesExtraBytes) {
  pm::Pipe p = pm::make_pipe();
  for (int i = 0; i < 4; ++i) pm::announce(p.write);
  EXPECT_EQ(pm::await_announcements(p.read, 3), 3u);
  p.write.close();
  EXPECT_EQ(pm::await_announcements(p.read, 10), 1u);
}

TEST_F(ProcessCatalog, ParkReturnsWhenTheLastWriteEndCloses) {
  pm::Pipe release = pm::make_pipe();
  pm::Pipe parked = pm::make_pipe();
  pm::Children children(3);
  for (int i = 0; i < 3; ++i)
    children.spawn([&] {
      release.write.close();
      parked.read.close();
      pm::announce(parked.write);
      parked.write.close();
      pm::park_until_eof(release.read);
    });
  parked.write.close();
  ASSERT_EQ(pm::await_announcements(parked.read, 3), 3u);
  release.write.close();
  EXPECT_NO_THROW(children.reap_all());
}

TEST_F(ProcessCatalog, ParkFailsWhenDataArrives) {
  pm::Pipe release = pm::make_pipe();
  pm::Children children(1);
  children.spawn([&] {
    release.write.close();
    pm::park_until_eof(release.read);
  });
  const char byte = 'x';
  pm::write_all(release.write, &byte, 1);
  EXPECT_THROW(children.reap_all(), cmbench::SystemError);
}

TEST_F(ProcessCatalog, SleepUntilNeverWakesEarly) {
  for (int64_t ahead : {0, 1'000, 100'000, 2'000'000}) {
    const int64_t due = cmbench::now_ns() + ahead;
    pm::sleep_until(due);
    EXPECT_GE(cmbench::now_ns(), due) << ahead;
  }
  // A deadline in the past returns at once, without error.
  EXPECT_NO_THROW(pm::sleep_until(cmbench::now_ns() - 1'000'000'000));
}

// --- pingpong -------------------------------------------------------------

TEST_F(ProcessCatalog, PingpongCountsEveryReply) {
  for (const char* rounds : {"1", "1000"}) {
    const auto params = params_of(cmbench::pingpong::spec(), {{"rounds", rounds}});
    cmbench::Probe probe;
    cmbench::impls::pingpong_process.run(params, probe);
    expect_ok(probe);
    EXPECT_EQ(probe.merged_latency().count(), params.u("rounds"));
  }
}

// --- spawn ----------------------------------------------------------------

TEST_F(ProcessCatalog, SpawnParksAndReapsEveryUnit) {
  for (const char* units : {"1", "10", "500"}) {
    const auto params = params_of(cmbench::spawn::spec(), {{"units", units}});
    cmbench::Probe probe;
    cmbench::impls::spawn_process.run(params, probe);
    expect_ok(probe);
    EXPECT_FALSE(probe.notes().contains("reached"));
    const auto metrics = probe.metrics();
    EXPECT_TRUE(metrics.contains("memory_per_unit_bytes")) << metrics.dump();
  }
}

// --- skynet ---------------------------------------------------------------

TEST_F(ProcessCatalog, SkynetSumsEveryLeaf) {
  for (const char* leaves : {"1", "10", "100", "1000"}) {
    const auto params = params_of(cmbench::skynet::spec(), {{"leaves", leaves}});
    cmbench::Probe probe;
    cmbench::impls::skynet_process.run(params, probe);
    expect_ok(probe);
  }
}

// --- ring -----------------------------------------------------------------

TEST_F(ProcessCatalog, RingEndsAtTheRightUnit) {
  // T < N, T = N, T a multiple of N, and the sizes of the brief.
  const std::vector<std::pair<const char*, const char*>> sizes = {
      {"2", "1"}, {"3", "3"}, {"7", "10"}, {"4", "8"}, {"5", "1000"}, {"503", "2000"}};
  for (const auto& [units, hops] : sizes) {
    const auto params = params_of(cmbench::ring::spec(), {{"units", units}, {"hops", hops}});
    cmbench::Probe probe;
    cmbench::impls::ring_process.run(params, probe);
    expect_ok(probe);
  }
}

// --- sleepers -------------------------------------------------------------

TEST_F(ProcessCatalog, SleepersWakeEveryTimeNeverEarly) {
  const std::vector<std::map<std::string, std::string>> sizes = {
      {{"units", "10"}, {"sleeps", "3"}, {"sleep_ms", "2"}},
      {{"units", "1"}, {"sleeps", "1"}, {"sleep_ms", "1"}}};
  for (const auto& given : sizes) {
    const auto params = params_of(cmbench::sleepers::spec(), given);
    cmbench::Probe probe;
    cmbench::impls::sleepers_process.run(params, probe);
    expect_ok(probe);
    EXPECT_EQ(probe.merged_latency().count(), params.u("units") * params.u("sleeps"));
    EXPECT_TRUE(probe.metrics().contains("memory_per_unit_bytes"));
  }
}

// --- fault injection: a fork limit ----------------------------------------

// Processes whose real user is `uid`, from /proc.
int processes_of(uid_t uid) {
  int count = 0;
  DIR* dir = ::opendir("/proc");
  if (!dir) return -1;
  while (auto* ent = ::readdir(dir)) {
    if (ent->d_name[0] < '0' || ent->d_name[0] > '9') continue;
    std::ifstream in(std::string("/proc/") + ent->d_name + "/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("Uid:", 0) == 0) {
        std::istringstream fields(line.substr(4));
        uid_t real = 0;
        if (fields >> real && real == uid) ++count;
        break;
      }
    }
  }
  ::closedir(dir);
  return count;
}

// What a limited run ended with, sent from the limited child to the test.
struct LimitedOutcome {
  int kind = 0;  // 1 LimitError, 2 other exception, 3 no exception
  int err = 0;
  long long reached = -1;
  bool leftovers = false;
  char message[400] = {};
};

// Runs `run` in a forked child that is a subreaper, runs as an unprivileged
// user (RLIMIT_NPROC does not apply to root) and may have at most `forks`
// more processes of that user, and dies by SIGALRM if it hangs.
// `uid`: one of the calling test's own (no account needed): RLIMIT_NPROC
// counts per uid, and the tests that lower it run in parallel (ctest -j), so
// each has a uid no other test uses (60002-60006 are taken elsewhere).
LimitedOutcome run_with_fork_limit(uid_t uid, int forks,
                                   const std::function<void(cmbench::Probe&)>& run) {
  if (::getuid() != 0) {
    ADD_FAILURE() << "needs root to switch to an unprivileged user";
    return {};
  }
  const pm::SharedMapping shared(sizeof(LimitedOutcome));
  auto* out = new (shared.data()) LimitedOutcome{};
  // The previous run's processes of this uid may still be exiting; they
  // count against the limit until they are gone, so wait for them (5 s at
  // most) rather than count a moving number.
  for (int i = 0; i < 500 && processes_of(uid) > 0; ++i) ::usleep(10'000);
  const int existing = processes_of(uid);
  pm::Children child(1);
  child.spawn([&] {
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) cmbench::throw_errno("prctl");
    // This process itself counts once it is the user's.
    const rlim_t cap = static_cast<rlim_t>(existing + 1 + forks);
    const rlimit limit{cap, cap};
    if (::setrlimit(RLIMIT_NPROC, &limit) != 0) cmbench::throw_errno("setrlimit");
    if (::setgid(uid) != 0) cmbench::throw_errno("setgid");
    if (::setuid(uid) != 0) cmbench::throw_errno("setuid");
    ::alarm(60);
    cmbench::Probe probe;
    try {
      run(probe);
      out->kind = 3;
    } catch (const cmbench::LimitError& e) {
      out->kind = 1;
      out->err = e.err();
      std::strncpy(out->message, e.what(), sizeof out->message - 1);
    } catch (const std::exception& e) {
      out->kind = 2;
      std::strncpy(out->message, e.what(), sizeof out->message - 1);
    }
    if (probe.notes().contains("reached")) out->reached = probe.notes()["reached"].get<long long>();
    out->leftovers = !no_children_left();
  });
  child.reap_all();
  return *out;
}

TEST_F(ProcessCatalog, SpawnAtAForkLimitReleasesWhatItMadeAndSaysHowFar) {
  const auto params = params_of(cmbench::spawn::spec(), {{"units", "200"}});
  const LimitedOutcome out = run_with_fork_limit(
      60010, 40, [&](cmbench::Probe& probe) { cmbench::impls::spawn_process.run(params, probe); });
  EXPECT_EQ(out.kind, 1) << out.message;
  EXPECT_EQ(out.err, EAGAIN);
  EXPECT_GT(out.reached, 0);
  EXPECT_LE(out.reached, 40);
  EXPECT_NE(std::string(out.message).find("of 200 units"), std::string::npos) << out.message;
  EXPECT_FALSE(out.leftovers);
}

// A unit reaps its children only after all ten have reported, and a zombie
// still counts against RLIMIT_NPROC, so the 1,000-leaf tree needs at least 31
// processes at once (the root, its 10 children, the last one's 10 and that
// one's 10 leaves) however the scheduler orders them: any limit below that
// must fail, at the root or deep inside the tree.
TEST_F(ProcessCatalog, SkynetAtAForkLimitTearsTheTreeDownAndReportsIt) {
  for (const int forks : {0, 1, 5, 12, 20, 30}) {
    const auto params = params_of(cmbench::skynet::spec(), {{"leaves", "1000"}});
    const LimitedOutcome out = run_with_fork_limit(
        60011, forks, [&](cmbench::Probe& probe) { cmbench::impls::skynet_process.run(params, probe); });
    EXPECT_EQ(out.kind, 1) << forks << ": " << out.message;
    EXPECT_EQ(out.err, EAGAIN) << forks;
    EXPECT_FALSE(out.leftovers) << forks;
  }
}

}  // namespace

namespace {

TEST_F(ProcessCatalog, RingAndSleepersAtAForkLimitKillAndReapWhatTheyMade) {
  const auto ring = params_of(cmbench::ring::spec(), {{"units", "50"}, {"hops", "1000"}});
  LimitedOutcome out = run_with_fork_limit(
      60012, 10, [&](cmbench::Probe& probe) { cmbench::impls::ring_process.run(ring, probe); });
  EXPECT_EQ(out.kind, 1) << out.message;
  EXPECT_EQ(out.err, EAGAIN);
  // At most the 10 forks allowed; fewer when the runtime has threads of its
  // own, which RLIMIT_NPROC counts too (AddressSanitizer's, for one).
  EXPECT_GE(out.reached, 1);
  EXPECT_LE(out.reached, 10);
  EXPECT_FALSE(out.leftovers);

  const auto sleepers = params_of(cmbench::sleepers::spec(),
                                  {{"units", "50"}, {"sleeps", "3"}, {"sleep_ms", "2"}});
  out = run_with_fork_limit(
      60012, 10, [&](cmbench::Probe& probe) { cmbench::impls::sleepers_process.run(sleepers, probe); });
  EXPECT_EQ(out.kind, 1) << out.message;
  EXPECT_EQ(out.err, EAGAIN);
  // A sleeper that has done its sleeps waits for the release, so none has
  // ended before the fork that fails: at most the 10 allowed were made.
  EXPECT_GE(out.reached, 1);
  EXPECT_LE(out.reached, 10);
  EXPECT_FALSE(out.leftovers);
}

}  // namespace
