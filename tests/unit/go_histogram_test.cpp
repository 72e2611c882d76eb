// The go model's histogram (models/go/src/histogram.go) against the
// harness's (harness/cell/histogram.hpp) on the same recordings: the Go program's
// hidden `histogram` command records values read from standard input and
// prints the summary the cell reports (count, min, mean, p50 ... p999, max),
// which must equal the C++ histogram's exactly — the same buckets, the same
// quantile rule — so the go rows' percentiles mean what every other row's do.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "harness/cell/histogram.hpp"

namespace cmbench {
namespace {

nlohmann::json go_summary(const std::vector<uint64_t>& values) {
  char path[] = "/tmp/cmbench-go-histogram-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) throw std::runtime_error("mkstemp");
  ::close(fd);
  {
    std::ofstream out(path);
    for (uint64_t v : values) out << v << '\n';
  }
  // The program as built (models/go/CMakeLists.txt), or $CMBENCH_GO_BINARY.
  const char* env = std::getenv("CMBENCH_GO_BINARY");
  const std::string cmd = std::string(env && *env ? env : CMBENCH_GO_BINARY) + " histogram < " + path;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  std::string text;
  if (pipe) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) text.append(buf, n);
    EXPECT_EQ(::pclose(pipe), 0) << cmd;
  }
  ::unlink(path);
  return nlohmann::json::parse(text);
}

void expect_same(const std::vector<uint64_t>& values, const std::string& what) {
  Histogram h;
  for (uint64_t v : values) h.record(v);
  const nlohmann::json go = go_summary(values);
  EXPECT_EQ(go["count"].get<uint64_t>(), h.count()) << what;
  EXPECT_EQ(go["min"].get<uint64_t>(), h.min()) << what;
  EXPECT_EQ(go["max"].get<uint64_t>(), h.max()) << what;
  EXPECT_DOUBLE_EQ(go["mean"].get<double>(), h.mean()) << what;
  EXPECT_EQ(go["p50"].get<uint64_t>(), h.quantile(0.5)) << what;
  EXPECT_EQ(go["p90"].get<uint64_t>(), h.quantile(0.9)) << what;
  EXPECT_EQ(go["p99"].get<uint64_t>(), h.quantile(0.99)) << what;
  EXPECT_EQ(go["p999"].get<uint64_t>(), h.quantile(0.999)) << what;
}

TEST(GoHistogram, EmptyIsAllZero) { expect_same({}, "empty"); }

TEST(GoHistogram, ExactBelowTheFirstPowerOfTwoSplit) {
  std::vector<uint64_t> v;
  for (uint64_t i = 0; i < 128; ++i) v.push_back(i);
  expect_same(v, "0..127");
  expect_same({42}, "one value");
  expect_same({127, 128, 129, 255, 256, 257}, "bucket edges");
}

TEST(GoHistogram, SameAsCppOnRandomDistributions) {
  std::mt19937_64 rng(20261126);
  std::vector<uint64_t> uniform, loguniform, latency;
  std::uniform_int_distribution<uint64_t> u(0, 10'000'000);
  std::uniform_real_distribution<double> e(0, 50);  // up to 2^50: past the top bucket (2^44)
  std::lognormal_distribution<double> ln(7.0, 1.5);  // a latency-like tail around 1 us
  for (int i = 0; i < 20'000; ++i) {
    uniform.push_back(u(rng));
    loguniform.push_back(static_cast<uint64_t>(std::exp2(e(rng))));
    latency.push_back(static_cast<uint64_t>(ln(rng)));
  }
  expect_same(uniform, "uniform");
  expect_same(loguniform, "log-uniform to 2^50");
  expect_same(latency, "log-normal");
}

TEST(GoHistogram, TopBucketAndTheLargestValue) {
  expect_same({uint64_t{1} << 44, uint64_t{1} << 45, std::numeric_limits<uint64_t>::max() / 2},
              "top");
  expect_same({std::numeric_limits<uint64_t>::max()}, "max");
}

}  // namespace
}  // namespace cmbench
