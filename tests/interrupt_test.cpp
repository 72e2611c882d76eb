// Ctrl-C at random moments of a matrix, then --resume until it completes:
// the final file has exactly the cells of an uninterrupted run, none twice,
// every one finished, and the file is valid JSON after every interruption.
#include <gtest/gtest.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "harness/results/results.hpp"
#include "harness_support.hpp"

namespace cmbench {
namespace {

// Runs `cmbench run <args>` and sends SIGINT after `delay`; returns the exit status.
int run_and_interrupt(const std::vector<std::string>& args, std::chrono::milliseconds delay) {
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(testing::binary()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(testing::binary(), argv.data());
    _exit(127);
  }
  std::this_thread::sleep_for(delay);
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  // A signal that lands before cmbench installed its handler (the first
  // instants of the process) ends it the default way: an interruption too.
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGINT) return 130;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::set<std::string> names_in(const nlohmann::json& doc) {
  std::set<std::string> names;
  for (const auto& c : doc["cells"]) names.insert(c["name"].get<std::string>());
  return names;
}

TEST(Interrupt, RandomInterruptionsThenResumeGiveTheWholeMatrixOnce) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("cmbench-int-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::vector<std::string> matrix = {
      "run", "--workloads", "counter,pingpong", "--models", "uv,fiber,thread",
      "--param", "increments=500", "--param", "rounds=500", "--param", "units=1,2,3",
      "--repetitions", "2", "--warmup", "0", "--no-interleave"};

  // The reference: the same matrix, uninterrupted.
  auto ref_args = matrix;
  ref_args.insert(ref_args.end(), {"--out", (dir / "ref.json").string()});
  std::string ref_cmd;
  for (const auto& a : ref_args) ref_cmd.append(a).append(" ");
  ASSERT_EQ(testing::run_cmbench(ref_cmd).status, 0);
  const auto reference = names_in(load_results((dir / "ref.json").string()));
  ASSERT_GT(reference.size(), 10u);

  std::mt19937 rng(20261126);  // fixed seed: the same moments every run
  std::uniform_int_distribution<int> delay_ms(0, 250);
  const int kTrials = 12;
  int interrupted_runs = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    const std::string file = (dir / fmt::format("t{}.json", trial)).string();
    auto first = matrix;
    first.insert(first.end(), {"--out", file});
    int status = run_and_interrupt(first, std::chrono::milliseconds(delay_ms(rng)));
    // Resume (and interrupt again) until the run completes.
    for (int round = 0; status == 130 && round < 50; ++round) {
      ++interrupted_runs;
      if (!fs::exists(file)) {
        // Interrupted before the file existed: start again.
        status = run_and_interrupt(first, std::chrono::milliseconds(delay_ms(rng)));
        continue;
      }
      auto doc = load_results(file);  // valid JSON after every interruption
      EXPECT_FALSE(doc["complete"].get<bool>());
      status = run_and_interrupt({"run", "--resume", file}, std::chrono::milliseconds(delay_ms(rng) + 50));
    }
    if (status == 130) continue;
    ASSERT_EQ(status, 0) << "trial " << trial;
    auto doc = load_results(file);
    EXPECT_TRUE(doc["complete"].get<bool>());
    std::vector<std::string> all;
    for (const auto& c : doc["cells"]) {
      all.push_back(c["name"].get<std::string>());
      EXPECT_EQ(c["outcome"], "ok");
      EXPECT_EQ(c["repetitions"].size(), 2u) << "a finished cell has all its repetitions";
    }
    EXPECT_EQ(all.size(), reference.size()) << "no duplicate, no missing cell (trial " << trial << ")";
    EXPECT_EQ(std::set<std::string>(all.begin(), all.end()), reference);
  }
  EXPECT_GT(interrupted_runs, kTrials / 2) << "the delays should interrupt most runs";
  RecordProperty("interruptions", interrupted_runs);
  std::printf("%d trials, %d interruptions\n", kTrials, interrupted_runs);
  fs::remove_all(dir);
}

// Interleaved (the default), a cell is kept only once its last round ran:
// an interrupted run keeps no cell that was cut short, and --resume runs
// those whole, in rounds again.
TEST(Interrupt, AnInterruptedInterleavedRunResumesToTheWholeMatrixOnce) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("cmbench-int-rounds-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string file = (dir / "r.json").string();
  const std::vector<std::string> matrix = {
      "run", "--workloads", "counter,pingpong", "--models", "uv,fiber,thread",
      "--param", "increments=500", "--param", "rounds=500", "--param", "units=1,2,3",
      "--repetitions", "3", "--out", file};
  std::string list_cmd;
  for (const auto& a : matrix)
    if (a != "--out" && a != file) list_cmd.append(a).append(" ");
  const auto listed = testing::run_cmbench(list_cmd + "--list-cells");
  ASSERT_EQ(listed.status, 0) << listed.err;
  std::set<std::string> reference;
  for (size_t at = 0, nl; (nl = listed.out.find('\n', at)) != std::string::npos; at = nl + 1)
    reference.insert(listed.out.substr(at, nl - at));
  ASSERT_GT(reference.size(), 10u);

  std::mt19937 rng(20261207);
  std::uniform_int_distribution<int> delay_ms(100, 600);
  int interrupted = 0;
  for (int trial = 0; trial < 3; ++trial) {
    fs::remove(file);
    if (run_and_interrupt(matrix, std::chrono::milliseconds(delay_ms(rng))) != 130) continue;
    ++interrupted;
    if (!fs::exists(file)) continue;
    auto doc = load_results(file);
    EXPECT_FALSE(doc["complete"].get<bool>());
    for (const auto& c : doc["cells"])
      EXPECT_EQ(c["repetitions"].size(), 3u) << "a kept cell ran all its rounds: " << c["name"];
    ASSERT_EQ(testing::run_cmbench("run --resume " + file).status, 0);
    doc = load_results(file);
    EXPECT_TRUE(doc["complete"].get<bool>());
    std::vector<std::string> all;
    for (const auto& c : doc["cells"]) {
      all.push_back(c["name"].get<std::string>());
      EXPECT_EQ(c["outcome"], "ok");
      EXPECT_EQ(c["repetitions"].size(), 3u) << c["name"];
    }
    EXPECT_EQ(all.size(), reference.size()) << "no duplicate, no missing cell (trial " << trial << ")";
    EXPECT_EQ(std::set<std::string>(all.begin(), all.end()), reference);
    EXPECT_TRUE(doc["options"]["selection"]["interleave"].get<bool>());
  }
  EXPECT_GT(interrupted, 0) << "the delays should interrupt the runs";
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cmbench
