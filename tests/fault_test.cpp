// Faults: a cell that hangs, crashes, fails, runs out of memory, descriptors
// or threads, ignores SIGTERM, or leaves a process, a shared-memory segment
// or a listening socket behind is recorded with the right outcome, the matrix
// goes on, and afterwards nothing of the cell is left.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "harness/results/results.hpp"
#include "harness/sandbox/runner.hpp"
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
  RepetitionResult run_with_fault(const std::string& fault, double timeout_s = 20,
                                  uint64_t memory_limit = 0) {
    setenv("CMBENCH_FAULT", fault.c_str(), 1);
    RepetitionRequest req{"counter", "process", {{"units", "2"}, {"increments", "100"}, {"mode", "atomic"}},
                          timeout_s, true, testing::binary()};
    req.memory_limit_bytes = memory_limit;
    RepetitionResult r = run_repetition(req);
    unsetenv("CMBENCH_FAULT");
    return r;
  }
  void TearDown() override {
    // Nothing the cell created may remain: no process, no segment.
    auto left = testing::processes_with_env(token_storage());
    EXPECT_TRUE(left.empty()) << left.size() << " process(es) of the cell remain, first pid " << left[0];
    for (int pid : left) kill(pid, SIGKILL);
    for (const auto& e : std::filesystem::directory_iterator("/dev/shm")) {
      EXPECT_EQ(e.path().filename().string().rfind("cmbench-fault-", 0), std::string::npos)
          << e.path() << " remains";
    }
  }
};

// The number after `prefix` in `text`, or -1.
long number_after(const std::string& text, const std::string& prefix) {
  auto at = text.find(prefix);
  if (at == std::string::npos) return -1;
  return std::strtol(text.c_str() + at + prefix.size(), nullptr, 10);
}

// True when some TCP socket of this network namespace listens on `port`.
bool tcp_port_listening(long port) {
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
      std::istringstream f(line);
      std::string sl, local, remote, st;
      f >> sl >> local >> remote >> st;
      auto colon = local.rfind(':');
      if (st == "0A" && colon != std::string::npos &&
          std::strtol(local.c_str() + colon + 1, nullptr, 16) == port)
        return true;
    }
  }
  return false;
}

#if defined(__SANITIZE_ADDRESS__)
#define SKIP_UNDER_ASAN_RLIMIT_AS()                                                               \
  GTEST_SKIP() << "RLIMIT_AS and AddressSanitizer do not mix: ASan reserves terabytes of address " \
                  "space for its shadow memory, so the cell refuses a memory limit in this build"
#else
#define SKIP_UNDER_ASAN_RLIMIT_AS() (void)0
#endif

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

TEST_F(Fault, ExhaustingTheMemoryLimitIsLimitNamingTheLimit) {
  SKIP_UNDER_ASAN_RLIMIT_AS();
  RepetitionResult r = run_with_fault("oom", 20, uint64_t{256} << 20);
  EXPECT_EQ(r.outcome, Outcome::limit) << r.message;
  EXPECT_EQ(r.err, ENOMEM) << r.message;
  EXPECT_NE(r.message.find("out of memory"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("under a memory limit of 256 MiB (RLIMIT_AS)"), std::string::npos) << r.message;
  EXPECT_EQ(r.memory_limit["bytes"], uint64_t{256} << 20);
  EXPECT_EQ(r.memory_limit["method"], "RLIMIT_AS");
}

TEST_F(Fault, ACellWithinAGenerousMemoryLimitIsOk) {
  SKIP_UNDER_ASAN_RLIMIT_AS();
  RepetitionResult r = run_with_fault("", 20, uint64_t{1} << 30);
  EXPECT_EQ(r.outcome, Outcome::ok) << r.message;
  EXPECT_EQ(r.memory_limit["method"], "RLIMIT_AS");
}

TEST_F(Fault, TheOomFaultRefusesToRunWithoutAMemoryLimit) {
  RepetitionResult r = run_with_fault("oom");
  EXPECT_EQ(r.outcome, Outcome::failed) << r.message;
  EXPECT_NE(r.message.find("needs a memory limit"), std::string::npos) << r.message;
  EXPECT_TRUE(r.memory_limit.is_null());
}

TEST_F(Fault, RunningOutOfDescriptorsIsLimitWithEmfile) {
  RepetitionResult r = run_with_fault("fd-exhaust");
  EXPECT_EQ(r.outcome, Outcome::limit) << r.message;
  EXPECT_EQ(r.err, EMFILE) << r.message;
  EXPECT_NE(r.message.find("open(/dev/null)"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find(std::strerror(EMFILE)), std::string::npos) << r.message;
}

// Runs one repetition in a forked child of the test after `limit_fn`
// lowered a limit there (the cell inherits it), and returns its outcome,
// errno and message through a pipe.
struct LimitedResult {
  std::string outcome;
  int err = 0;
  std::string message;
};

template <typename F>
LimitedResult run_under_limit(const RepetitionRequest& req, F limit_fn) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    limit_fn();
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

// One spawn repetition of `model` at `units` under the limit `limit_fn` sets.
template <typename F>
LimitedResult spawn_under_limit(const std::string& model, const std::string& units, F limit_fn) {
  return run_under_limit(
      RepetitionRequest{"spawn", model, {{"units", units}}, 60, model == "process", testing::binary()},
      limit_fn);
}

TEST_F(Fault, RunningOutOfThreadsUnderALoweredProcessLimitIsLimit) {
  // As the Limit tests below: RLIMIT_NPROC counts per uid and root is exempt,
  // so a forked child of the test becomes a uid of this test's own first.
  LimitedResult r = run_under_limit(
      RepetitionRequest{"counter", "thread", {{"units", "2"}, {"increments", "100"}}, 20, false,
                        testing::binary()},
      [] {
        rlimit lim{40, 40};
        if (setgid(60006) != 0 || setuid(60006) != 0) _exit(3);
        setrlimit(RLIMIT_NPROC, &lim);
        setenv("CMBENCH_FAULT", "thread-exhaust", 1);
      });
  EXPECT_EQ(r.outcome, "limit") << "the child could not become uid 60006, or: " << r.message;
  EXPECT_EQ(r.err, EAGAIN) << r.message;
  EXPECT_NE(r.message.find("pthread_create (thread "), std::string::npos) << r.message;
}

TEST_F(Fault, ALeakedSharedMemorySegmentFailsTheCellAndIsRemoved) {
  RepetitionResult r = run_with_fault("leak-shm");
  EXPECT_EQ(r.outcome, Outcome::failed) << r.message;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.message, m,
                                std::regex("left shared-memory segment (/dev/shm/cmbench-fault-[0-9]+) behind")))
      << r.message;
  EXPECT_FALSE(std::filesystem::exists(m[1].str())) << m[1] << " was not removed";
}

