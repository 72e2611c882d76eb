// The smoke matrix: every model x workload x mode at a tiny size, each cell
// run the way `cmbench run` runs it (a fresh child process of the cmbench
// binary), must be ok and verified. It includes capacity 0 (rendezvous),
// capacity 1, an odd capacity, several producers and consumers, and every
// payload size.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "harness/driver/matrix.hpp"
#include "harness/sandbox/runner.hpp"
#include "harness_support.hpp"

namespace cmbench {
namespace {

// CMBENCH_SMOKE_MODELS=thread,fiber,uv runs only those models' cells and
// skips the rest (the TSan build runs these three: ThreadSanitizer does not
// support a process that forks while it has threads, which is the process
// model's whole point). Unset or empty: every model. The matrix itself does
// not change, so the test names ctest discovered at build time stay valid.
std::vector<std::string> model_filter() {
  std::vector<std::string> models;
  const char* env = std::getenv("CMBENCH_SMOKE_MODELS");
  std::stringstream in(env ? env : "");
  for (std::string m; std::getline(in, m, ',');)
    if (!m.empty()) models.push_back(m);
  return models;
}

// `models` empty: every model; `extra` is one more parameter for every
// selection (the fiber model's M:N cells add threads=2).
std::vector<Cell> smoke_cells(std::vector<std::string> models = {}, std::string extra = "") {
  std::vector<Cell> cells;
  Selection prodcons;
  prodcons.workloads = {"prodcons"};
  prodcons.params = {"producers=1,4", "consumers=1,3", "capacity=0,1,7", "payload=0,64,1024",
                     "messages=600"};
  Selection counter;
  counter.workloads = {"counter"};
  counter.params = {"units=1,3,16", "mode=lock,atomic,message", "increments=200"};
  // The catalog at tiny sizes; spawn also at a size that needs more than a
  // handful of units.
  auto tiny = [](std::string workload, std::vector<std::string> params) {
    Selection s;
    s.workloads = {std::move(workload)};
    s.params = std::move(params);
    return s;
  };
  std::vector<Selection> all = {
      prodcons,
      counter,
      tiny("pingpong", {"rounds=1000"}),
      tiny("spawn", {"units=1,10,500"}),
      tiny("skynet", {"leaves=100"}),
      tiny("ring", {"units=5,503", "hops=2000"}),
      tiny("echo", {"connections=1,8", "requests=200", "loop=closed,open", "rate=2000"}),
      tiny("sleepers", {"units=10", "sleeps=3", "sleep_ms=2"}),
      tiny("blocking", {"blockers=1,3", "calls=3", "delay_us=300", "pairs=1,2", "offload=inline,pool"}),
      tiny("fairness", {"hogs=1,3", "work_ms=1", "budget_ms=3", "yield=slice,never", "pairs=1"}),
      tiny("idle", {"connections=1,20", "requests=2", "rate=2000"}),
  };
  for (auto& sel : all) {
    sel.models = models;
    if (!extra.empty()) sel.params.push_back(extra);
    for (auto& c : expand(sel)) cells.push_back(std::move(c));
  }
  return cells;
}

const std::vector<Cell>& cells() {
  static const std::vector<Cell> all = smoke_cells();
  return all;
}

// The fiber model's cells again, in M:N mode on two threads, so that the
// TSan build (CMBENCH_SMOKE_MODELS=thread,fiber,uv) covers M:N too.
const std::vector<Cell>& fiber_mn_cells() {
  static const std::vector<Cell> all = smoke_cells({"fiber"}, "threads=2");
  return all;
}

// The coro and boost-fiber models' `threads` parameter above 1 (an
// io_context run by two threads; work_stealing on two threads), on the
// workloads written for it (models/coro/runtime.hpp, models/boost_fiber/
// runtime.hpp): prodcons and skynet in both, counter and pingpong in
// boost-fiber. A cell per process, so boost-fiber's work_stealing, which can
// be set up once per process, is set up once.
const std::vector<Cell>& multi_thread_cells() {
  static const std::vector<Cell> all = [] {
    std::vector<Cell> cells;
    auto add = [&](std::string workload, std::vector<std::string> models, std::vector<std::string> params) {
      Selection s;
      s.workloads = {std::move(workload)};
      s.models = std::move(models);
      s.params = std::move(params);
      s.params.push_back("threads=2");
      for (auto& c : expand(s)) cells.push_back(std::move(c));
    };
    add("prodcons", {"coro", "boost-fiber"},
        {"producers=1,4", "consumers=1,3", "capacity=0,7", "payload=0,64", "messages=600"});
    add("skynet", {"coro", "boost-fiber"}, {"leaves=100,1000"});
    add("counter", {"boost-fiber"}, {"units=3", "mode=lock,atomic,message", "increments=200"});
    add("pingpong", {"boost-fiber"}, {"rounds=1000"});
    return cells;
  }();
  return all;
}

void check_cell(const Cell& cell);

class Smoke : public ::testing::TestWithParam<size_t> {};

TEST_P(Smoke, CellIsOkAndVerified) { check_cell(cells()[GetParam()]); }

class FiberMN : public ::testing::TestWithParam<size_t> {};

TEST_P(FiberMN, CellIsOkAndVerified) { check_cell(fiber_mn_cells()[GetParam()]); }

class MultiThread : public ::testing::TestWithParam<size_t> {};

TEST_P(MultiThread, CellIsOkAndVerified) { check_cell(multi_thread_cells()[GetParam()]); }

void check_cell(const Cell& cell) {
  static const auto only = model_filter();
  if (!only.empty() && std::find(only.begin(), only.end(), cell.entry->model->name) == only.end())
    GTEST_SKIP() << "model " << cell.entry->model->name << " is not in CMBENCH_SMOKE_MODELS";
  RepetitionRequest req{cell.entry->workload->name, cell.entry->model->name, cell.params.all(), 60,
                        cell.entry->model->process_tree, testing::binary()};
  RepetitionResult r = run_repetition(req);
  ASSERT_EQ(to_string(r.outcome), std::string("ok")) << cell.name << ": " << r.message;
  const auto& m = r.metrics;
  EXPECT_EQ(m["operations"].get<uint64_t>(), cell.entry->workload->operations(cell.params));
  EXPECT_GT(m["wall_s"].get<double>(), 0);
  EXPECT_GT(m["memory_peak_bytes"].get<long long>(), 0);
  const std::string& w = cell.entry->workload->name;
  // Every operation that has a latency recorded it, once.
  if (w == "prodcons" || w == "pingpong" || w == "echo" || w == "sleepers" || w == "idle") {
    EXPECT_EQ(m["latency_ns"]["count"].get<uint64_t>(), m["operations"].get<uint64_t>()) << cell.name;
  }
  if (w == "spawn") {
    EXPECT_TRUE(m.contains("memory_per_unit_bytes")) << cell.name;
    EXPECT_EQ(m["memory_units"].get<uint64_t>(), cell.params.u("units"));
  }
  // The workloads' own metrics (Probe::metric), present and in range.
  if (w == "blocking") {
    EXPECT_GE(m["os_threads_peak"].get<double>(), 1) << cell.name;
    EXPECT_GT(m["blocking_calls_per_s"].get<double>(), 0) << cell.name;
    EXPECT_GT(m["bystander_round_trips_per_s"].get<double>(), 0) << cell.name;
    EXPECT_GE(m["latency_ns"]["count"].get<uint64_t>(), cell.params.u("pairs")) << cell.name;
  }
  if (w == "fairness") {
    EXPECT_GT(m["jain_index"].get<double>(), 0) << cell.name;
    EXPECT_LE(m["jain_index"].get<double>(), 1 + 1e-9) << cell.name;
    EXPECT_EQ(m["bystander_max_latency_ns"].get<double>(), m["latency_ns"]["max"].get<double>()) << cell.name;
  }
  if (w == "idle") {
    EXPECT_TRUE(m.contains("memory_per_unit_bytes")) << cell.name;
    EXPECT_EQ(m["memory_units"].get<uint64_t>(), cell.params.u("connections")) << cell.name;
  }
}

std::string test_name(const Cell& cell) {
  std::string name = cell.name;
  for (char& ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(AllModels, Smoke, ::testing::Range<size_t>(0, cells().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return test_name(cells()[info.param]);
                         });

INSTANTIATE_TEST_SUITE_P(Threads2, FiberMN, ::testing::Range<size_t>(0, fiber_mn_cells().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return test_name(fiber_mn_cells()[info.param]);
                         });

INSTANTIATE_TEST_SUITE_P(Threads2, MultiThread, ::testing::Range<size_t>(0, multi_thread_cells().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return test_name(multi_thread_cells()[info.param]);
                         });

TEST(SmokeCoverage, EveryRegisteredImplementationIsInTheSmokeMatrix) {
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& c : cells()) seen.insert({c.entry->workload->name, c.entry->model->name});
  for (const auto& e : all_entries())
    EXPECT_TRUE(seen.count({e.workload->name, e.model->name})) << e.workload->name << "/" << e.model->name;
}

}  // namespace
}  // namespace cmbench
