// `run --count instructions` end to end, with the real binary under the real
// Valgrind: one tiny cell counted twice gives a positive count that repeats,
// and cells Valgrind cannot count are refused in one line.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "harness_support.hpp"

namespace cmbench {
namespace {

using testing::run_cmbench;

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/cmbench-count-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

// Valgrind cannot run a sanitizer build (ASan reserves the address space
// Valgrind needs): cmbench refuses --count there, and these tests skip.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SKIP_WITHOUT_VALGRIND() GTEST_SKIP() << "a sanitizer build: Valgrind cannot run it"
#else
#define SKIP_WITHOUT_VALGRIND()                                                            \
  if (std::system("valgrind --version >/dev/null 2>&1") != 0)                              \
  GTEST_SKIP() << "valgrind is not installed (Debian package valgrind; scripts/setup installs it)"
#endif

double instructions_of(const std::string& path) {
  std::ifstream in(path);
  const auto doc = nlohmann::json::parse(in);
  const auto& rep = doc["cells"].at(0)["repetitions"].at(0);
  EXPECT_EQ(rep["outcome"], "ok") << rep.dump();
  EXPECT_GT(rep["metrics"]["operations"].get<double>(), 0);
  EXPECT_GT(rep["metrics"]["d1_misses"].get<double>(), 0);
  // The CPU-speed loop times Valgrind's emulation, not the CPU: not recorded.
  EXPECT_FALSE(rep["metrics"].contains("ref_loop_ns")) << rep["metrics"].dump();
  return rep["metrics"]["instructions"].get<double>();
}

TEST(Count, ATinyCellCountsThePositiveSameInstructionsTwice) {
  SKIP_WITHOUT_VALGRIND();
  TempDir t;
  // prodcons 1x1 with a small buffer, 2000 messages: about a second under Valgrind.
  const std::string sel =
      "--preset quick --models fiber --workloads prodcons --param threads=1 --param producers=1 "
      "--param consumers=1 --param capacity=1 --param messages=2000 --count instructions --repetitions 1";
  std::vector<double> counts;
  for (const char* name : {"a.json", "b.json"}) {
    auto r = run_cmbench(fmt::format("run {} --out {}/{}", sel, t.path, name));
    ASSERT_EQ(r.status, 0) << r.err << r.out;
    counts.push_back(instructions_of(t.path + "/" + name));
  }
  EXPECT_GT(counts[0], 0);
  EXPECT_NEAR(counts[1] / counts[0], 1.0, 0.001) << counts[0] << " and " << counts[1];
}

TEST(Count, RefusesAThreadCellInOneLineWithExitTwo) {
  auto r = run_cmbench("run --preset quick --models thread --workloads prodcons --count instructions");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("--count instructions"), std::string::npos) << r.err;
  auto bad = run_cmbench("run --preset quick --models uv --count cycles");
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("--count"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace cmbench
