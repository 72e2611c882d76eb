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
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <cstring>
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

TEST_F(Fault, AProcessCellTooShortForASampleStillReportsItsTree) {
  // A cell over within 10 ms of its spawn gets no sample from the runner. It
  // used to report its own VmHWM instead, a different measure (a peak over
  // the whole process), so that short process cells were a mixture of two
  // measures; now the cell reads the tree's memory the same way at its end.
  RepetitionRequest req{"counter", "process", {{"units", "2"}, {"increments", "100"}, {"mode", "atomic"}}, 20,
                        true, testing::binary()};
  for (int i = 0; i < 3; ++i) {
    RepetitionResult r = run_repetition(req);
    ASSERT_EQ(r.outcome, Outcome::ok) << r.message;
    const std::string method = r.metrics.value("memory_method", "");
    EXPECT_EQ(method.rfind("tree resident", 0), 0u) << method;
    EXPECT_GT(r.metrics.value("memory_peak_bytes", -1LL), 0);
  }
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
  // One fault a run: the thread cells hang, then the uv cells crash; the
  // other cells are fine. Cells one after another (--no-interleave), then
  // interleaved below.
  auto run = [&](const std::string& fault) {
    return testing::run_cmbench(
        "run --no-interleave --workloads counter --models thread,uv --param units=2 --param mode=lock,atomic "
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
  // Interleaved, the crashing cells end in the first round and the others
  // run all theirs; the file lists them in the matrix's order all the same.
  const auto names = [](const nlohmann::json& d) {
    std::vector<std::string> v;
    for (const auto& c : d["cells"]) v.push_back(c["name"].get<std::string>());
    return v;
  };
  const auto in_order = names(doc);
  res = testing::run_cmbench(
      "run --interleave --workloads counter --models thread,uv --param units=2 --param mode=lock,atomic "
      "--param increments=100 --repetitions 2 --warmup 0 --timeout 1 --out " + out,
      "CMBENCH_FAULT=segv@counter/uv");
  EXPECT_EQ(res.status, 1) << res.err;
  doc = load_results(out);
  EXPECT_TRUE(doc["complete"].get<bool>());
  EXPECT_EQ(names(doc), in_order);
  for (const auto& c : doc["cells"]) {
    EXPECT_EQ(c["outcome"], c["model"] == "uv" ? "crashed" : "ok") << c["name"];
    EXPECT_EQ(c["repetitions"].size(), c["model"] == "uv" ? 1u : 2u) << c["name"];
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

// --- echo under faults injected at the system-call boundary -----------------
//
// CMBENCH_FAULT=io:<side>:<fault> preloads harness/sandbox/io_fault.cpp into
// the cell (every C++ model's server) and the load generator it starts; the
// go model's server has its own hook (models/go/src/echofault.go). Each
// fault must end every model's cell cleanly: `ok` where the fault is one a
// correct program rides out (short reads and writes, an interrupted call, an
// aborted connection in the accept queue), else `failed` or `limit` naming
// the errno — never a crash, a hang or a wrong answer.
namespace cmbench {
namespace {

struct EchoFault {
  const char* name;
  const char* fault;
  const char* outcome;  // the outcome every cell must have; "ok|failed": either
  int err;              // the errno every cell that is not ok must name
  const char* fired;    // what the fault log must show ("server", "loadgen")
};

class EchoFaults : public ::testing::TestWithParam<EchoFault> {};

constexpr const char* kEchoModels = "process,thread,uv,fiber,boost-fiber,coro,go";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST_P(EchoFaults, EveryModelEndsCleanlyAndNamesTheErrno) {
  namespace fs = std::filesystem;
  const EchoFault& f = GetParam();
  const fs::path dir = fs::temp_directory_path() / fmt::format("cmbench-echo-{}-{}", f.name, getpid());
  fs::create_directories(dir);
  const std::string out = (dir / "r.json").string(), log = (dir / "fault.log").string();
  // The run inherits a high descriptor without O_CLOEXEC, as under a shell
  // or a CI runner that leaks one: its cells must not (see AcceptEmfile).
  const int null_fd = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(null_fd, 0);
  const int leaked = ::dup2(null_fd, 251);
  ::close(null_fd);
  ASSERT_EQ(leaked, 251) << std::strerror(errno);
  auto res = testing::run_cmbench(
      fmt::format("run --workloads echo --models {} --param connections=4 --param requests=200 "
                  "--param loop=closed --repetitions 1 --warmup 0 --timeout 60 --out {}",
                  kEchoModels, out),
      fmt::format("CMBENCH_FAULT='{}' CMBENCH_FAULT_LOG={}", f.fault, log));
  ::close(leaked);
  const std::string allowed = std::string("|") + f.outcome + "|";
  if (allowed == "|ok|") {
    EXPECT_EQ(res.status, 0) << res.err;
  }
  auto doc = load_results(out);
  ASSERT_EQ(doc["cells"].size(), 7u) << res.err;
  for (const auto& c : doc["cells"]) {
    const std::string outcome = c["outcome"];
    EXPECT_NE(allowed.find(fmt::format("|{}|", outcome)), std::string::npos)
        << c["name"] << ": " << outcome << ": " << c.value("message", "");
    if (outcome == "failed" || outcome == "limit") {
      EXPECT_EQ(c.value("errno", 0), f.err) << c["name"] << ": " << c.value("message", "");
    }
  }
  // The fault did happen, on the side it was meant for, in every model's
  // server when it was the server's.
  const std::string fired = slurp(log);
  EXPECT_NE(fired.find(f.fired), std::string::npos) << "the fault never fired:\n" << fired;
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(
    Io, EchoFaults,
    ::testing::Values(
        // Every read and write on both sides moves 1 to 7 bytes: the answers
        // must still verify.
        EchoFault{"ShortReadsAndWrites", "io:both:short-io", "ok", 0, "short-write"},
        // A read that loses the race with its data: EAGAIN, and the data's
        // readiness edge right after (before the caller has parked).
        EchoFault{"ReadRacesItsData", "io:both:read-first", "ok", 0, "read-first"},
        // A call interrupted by a signal, once on each side.
        EchoFault{"Interrupted", "io:both:read=EINTR#3,write=EINTR#3", "ok", 0, "EINTR"},
        // A connection that died while it waited in the accept queue: the
        // server goes on accepting, the generator has lost a connection.
        // (When the queue is empty at that moment, nothing is lost: ok.)
        EchoFault{"AcceptAborted", "io:server:accept=ECONNABORTED#2", "ok|failed", ECONNRESET, "server"},
        // Accepting is not allowed (a security module's verdict).
        EchoFault{"AcceptEperm", "io:server:accept=EPERM#2", "failed", EPERM, "server"},
        // The server runs out of descriptors while accepting (the injected
        // EMFILE lowers RLIMIT_NOFILE to the table in use, so it is true).
        // libuv answers EMFILE by shedding the connections it cannot accept
        // (its "EMFILE trick": accepted and closed, with no callback and no
        // error); the uv server tells it from its connections filling the
        // descriptor table, and says `limit` EMFILE too. That holds only in
        // a cell whose table is its own: with the descriptor the runner
        // inherited (above) still open in the cell, the limit sat far above
        // the connections, and uv ended `failed` or `invalid` instead.
        EchoFault{"AcceptEmfile", "io:server:accept=EMFILE#3", "limit", EMFILE, "server"},
        // The generator runs out of ephemeral ports, or of descriptors.
        EchoFault{"ConnectEaddrnotavail", "io:loadgen:connect=EADDRNOTAVAIL#3", "limit", EADDRNOTAVAIL,
                  "loadgen"},
        EchoFault{"SocketEmfile", "io:loadgen:socket=EMFILE#2", "limit", EMFILE, "loadgen"},
        // A connection refused: nothing listens (a server that is not there).
        EchoFault{"ConnectRefused", "io:loadgen:connect=ECONNREFUSED#2", "failed", ECONNREFUSED, "loadgen"},
        // A connection reset in the middle of the run, by either side: a
        // real RST reaches the other.
        EchoFault{"ResetByTheClient", "io:loadgen:reset#40", "failed", ECONNRESET, "loadgen"},
        EchoFault{"ResetByTheServer", "io:server:reset#20", "failed", ECONNRESET, "server"},
        // A read on the server that fails with an I/O error.
        EchoFault{"ServerReadEio", "io:server:read=EIO#20", "failed", EIO, "server"},
        EchoFault{"ServerWriteEio", "io:server:write=EIO#20", "failed", EIO, "server"}),
    [](const ::testing::TestParamInfo<EchoFault>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace cmbench

// --- crash forensics ----------------------------------------------------------
namespace cmbench {
namespace {

// Runs one counter/thread cell through `cmbench run` with CMBENCH_FAULT
// set, and returns the results document (and the run's output).
struct CrashRun {
  nlohmann::json cell;
  testing::CommandResult res;
};

CrashRun crash_run(const std::string& fault, const std::string& extra = "") {
  namespace fs = std::filesystem;
  const std::string out =
      (fs::temp_directory_path() / fmt::format("cmbench-crash-{}-{}.json", getpid(), std::rand())).string();
  CrashRun r;
  r.res = testing::run_cmbench(
      "run --workloads counter --models thread --param units=2 --param increments=100 --param mode=atomic "
      "--repetitions 1 --warmup 0 --timeout 30 --out " + out + " " + extra,
      "CMBENCH_FAULT=" + fault);
  auto doc = load_results(out);
  if (!doc["cells"].empty()) r.cell = doc["cells"][0];
  fs::remove(out);
  return r;
}

// The names of the backtrace's functions, in order.
std::string functions_of(const nlohmann::json& crash) {
  std::string all;
  for (const auto& f : crash.value("backtrace", nlohmann::json::array()))
    all += f.value("function", "?") + "\n";
  return all;
}

TEST(Crash, ASegfaultNamesTheAddressAndTheCrashingFunction) {
  CrashRun r = crash_run("null-write");
  ASSERT_FALSE(r.cell.is_null()) << r.res.err;
  EXPECT_EQ(r.cell["outcome"], "crashed");
  EXPECT_EQ(r.cell["signal"], SIGSEGV);
  const auto& crash = r.cell["crash"];
  ASSERT_TRUE(crash.is_object()) << r.cell.dump(2);
  EXPECT_EQ(crash["signal_name"], "SIGSEGV");
  EXPECT_EQ(crash["address"], "0x0");
  EXPECT_NE(crash.value("code", "").find("SEGV_MAPERR"), std::string::npos) << crash.dump(2);
  EXPECT_TRUE(crash["record_complete"].get<bool>());
  // Frame 0 is the faulting function itself, and its callers follow.
  ASSERT_FALSE(crash["backtrace"].empty());
  EXPECT_NE(crash["backtrace"][0].value("function", "").find("crash_by_null_write"), std::string::npos)
      << functions_of(crash);
  EXPECT_NE(functions_of(crash).find("run_cell_child"), std::string::npos) << functions_of(crash);
  // The message and the console note say it too.
  const std::string message = r.cell["message"];
  EXPECT_NE(message.find("at address 0x0 in cmbench::(anonymous namespace)::crash_by_null_write()"),
            std::string::npos)
      << message;
  EXPECT_NE(r.res.out.find("#0  cmbench::(anonymous namespace)::crash_by_null_write()"), std::string::npos)
      << r.res.out;
  EXPECT_FALSE(crash.contains("fiber")) << "no fiber ran";
}

TEST(Crash, AnAbortNamesTheFunctionThatAborted) {
  CrashRun r = crash_run("abort");
  ASSERT_FALSE(r.cell.is_null()) << r.res.err;
  EXPECT_EQ(r.cell["outcome"], "crashed");
  const auto& crash = r.cell["crash"];
  EXPECT_EQ(crash["signal_name"], "SIGABRT");
  EXPECT_NE(crash.value("code", "").find("SI_TKILL"), std::string::npos) << crash.dump(2);
  EXPECT_FALSE(crash.contains("address")) << "a sent signal has no faulting address";
  // libc's abort() is in the backtrace, and the message names the suite's
  // function that called it rather than libc's.
  EXPECT_NE(functions_of(crash).find("abort"), std::string::npos) << functions_of(crash);
  EXPECT_NE(r.cell["message"].get<std::string>().find("in cmbench::(anonymous namespace)::inject_fault("),
            std::string::npos)
      << r.cell["message"];
}

TEST(Crash, AFiberThatOverflowsItsGuardedStackIsNamedWithItsStack) {
  CrashRun r = crash_run("fiber-overflow");
  ASSERT_FALSE(r.cell.is_null()) << r.res.err;
  EXPECT_EQ(r.cell["outcome"], "crashed");
  EXPECT_EQ(r.cell["signal"], SIGSEGV);
  const auto& crash = r.cell["crash"];
  ASSERT_TRUE(crash.contains("fiber")) << crash.dump(2);
  const auto& fiber = crash["fiber"];
  EXPECT_FALSE(fiber["scheduler_context"].get<bool>());
  EXPECT_EQ(fiber["stack_protection"], "guard page");
  EXPECT_EQ(fiber["stack_size"], 16384u);
  EXPECT_NE(fiber.value("fault", "").find("guard page below the fiber's stack: a stack overflow"), std::string::npos)
      << fiber.dump(2);
  // The fiber's entry names the function it was spawned with (a lambda of
  // inject_fault), and the crashing frame is the recursion.
  EXPECT_NE(fiber.value("entry", "").find("inject_fault"), std::string::npos) << fiber.dump(2);
  EXPECT_NE(crash["backtrace"][0].value("function", "").find("overflow_the_stack"), std::string::npos)
      << functions_of(crash);
  EXPECT_NE(r.cell["message"].get<std::string>().find("whose stack has a guard page; the address is in the guard page"),
            std::string::npos)
      << r.cell["message"];
}

TEST(Crash, KeepCoreKeepsTheCoreFileOrSaysWhyNot) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("cmbench-cores-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  CrashRun r = crash_run("null-write", "--keep-core " + dir.string());
  ASSERT_FALSE(r.cell.is_null()) << r.res.err;
  const auto& core = r.cell["crash"]["core"];
  ASSERT_TRUE(core.is_object()) << r.cell["crash"].dump(2);
  std::ifstream pattern("/proc/sys/kernel/core_pattern");
  std::string p;
  std::getline(pattern, p);
  rlimit lim{};
  getrlimit(RLIMIT_CORE, &lim);
  // AddressSanitizer turns core dumps off when a process starts
  // (disable_coredump), but the cell raises RLIMIT_CORE again for
  // --keep-core after that, so an ASan build dumps its core too.
  const bool can_dump = !p.empty() && p[0] != '|' && p[0] != '/' && lim.rlim_max != 0;
  if (can_dump) {
    ASSERT_TRUE(core.contains("file")) << core.dump(2);
    const std::string file = core["file"];
    EXPECT_EQ(file.rfind(dir.string() + "/counter-thread-", 0), 0u) << file;
    EXPECT_GT(fs::file_size(file), 4096u);
    EXPECT_NE(r.res.out.find("core file: " + file), std::string::npos) << r.res.out;
  } else {
    EXPECT_TRUE(core.contains("note")) << core.dump(2);
  }
  // Nothing else is left in the folder (the cell's own working folder is gone).
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(dir)) entries += e.path().extension() != ".core";
  EXPECT_EQ(entries, 0u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cmbench

// --- the run's process and its cells ------------------------------------------
namespace cmbench {
namespace {

// Starts `cmbench run <args>` in the background with `env` (NAME=value
// words) added; returns its pid.
pid_t start_run(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  pid_t pid = fork();
  if (pid == 0) {
    for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    std::vector<char*> argv = {const_cast<char*>(testing::binary()), const_cast<char*>("run")};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(testing::binary(), argv.data());
    _exit(127);
  }
  return pid;
}

// The processes carrying `token` in their environment whose command line
// has the word "cell" (cells, and what they forked).
int cell_processes(const std::string& token) {
  int n = 0;
  for (int p : testing::processes_with_env(token)) {
    std::ifstream in("/proc/" + std::to_string(p) + "/cmdline");
    std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmd.find(std::string("cell") + '\0') != std::string::npos) ++n;
  }
  return n;
}

// Waits (at most `seconds`) until no process carries `token`.
bool all_gone(const std::string& token, double seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (testing::processes_with_env(token).empty()) return true;
    usleep(20'000);
  }
  return false;
}

// A run whose cell hangs with three grandchildren, killed or hung up: the
// whole cell tree must go with it.
void expect_cells_die_with_the_run(int sig) {
  const std::string token = fmt::format("CMBENCH_TEST_TOKEN=orphan-{}-{}", getpid(), sig);
  const std::string out = fmt::format("/tmp/cmbench-orphan-{}-{}.json", getpid(), sig);
  pid_t run = start_run({"--workloads", "counter", "--models", "process", "--param", "units=2", "--param",
                         "increments=100", "--param", "mode=atomic", "--repetitions", "1", "--warmup", "0",
                         "--timeout", "60", "--out", out},
                        {token, "CMBENCH_FAULT=hang-tree"});
  for (int i = 0; i < 1000 && cell_processes(token) < 4; ++i) usleep(10'000);
  ASSERT_GE(cell_processes(token), 4) << "the cell and its three grandchildren never started";
  kill(run, sig);
  int status = 0;
  waitpid(run, &status, 0);
  if (sig == SIGHUP) {
    // Hung up, the run stops as for SIGTERM: the file is kept.
    ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
    EXPECT_EQ(WEXITSTATUS(status), 130);
  }
  EXPECT_TRUE(all_gone(token, 3.0)) << testing::processes_with_env(token).size()
                                    << " process(es) of the cell outlived the run (signal " << sig << ")";
  for (int p : testing::processes_with_env(token)) kill(p, SIGKILL);
  // A run killed by SIGKILL cannot remove its lock file.
  std::filesystem::remove(out);
  std::filesystem::remove(out + ".lock");
}

TEST(Orphans, SigkillOfTheRunTakesTheCellTreeWithIt) { expect_cells_die_with_the_run(SIGKILL); }
TEST(Orphans, SighupOfTheRunTakesTheCellTreeWithIt) { expect_cells_die_with_the_run(SIGHUP); }

// The deadline holds while the runner's loop is busy: every memory sample of
// the process tree takes 4 s (as reading a tree of 30,000 processes did), the
// timeout is 1 s, and the cell hangs with three grandchildren. The loop
// looks at the clock only between samples; the watchdog thread does not
// wait for it: the cell's whole tree is gone well before the sample ends.
TEST(Watchdog, TheDeadlineHoldsWhileTheRunnerIsBusySampling) {
  const std::string token = fmt::format("CMBENCH_TEST_TOKEN=deadline-{}", getpid());
  putenv(const_cast<char*>(token.c_str()));
  setenv("CMBENCH_TEST_SLOW_SAMPLE_MS", "4000", 1);
  setenv("CMBENCH_FAULT", "hang-tree", 1);
  RepetitionResult r;
  std::thread runner([&] {
    r = run_repetition(RepetitionRequest{"counter", "process",
                                         {{"units", "2"}, {"increments", "100"}, {"mode", "atomic"}}, 1.0, true,
                                         testing::binary()});
  });
  // The cell and its grandchildren start, and are killed at 1 s, while the
  // runner is in its first 4-second sample.
  for (int i = 0; i < 500 && cell_processes(token) < 4; ++i) usleep(2'000);
  EXPECT_GE(cell_processes(token), 4) << "the cell tree never started";
  usleep(2'000'000);
  EXPECT_EQ(cell_processes(token), 0) << "the cell tree outlived its deadline by a second";
  runner.join();
  unsetenv("CMBENCH_FAULT");
  unsetenv("CMBENCH_TEST_SLOW_SAMPLE_MS");
  unsetenv("CMBENCH_TEST_TOKEN");
  EXPECT_EQ(r.outcome, Outcome::timeout) << r.message;
}

// A SIGTERM ends the run within a second while its loop is busy and its
// cell ignores SIGTERM.
TEST(Watchdog, SigtermEndsARunWithinASecondWhileItsLoopIsBusy) {
  const std::string token = fmt::format("CMBENCH_TEST_TOKEN=term-{}", getpid());
  const std::string out = fmt::format("/tmp/cmbench-term-busy-{}.json", getpid());
  pid_t run = start_run({"--workloads", "counter", "--models", "process", "--param", "units=2", "--param",
                         "increments=100", "--param", "mode=atomic", "--repetitions", "1", "--warmup", "0",
                         "--timeout", "60", "--out", out},
                        {token, "CMBENCH_FAULT=ignore-term", "CMBENCH_TEST_SLOW_SAMPLE_MS=20000"});
  for (int i = 0; i < 1000 && cell_processes(token) < 2; ++i) usleep(10'000);
  ASSERT_GE(cell_processes(token), 2);
  usleep(200'000);  // into the first (20 s) sample
  const auto t0 = std::chrono::steady_clock::now();
  kill(run, SIGTERM);
  int status = 0;
  waitpid(run, &status, 0);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(took, 1.5) << "SIGTERM took " << took << " s to end the run";
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 130);
  EXPECT_TRUE(all_gone(token, 3.0));
  auto doc = load_results(out);  // the last complete file
  EXPECT_FALSE(doc["complete"].get<bool>());
  std::filesystem::remove(out);
}

// A cell stopped (SIGSTOP) in its timed region and continued: the
// repetition records how long, and the cell carries a warning.
TEST(Stopped, AStoppedCellIsFlagged) {
  const std::string token = fmt::format("CMBENCH_TEST_TOKEN=stop-{}", getpid());
  const std::string out = fmt::format("/tmp/cmbench-stop-{}.json", getpid());
  // sleepers: a second of timed region, with almost no CPU.
  pid_t run = start_run({"--workloads", "sleepers", "--models", "thread", "--param", "units=4", "--param",
                         "sleeps=20", "--param", "sleep_ms=50", "--repetitions", "1", "--warmup", "0",
                         "--timeout", "60", "--out", out},
                        {token});
  int cell = -1;
  for (int i = 0; i < 1000 && cell < 0; ++i) {
    for (int p : testing::processes_with_env(token)) {
      std::ifstream in("/proc/" + std::to_string(p) + "/cmdline");
      std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (cmd.find(std::string("cell") + '\0') != std::string::npos) cell = p;
    }
    if (cell < 0) usleep(5'000);
  }
  ASSERT_GT(cell, 0) << "the cell never started";
  usleep(200'000);
  kill(cell, SIGSTOP);
  usleep(600'000);
  kill(cell, SIGCONT);
  int status = 0;
  waitpid(run, &status, 0);
  auto doc = load_results(out);
  ASSERT_EQ(doc["cells"].size(), 1u);
  const auto& c = doc["cells"][0];
  EXPECT_EQ(c["outcome"], "ok") << c.value("message", "");
  const double stopped = c["repetitions"][0].value("stopped_s", 0.0);
  EXPECT_GT(stopped, 0.4);
  EXPECT_LT(stopped, 1.5);
  bool warned = false;
  for (const auto& w : c["warnings"]) warned |= w.get<std::string>().find("was stopped (SIGSTOP or SIGTSTP)") != std::string::npos;
  EXPECT_TRUE(warned) << c["warnings"].dump(2);
  std::filesystem::remove(out);
}

}  // namespace
}  // namespace cmbench

// --- resource limits in every model ---------------------------------------------
namespace cmbench {
namespace {

// Memory runs out under --memory-limit 64M wherever units are spawned by the
// million: every model ends with `limit` naming ENOMEM (or EAGAIN for a
// thread stack that could not be mapped), never with a SIGABRT crash (coro's
// awaitable_thread destructor once allocated as it unwound a bad_alloc).
TEST(Limits, SixtyFourMegabytesEndSpawnAndSkynetAsALimitInEveryModel) {
  SKIP_UNDER_ASAN_RLIMIT_AS();
  const std::string out = fmt::format("/tmp/cmbench-limit64-{}.json", getpid());
  auto res = testing::run_cmbench(
      "run --workloads spawn,skynet --models thread,uv,fiber,boost-fiber,coro,go --param units=1000000 "
      "--param leaves=1000000 --param threads=1 --param gomaxprocs=1 --repetitions 1 --warmup 0 "
      "--timeout 60 --memory-limit 64M --out " + out);
  auto doc = load_results(out);
  ASSERT_EQ(doc["cells"].size(), 12u) << res.err;
  for (const auto& c : doc["cells"]) {
    EXPECT_EQ(c["outcome"], "limit") << c["name"] << ": " << c.value("message", "");
    const int err = c.value("errno", 0);
    EXPECT_TRUE(err == ENOMEM || err == EAGAIN) << c["name"] << ": " << c.value("message", "");
    EXPECT_NE(c.value("message", "").find("64 MiB"), std::string::npos) << c["name"] << ": " << c["message"];
  }
  std::filesystem::remove(out);
}

// Twelve descriptors: the echo cell cannot start its load generator (execv
// fails with EMFILE) or hold its connections; that is a `limit`.
TEST(Limits, TwelveDescriptorsEndEchoAsALimitInEveryModel) {
  const std::string out = fmt::format("/tmp/cmbench-nofile-{}.json", getpid());
  auto res = testing::run_cmbench(
      "run --workloads echo --models process,thread,uv,fiber,boost-fiber,coro,go --param connections=4 "
      "--param requests=400 --param loop=closed --repetitions 1 --warmup 0 --timeout 60 --out " + out,
      "prlimit --nofile=12:12");
  auto doc = load_results(out);
  ASSERT_EQ(doc["cells"].size(), 7u) << res.err;
  for (const auto& c : doc["cells"]) {
    EXPECT_EQ(c["outcome"], "limit") << c["name"] << ": " << c.value("message", "");
    EXPECT_EQ(c.value("errno", 0), EMFILE) << c["name"] << ": " << c.value("message", "");
  }
  std::filesystem::remove(out);
}

// The Go runtime cannot report a thread it could not create: it prints why
// and exits 2. The runner reads that from the cell's standard error and
// says what ran out: `limit`, EAGAIN.
TEST(Limits, TheGoModelUnderAProcessLimitSaysWhatRanOut) {
  LimitedResult r = run_under_limit(
      RepetitionRequest{"counter", "go", {{"units", "8"}, {"increments", "1000"}, {"gomaxprocs", "0"}}, 30,
                        false, testing::binary()},
      [] {
        // A uid of the test's own, three tasks: this process, the
        // runner's watchdog thread and the cell; the Go runtime's first
        // thread of its own is one too many.
        if (setgid(60007) != 0 || setuid(60007) != 0) _exit(3);
        rlimit lim{3, 3};
        setrlimit(RLIMIT_NPROC, &lim);
      });
  EXPECT_EQ(r.outcome, "limit") << "the child could not become uid 60007, or: " << r.message;
  EXPECT_EQ(r.err, EAGAIN) << r.message;
  EXPECT_NE(r.message.find("the Go runtime could not create an OS thread"), std::string::npos) << r.message;
}

}  // namespace
}  // namespace cmbench