TEST_F(Fault, ALeakedSystemVSegmentFailsTheCellAndIsRemoved) {
  RepetitionResult r = run_with_fault("leak-sysv-shm");
  EXPECT_EQ(r.outcome, Outcome::failed) << r.message;
  long id = number_after(r.message, "left System V shared-memory segment ");
  ASSERT_GE(id, 0) << r.message;
  shmid_ds ds{};
  EXPECT_NE(shmctl(static_cast<int>(id), IPC_STAT, &ds), 0) << "segment " << id << " was not removed";
}

TEST_F(Fault, AListeningSocketLeftBehindIsReportedByItsPort) {
  RepetitionResult r = run_with_fault("leak-socket");
  EXPECT_EQ(r.outcome, Outcome::failed) << r.message;
  EXPECT_NE(r.message.find("left 1 process(es) behind"), std::string::npos) << r.message;
  long port = number_after(r.message, "left a listening socket on port ");
  ASSERT_GT(port, 0) << r.message;
  // The process that held it was killed: nothing listens there any more.
  for (int i = 0; i < 100 && tcp_port_listening(port); ++i) usleep(10'000);
  EXPECT_FALSE(tcp_port_listening(port)) << "port " << port << " still listens";
}

TEST_F(Fault, ACellThatIgnoresSigtermIsKilledAtItsTimeoutWithItsTree) {
  auto t0 = std::chrono::steady_clock::now();
  RepetitionResult r = run_with_fault("ignore-term", 1.0);
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.outcome, Outcome::timeout) << r.message;
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_LT(took, 10.0);
}

