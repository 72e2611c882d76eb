// The parts of `cmbench run` that decide without running a cell: which
// outcomes fail a run, which cells --pin pins, and the pin itself; and the
// cores' round trip the runner times around cells on several threads.
#include "harness/driver/run.hpp"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include "harness/cell/speed.hpp"
#include "harness/driver/matrix.hpp"
#include "harness/sandbox/pin.hpp"

namespace cmbench {
namespace {

TEST(RunStatus, ALimitIsAResultUnlessStrict) {
  EXPECT_TRUE(outcome_passes(Outcome::ok, false));
  EXPECT_TRUE(outcome_passes(Outcome::ok, true));
  EXPECT_TRUE(outcome_passes(Outcome::limit, false));
  EXPECT_FALSE(outcome_passes(Outcome::limit, true));
  for (Outcome o : {Outcome::crashed, Outcome::invalid, Outcome::timeout, Outcome::failed}) {
    EXPECT_FALSE(outcome_passes(o, false)) << to_string(o);
    EXPECT_FALSE(outcome_passes(o, true)) << to_string(o);
  }
}

TEST(Pin, OnlyCellsWhoseUnitsAllRunOnOneThread) {
  EXPECT_TRUE(pinned_cell("pingpong", "uv", {{"continuation", "inline"}}));
  EXPECT_TRUE(pinned_cell("prodcons", "fiber", {{"threads", "1"}}));
  EXPECT_TRUE(pinned_cell("prodcons", "coro", {{"threads", "1"}}));
  EXPECT_TRUE(pinned_cell("skynet", "boost-fiber", {}));
  EXPECT_FALSE(pinned_cell("prodcons", "fiber", {{"threads", "0"}}));
  EXPECT_FALSE(pinned_cell("prodcons", "coro", {{"threads", "2"}}));
  EXPECT_FALSE(pinned_cell("prodcons", "boost-fiber", {{"threads", "4"}}));
  EXPECT_FALSE(pinned_cell("prodcons", "thread", {}));  // capacity 1024 by default
  EXPECT_FALSE(pinned_cell("prodcons", "process", {{"capacity", "1"}}));
  EXPECT_FALSE(pinned_cell("prodcons", "thread", {{"capacity", "0"}, {"producers", "4"}, {"consumers", "4"}}));
  EXPECT_FALSE(pinned_cell("counter", "thread", {}));
  EXPECT_FALSE(pinned_cell("spawn", "process", {}));
  // Kernel-scheduled cells whose units hand the work on one at a time
  // (WorkloadSpec::hands_off) run on one CPU too: the kernel's switch, not
  // where the scheduler put the two ends.
  EXPECT_TRUE(pinned_cell("pingpong", "thread", {}));
  EXPECT_TRUE(pinned_cell("pingpong", "process", {{"rounds", "100"}}));
  EXPECT_TRUE(pinned_cell("ring", "thread", {{"units", "503"}}));
  EXPECT_TRUE(pinned_cell("prodcons", "process", {{"capacity", "0"}}));
  EXPECT_TRUE(pinned_cell("prodcons", "thread", {{"capacity", "0"}, {"producers", "1"}, {"consumers", "1"}}));
  // A user-space model's hand-off is pinned only on one thread, as before.
  EXPECT_FALSE(pinned_cell("pingpong", "fiber", {{"threads", "0"}}));
  EXPECT_FALSE(pinned_cell("pingpong", "nosuch", {}));
  EXPECT_FALSE(pinned_cell("nosuch", "uv", {}));
  EXPECT_FALSE(pinned_cell("blocking", "coro", {{"threads", "1"}}));  // its offload pool would share the CPU
  // A load generator goes to the other CPUs (apply_pin), so the one-thread
  // cells it loads are pinned like the rest.
  EXPECT_TRUE(pinned_cell("echo", "uv", {}));
  EXPECT_TRUE(pinned_cell("idle", "fiber", {{"threads", "1"}}));
  EXPECT_TRUE(pinned_cell("echo", "go", {{"gomaxprocs", "1"}}));
  EXPECT_FALSE(pinned_cell("echo", "fiber", {{"threads", "0"}}));
  EXPECT_FALSE(pinned_cell("echo", "thread", {}));
  EXPECT_FALSE(pinned_cell("idle", "process", {}));
  EXPECT_EQ(*not_on_one_thread("prodcons", "coro", {{"threads", "2"}}),
            "prodcons/coro: threads:2 runs its units on several kernel threads; only threads:1 runs them on one");
  EXPECT_EQ(check_pin("auto"), "");
  EXPECT_EQ(check_pin("off"), "");
  EXPECT_EQ(check_pin("on"), "--pin: 'on' is not accepted; accepted: auto (one-thread cells on one CPU), off");
}

// The cell side: asked, the process (and every thread it starts) may run on
// one CPU only, the one it was on, and it leaves the other CPUs it was
// allowed to its load generator; a bad request is an error, not ignored;
// not asked, nothing changes and no load generator is sent anywhere.
TEST(Pin, TheCellPinsItselfToTheCpuItIsOn) {
  if (!can_pin()) GTEST_SKIP() << "this process may run on one CPU only";
  auto in_child = [](const char* value) {
    const pid_t pid = fork();
    if (pid == 0) {
      cpu_set_t before;
      CPU_ZERO(&before);
      sched_getaffinity(0, sizeof before, &before);
      setenv(kLoadGenCpusEnv, "0", 1);  // inherited: never passed on as it is
      if (value) setenv(kPinEnv, value, 1);
      if (!apply_pin().empty()) _exit(3);
      if (std::getenv(kPinEnv)) _exit(4);  // not passed on to what the cell starts
      cpu_set_t set;
      CPU_ZERO(&set);
      if (sched_getaffinity(0, sizeof set, &set) != 0) _exit(5);
      const char* left = std::getenv(kLoadGenCpusEnv);
      if (!value) _exit(CPU_EQUAL(&set, &before) && !left ? 0 : 6);
      if (CPU_COUNT(&set) != 1 || !CPU_ISSET(sched_getcpu(), &set)) _exit(6);
      // The rest of `before`, in order, separated by commas.
      std::string rest;
      for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
        if (CPU_ISSET(cpu, &before) && !CPU_ISSET(cpu, &set)) {
          if (!rest.empty()) rest += ',';
          rest += std::to_string(cpu);
        }
      _exit(left && rest == left ? 0 : 7);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  EXPECT_EQ(in_child("1"), 0);
  EXPECT_EQ(in_child(nullptr), 0);
  EXPECT_EQ(in_child("yes"), 3);
}

// The load generator's side: it moves to the CPUs named; a value that is not
// a list of CPU numbers is an error naming the variable; unset, it stays.
TEST(Pin, TheLoadGeneratorMovesToTheCpusTheCellLeft) {
  if (!can_pin()) GTEST_SKIP() << "this process may run on one CPU only";
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  ASSERT_EQ(sched_getaffinity(0, sizeof allowed, &allowed), 0);
  int last = -1;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &allowed)) last = cpu;
  auto in_child = [](const char* value, int want_only) {
    const pid_t pid = fork();
    if (pid == 0) {
      cpu_set_t before;
      CPU_ZERO(&before);
      sched_getaffinity(0, sizeof before, &before);
      if (value) setenv(kLoadGenCpusEnv, value, 1);
      else unsetenv(kLoadGenCpusEnv);
      const CpuMove move = apply_load_generator_cpus();
      if (!move.error.empty()) {
        if (move.error.find(kLoadGenCpusEnv) == std::string::npos) _exit(4);
        if (move.error.find("accepted") != std::string::npos) _exit(move.err == EINVAL ? 3 : 4);
        // A list the kernel refuses: the errno of sched_setaffinity, named.
        _exit(move.error.find("sched_setaffinity") != std::string::npos && move.err == EINVAL ? 7 : 4);
      }
      cpu_set_t set;
      CPU_ZERO(&set);
      if (sched_getaffinity(0, sizeof set, &set) != 0) _exit(5);
      if (want_only < 0) _exit(CPU_EQUAL(&set, &before) ? 0 : 6);
      _exit(CPU_COUNT(&set) == 1 && CPU_ISSET(want_only, &set) ? 0 : 6);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  EXPECT_EQ(in_child(std::to_string(last).c_str(), last), 0);
  EXPECT_EQ(in_child(nullptr, -1), 0);
  for (const char* bad : {"x", "1,", ",1", "-1", "1;2", "1 ", "99999"}) EXPECT_EQ(in_child(bad, -1), 3) << bad;
  // A well-formed list of no CPU this process may use (none is numbered
  // CPU_SETSIZE - 1 here): sched_setaffinity() fails with EINVAL.
  if (last < CPU_SETSIZE - 1) {
    EXPECT_EQ(in_child(std::to_string(CPU_SETSIZE - 1).c_str(), -1), 7);
  }
}

// The runner times the cores' round trip (ref_cross_cpu_ns) around the
// cells whose units run on several threads, and around no other: not the
// one-thread cells, nor the kernel-scheduled ones that --pin puts on one CPU.
TEST(CrossCpu, TimedAroundTheCellsOnSeveralThreadsOnly) {
  Selection sel;
  sel.models = {"fiber", "thread", "go"};
  sel.workloads = {"pingpong", "prodcons"};
  int several = 0, one = 0;
  for (const Cell& cell : expand(sel)) {
    const RepetitionRequest pinned = repetition_request(cell, 10, nullptr, true);
    const RepetitionRequest unpinned = repetition_request(cell, 10, nullptr, false);
    const bool on_several = not_on_one_thread(pinned.workload, pinned.model, pinned.params).has_value();
    EXPECT_EQ(pinned.cross_cpu, on_several && !pinned.pin) << cell.name;
    EXPECT_EQ(unpinned.cross_cpu, on_several) << cell.name;
    (pinned.cross_cpu ? several : one) += 1;
  }
  EXPECT_GT(several, 0);
  EXPECT_GT(one, 0);
}

// The round trip itself: a positive time where two CPUs are allowed, and
// nothing where the thread may run on one CPU only.
TEST(CrossCpu, ARoundTripNeedsTwoCpus) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  ASSERT_EQ(sched_getaffinity(0, sizeof allowed, &allowed), 0);
  if (CPU_COUNT(&allowed) < 2) GTEST_SKIP() << "this machine lets the test use one CPU only";
  const std::optional<double> rtt = cross_cpu_round_trip_ns(1000);
  ASSERT_TRUE(rtt.has_value());
  EXPECT_GT(*rtt, 0.0);
  std::optional<double> alone = 1.0;
  std::thread([&] {
    cpu_set_t first;
    CPU_ZERO(&first);
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &allowed)) {
        CPU_SET(c, &first);
        break;
      }
    ASSERT_EQ(sched_setaffinity(0, sizeof first, &first), 0);
    alone = cross_cpu_round_trip_ns(1000);
  }).join();
  EXPECT_FALSE(alone.has_value());
}

}  // namespace
}  // namespace cmbench
