// Faults: a cell that hangs, crashes, fails or leaves a process behind is
// recorded with the right outcome, the matrix goes on, and afterwards no
// process of the cell is left.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

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
