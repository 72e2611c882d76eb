// The smoke matrix (tests/smoke_cells.hpp): every model x workload x mode at
// a tiny size, each cell run the way `cmbench run` runs it (a fresh child
// process of the cmbench binary), must be ok and verified. The sizes are the
// workloads' (WorkloadSpec::smoke): for prodcons, capacity 0 (rendezvous),
// capacity 1, an odd capacity, several producers and consumers, and every
// payload size.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "harness/driver/matrix.hpp"
#include "harness/sandbox/runner.hpp"
#include "harness_support.hpp"
#include "smoke_cells.hpp"

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

const std::vector<Cell>& cells() {
  static const std::vector<Cell> all = testing::smoke_cells();
  return all;
}

// The M:N runtimes' cells again on two threads each, so that a TSan build
// (CMBENCH_SMOKE_MODELS=thread,fiber,uv) can cover the fiber model's M:N
// mode: ctest --test-dir build/tsan -R TwoWorkers (the tsan test preset
// selects only the tests named Smoke).
const std::vector<Cell>& two_worker_cells() {
  static const std::vector<Cell> all = testing::smoke_cells_on_two_workers();
  return all;
}

void check_cell(const Cell& cell);

class Smoke : public ::testing::TestWithParam<size_t> {};

TEST_P(Smoke, CellIsOkAndVerified) { check_cell(cells()[GetParam()]); }

class TwoWorkers : public ::testing::TestWithParam<size_t> {};

TEST_P(TwoWorkers, CellIsOkAndVerified) { check_cell(two_worker_cells()[GetParam()]); }

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
  const WorkloadSpec& w = *cell.entry->workload;
  // Every operation that has a latency recorded it, once.
  if (w.latency_per_operation) {
    EXPECT_EQ(m["latency_ns"]["count"].get<uint64_t>(), m["operations"].get<uint64_t>()) << cell.name;
  }
  if (w.memory_per_unit) {
    EXPECT_TRUE(m.contains("memory_per_unit_bytes")) << cell.name;
    EXPECT_EQ(m["memory_units"].get<uint64_t>(), cell.params.u(w.units_param)) << cell.name;
  }
  // The workloads' own metrics (Probe::metric), present and in range.
  if (w.name == "blocking") {
    EXPECT_GE(m["os_threads_peak"].get<double>(), 1) << cell.name;
    EXPECT_GT(m["blocking_calls_per_s"].get<double>(), 0) << cell.name;
    // With no bystander pairs there is no round trip to count.
    if (cell.params.u("pairs") > 0) {
      EXPECT_GT(m["bystander_round_trips_per_s"].get<double>(), 0) << cell.name;
      EXPECT_GE(m["latency_ns"]["count"].get<uint64_t>(), cell.params.u("pairs")) << cell.name;
    }
  }
  if (w.name == "fairness") {
    EXPECT_GT(m["jain_index"].get<double>(), 0) << cell.name;
    EXPECT_LE(m["jain_index"].get<double>(), 1 + 1e-9) << cell.name;
    EXPECT_EQ(m["bystander_max_latency_ns"].get<double>(), m["latency_ns"]["max"].get<double>()) << cell.name;
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

INSTANTIATE_TEST_SUITE_P(MN, TwoWorkers, ::testing::Range<size_t>(0, two_worker_cells().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return test_name(two_worker_cells()[info.param]);
                         });

TEST(SmokeCoverage, EveryRegisteredImplementationIsInTheSmokeMatrix) {
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& c : cells()) seen.insert({c.entry->workload->name, c.entry->model->name});
  for (const auto& e : all_entries())
    EXPECT_TRUE(seen.count({e.workload->name, e.model->name})) << e.workload->name << "/" << e.model->name;
}

}  // namespace
}  // namespace cmbench
