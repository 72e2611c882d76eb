// Faults: a cell that hangs, crashes, fails or leaves a process behind is
// recorded with the right outcome, the matrix goes on, and afterwards no
// process of the cell is left.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "harness/results.hpp"
#include "harness/runner.hpp"
#include "harness_support.hpp"

namespace cmbench {
namespace {

// A token in the environment of every process the test's cells create.
std::string token() { return "CMBENCH_TEST_TOKEN=fault-" + std::to_string(getpid()); }

class Fault : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    become_subreaper();
    putenv(const_cast<char*>(token_storage().c_str()));
  }
  static std::string& token_storage() {
    static std::string t = token();
    return t;
  }
  RepetitionResult run_with_fault(const std::string& fault, double timeout_s = 20) {
    setenv("CMBENCH_FAULT", fault.c_str(), 1);
    RepetitionRequest req{"counter", "process", {{"units", "2"}, {"increments", "100"}, {"mode", "atomic"}},
                          timeout_s, true, testing::binary()};
    RepetitionResult r = run_repetition(req);
    unsetenv("CMBENCH_FAULT");
    return r;
  }
  void TearDown() override {
    // Nothing the cell created may remain.
    auto left = testing::processes_with_env(token_storage());
    EXPECT_TRUE(left.empty()) << left.size() << " process(es) of the cell remain, first pid " << left[0];
    for (int pid : left) kill(pid, SIGKILL);
  }
};

TEST_F(Fault, HangIsKilledAtItsTimeoutWithItsWholeTree) {
  auto t0 = std::chrono::steady_clock::now();
  RepetitionResult r = run_with_fault("hang-tree", 1.0);
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.outcome, Outcome::timeout) << r.message;
  EXPECT_GE(took, 1.0);
  EXPECT_LT(took, 10.0);
  EXPECT_NE(r.message.find("timeout"), std::string::npos);
}

TEST_F(Fault, SegfaultIsCrashedWithItsSignal) {
  RepetitionResult r = run_with_fault("segv");
  EXPECT_EQ(r.outcome, Outcome::crashed);
  EXPECT_EQ(r.signal, SIGSEGV);
}

TEST_F(Fault, AbortIsCrashedWithItsSignal) {
  RepetitionResult r = run_with_fault("abort");
  EXPECT_EQ(r.outcome, Outcome::crashed);
  EXPECT_EQ(r.signal, SIGABRT);
}

TEST_F(Fault, ExitWithoutAResultIsFailed) {
  RepetitionResult r = run_with_fault("exit");
  EXPECT_EQ(r.outcome, Outcome::failed);
  EXPECT_NE(r.message.find("status 3 without a result"), std::string::npos) << r.message;
}

TEST_F(Fault, ExceptionIsFailedWithItsMessage) {
  RepetitionResult r = run_with_fault("throw");
  EXPECT_EQ(r.outcome, Outcome::failed);
  EXPECT_NE(r.message.find("injected failure"), std::string::npos) << r.message;
}

TEST_F(Fault, ALeftoverProcessIsKilledAndFailsTheCell) {
  RepetitionResult r = run_with_fault("leak-child");
  EXPECT_EQ(r.outcome, Outcome::failed);
  EXPECT_NE(r.message.find("left 1 process(es) behind"), std::string::npos) << r.message;
}

TEST_F(Fault, TheMatrixGoesOnPastAHangAndACrash) {
  std::string out = (std::filesystem::temp_directory_path() /
                     ("cmbench-fault-" + std::to_string(getpid()) + ".json")).string();
  // The thread cells hang, the fiber cells crash, the uv cells are fine.
  auto run = [&](const std::string& fault) {
    return testing::run_cmbench(
        "run --workloads counter --models thread,uv --param units=2 --param mode=lock,atomic "
        "--param increments=100 --repetitions 2 --warmup 0 --timeout 1 --out " + out,
        "CMBENCH_FAULT=" + fault);
  };
  auto res = run("hang@counter/thread");
  EXPECT_EQ(res.status, 1) << res.err;
  auto doc = load_results(out);
  ASSERT_EQ(doc["cells"].size(), 4u);
  EXPECT_TRUE(doc["complete"].get<bool>());
  for (const auto& c : doc["cells"]) {
    std::string want = c["model"] == "thread" ? "timeout" : "ok";
    EXPECT_EQ(c["outcome"], want) << c["name"];
    if (want == "timeout") {
      EXPECT_EQ(c["repetitions"].size(), 1u) << "a hung cell is not repeated";
    }
  }
  EXPECT_NE(res.out.find("2 of 4 cells ok"), std::string::npos) << res.out;

  res = run("segv@counter/uv");
  EXPECT_EQ(res.status, 1);
  doc = load_results(out);
  for (const auto& c : doc["cells"]) {
    EXPECT_EQ(c["outcome"], c["model"] == "uv" ? "crashed" : "ok") << c["name"];
    if (c["model"] == "uv") {
      EXPECT_EQ(c["signal"], SIGSEGV);
    }
  }
  std::filesystem::remove(out);
}

}  // namespace
}  // namespace cmbench

namespace cmbench {
namespace {

// Runs one spawn repetition in a forked child of the test after `limit_fn`
// lowered a limit there (the cell inherits it), and returns its outcome,
// errno and message through a pipe.
struct LimitedResult {
  std::string outcome;
  int err = 0;
  std::string message;
};

template <typename F>
LimitedResult spawn_under_limit(const std::string& model, const std::string& units, F limit_fn) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    limit_fn();
    RepetitionRequest req{"spawn", model, {{"units", units}}, 60, model == "process",
                          testing::binary()};
    RepetitionResult r = run_repetition(req);
    std::string line = std::string(to_string(r.outcome)) + "\n" + std::to_string(r.err) + "\n" + r.message;
    (void)!write(fds[1], line.data(), line.size());
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status;
  waitpid(pid, &status, 0);
  LimitedResult res;
  auto a = out.find('\n'), b = out.find('\n', a + 1);
  if (a == std::string::npos || b == std::string::npos) return res;
  res.outcome = out.substr(0, a);
  res.err = std::atoi(out.substr(a + 1, b - a - 1).c_str());
  res.message = out.substr(b + 1);
  return res;
}

TEST(Limit, SpawnOfProcessesStopsAtALoweredProcessLimit) {
  // root is exempt from RLIMIT_NPROC: the child first becomes a uid of this
  // test's own (no account needed; RLIMIT_NPROC counts per uid, and other
  // tests that lower it run in parallel under uids of their own).
  auto r = spawn_under_limit("process", "300", [] {
    rlimit lim{40, 40};
    if (setgid(60004) != 0 || setuid(60004) != 0) _exit(3);
    setrlimit(RLIMIT_NPROC, &lim);
  });
  EXPECT_EQ(r.outcome, "limit") << r.message;
  EXPECT_EQ(r.err, EAGAIN) << r.message;
  EXPECT_NE(r.message.find(" of 300 units"), std::string::npos) << r.message;
}

TEST(Limit, SpawnOfThreadsStopsAtALoweredProcessLimit) {
  auto r = spawn_under_limit("thread", "300", [] {
    rlimit lim{40, 40};
    if (setgid(60005) != 0 || setuid(60005) != 0) _exit(3);
    setrlimit(RLIMIT_NPROC, &lim);
  });
  EXPECT_EQ(r.outcome, "limit") << r.message;
  EXPECT_EQ(r.err, EAGAIN) << r.message;
  EXPECT_NE(r.message.find(" of 300 units"), std::string::npos) << r.message;
}

}  // namespace
}  // namespace cmbench