TEST_F(Fault, SigtermStopsARunPromptlyWhileItsCellIgnoresSigterm) {
  namespace fs = std::filesystem;
  const std::string out =
      (fs::temp_directory_path() / ("cmbench-term-" + std::to_string(getpid()) + ".json")).string();
  fs::remove(out);
  setenv("CMBENCH_FAULT", "ignore-term", 1);
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl(testing::binary(), testing::binary(), "run", "--workloads", "counter", "--models", "thread",
          "--param", "units=2", "--param", "increments=100", "--param", "mode=atomic", "--repetitions",
          "1", "--warmup", "0", "--timeout", "60", "--out", out.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  unsetenv("CMBENCH_FAULT");
  // Wait until the cell runs (its hanging child too): then the signal lands
  // while a cell that ignores it is in progress.
  auto cells_running = [&] {
    int n = 0;
    for (int p : testing::processes_with_env(token_storage())) {
      std::ifstream in("/proc/" + std::to_string(p) + "/cmdline");
      std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (cmd.find(std::string("cell") + '\0') != std::string::npos) ++n;
    }
    return n;
  };
  for (int i = 0; i < 1000 && cells_running() < 2; ++i) usleep(10'000);
  ASSERT_GE(cells_running(), 2) << "the cell never started";
  usleep(100'000);
  auto t0 = std::chrono::steady_clock::now();
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(took, 5.0) << "the run did not stop promptly";
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 130);
  auto doc = load_results(out);  // valid, and says it is not complete
  EXPECT_FALSE(doc["complete"].get<bool>());
  EXPECT_TRUE(doc["cells"].empty()) << "the interrupted cell is not recorded";
  fs::remove(out);
}

// Rebuilding cmbench while it runs (or deleting it) must not fail the cells
// still to come, nor run them on another build than the one the results file
// names: every cell runs the image the run started with.
TEST(Rebuild, CellsRunTheBinaryTheRunStartedWithAfterItsFileIsGone) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("cmbench-rebuild-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string copy = (dir / "cmbench").string();
  const std::string out = (dir / "r.json").string();
  fs::copy_file(testing::binary(), copy, fs::copy_options::overwrite_existing);
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl(copy.c_str(), copy.c_str(), "run", "--workloads", "counter", "--models", "thread",
          "--param", "units=2", "--param", "increments=1000", "--param", "mode=atomic,lock",
          "--repetitions", "3", "--warmup", "1", "--out", out.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Once the run's own image is the copy (exec done), remove the file: the
  // run's eight cell processes are still to be spawned.
  const std::string exe_link = "/proc/" + std::to_string(pid) + "/exe";
  for (int i = 0; i < 1000; ++i) {
    std::error_code ec;
    if (fs::read_symlink(exe_link, ec).string().rfind(copy, 0) == 0) break;
    usleep(1'000);
  }
  fs::remove(copy);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  auto doc = load_results(out);
  ASSERT_EQ(doc["cells"].size(), 2u);
  for (const auto& cell : doc["cells"])
    EXPECT_EQ(cell["outcome"], "ok") << cell["name"] << ": " << cell.dump().substr(0, 400);
  fs::remove_all(dir);
}

TEST_F(Fault, TheMatrixGoesOnPastResourceFaultsAndLeaks) {
  std::string out = (std::filesystem::temp_directory_path() /
                     ("cmbench-res-" + std::to_string(getpid()) + ".json")).string();
  auto run = [&](const std::string& fault, const std::string& extra) {
    return testing::run_cmbench(
        "run --workloads counter --models thread,uv --param units=2 --param mode=lock,atomic "
        "--param increments=100 --repetitions 2 --warmup 0 --timeout 20 --out " + out + " " + extra,
        "CMBENCH_FAULT=" + fault);
  };
  // Descriptors run out in the thread cells, the uv cells leak a segment.
  // A limit is a result: the run exits 0, and 1 only with --strict.
  auto res = run("fd-exhaust@counter/thread", "--strict");
  EXPECT_EQ(res.status, 1) << res.err;
  EXPECT_NE(res.err.find("--strict"), std::string::npos) << res.err;
  res = run("fd-exhaust@counter/thread", "");
  EXPECT_EQ(res.status, 0) << res.err;
  EXPECT_NE(res.out.find("2 of 4 cells ok, 2 limit"), std::string::npos) << res.out;
  auto doc = load_results(out);
  ASSERT_EQ(doc["cells"].size(), 4u);
  EXPECT_TRUE(doc["complete"].get<bool>());
  for (const auto& c : doc["cells"]) {
    EXPECT_EQ(c["outcome"], c["model"] == "thread" ? "limit" : "ok") << c["name"];
  }
  EXPECT_TRUE(doc["options"]["memory_limit_bytes"].is_null());

  res = run("leak-shm@counter/uv", "");
  EXPECT_EQ(res.status, 1) << res.err;
  doc = load_results(out);
  ASSERT_EQ(doc["cells"].size(), 4u);
  for (const auto& c : doc["cells"]) {
    EXPECT_EQ(c["outcome"], c["model"] == "uv" ? "failed" : "ok") << c["name"];
    if (c["model"] == "uv") {
      EXPECT_NE(c["message"].get<std::string>().find("left shared-memory segment /dev/shm/"),
                std::string::npos)
          << c["message"];
    }
  }

  // A bad size is refused in one line before anything runs.
  res = run("", "--memory-limit 12Q");
  EXPECT_EQ(res.status, 2);
  EXPECT_NE(res.err.find("--memory-limit"), std::string::npos) << res.err;
  EXPECT_EQ(std::count(res.err.begin(), res.err.end(), '\n'), 1) << res.err;

#if !defined(__SANITIZE_ADDRESS__)
  // Memory runs out in the thread cells under the limit; the limit is in
  // the options, the stored selection and every repetition.
  res = run("oom@counter/thread", "--memory-limit 256M");
  EXPECT_EQ(res.status, 0) << res.err;
  doc = load_results(out);
  ASSERT_EQ(doc["cells"].size(), 4u);
  EXPECT_EQ(doc["options"]["memory_limit_bytes"], uint64_t{256} << 20);
  EXPECT_EQ(doc["options"]["memory_limit_method"], "RLIMIT_AS");
  EXPECT_EQ(doc["options"]["selection"]["memory_limit_bytes"], uint64_t{256} << 20);
  for (const auto& c : doc["cells"]) {
    EXPECT_EQ(c["outcome"], c["model"] == "thread" ? "limit" : "ok") << c["name"];
    for (const auto& rep : c["repetitions"]) {
      EXPECT_EQ(rep["memory_limit"]["method"], "RLIMIT_AS") << c["name"];
    }
    if (c["model"] == "thread") {
      EXPECT_EQ(c["errno"], ENOMEM);
      EXPECT_NE(c["message"].get<std::string>().find("memory limit of 256 MiB"), std::string::npos)
          << c["message"];
    }
  }
#endif
  std::filesystem::remove(out);
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
