// The metric table (harness/results/metrics.hpp): every metric a cell's
// results carry has a row, the rows are complete, and every consumer reads
// the same facts from it. The literal names here are on purpose: they are
// the wire format the table must keep.
#include "harness/results/metrics.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "harness/cell/probe.hpp"
#include "harness/history/direction.hpp"
#include "harness/results/results.hpp"
#include "harness/sandbox/instructions.hpp"
#include "harness/stats/compare.hpp"
#include "report/analysis.hpp"
#include "workloads/blocking/spec.hpp"
#include "workloads/fairness/spec.hpp"

namespace cmbench {
namespace {

// Every key of a repetition's metrics object, and the flattened names of
// its latency percentiles (latency_ns.p99 -> latency_p99_ns).
std::set<std::string> names_in(const nlohmann::json& m) {
  std::set<std::string> out;
  for (const auto& [key, value] : m.items()) {
    out.insert(key);
    if (key == "latency_ns")
      for (const auto& [p, x] : value.items())
        if (p != "count" && p != "min" && p != "mean") out.insert("latency_" + p + "_ns");
  }
  return out;
}

void expect_every_name_has_a_row(const std::set<std::string>& names, const std::string& from) {
  for (const auto& name : names) EXPECT_NE(metrics::find(name), nullptr) << name << " (" << from << ")";
}

TEST(MetricTable, HasARowForEveryMetricTheProbeWrites) {
  Probe probe;
  auto hists = probe.latency_histograms(2);
  probe.start();
  probe.memory_baseline();
  probe.memory_parked(2);
  hists[0].record(100);
  hists[1].record(200);
  probe.set_operations(2);
  probe.stop();
  for (const auto& m : metrics::all())
    if (m.source == metrics::workload) probe.metric(m.name, 1);
  const nlohmann::json written = probe.metrics();
  // The memory readings may be missing where /proc cannot be read; the rest
  // is always there.
  for (const char* name : {"wall_s", "operations", "passes", "ops_per_s", "ns_per_op", "cpu_user_s", "cpu_sys_s",
                           "ctx_voluntary", "ctx_involuntary", "cpu_ns_per_op", "ctx_per_op", "latency_ns"})
    EXPECT_TRUE(written.contains(name)) << name;
  const auto names = names_in(written);
  expect_every_name_has_a_row(names, "Probe::metrics");
  // A percentile row reads a key the probe writes.
  for (const auto& m : metrics::all())
    if (m.source == metrics::flattened) {
      EXPECT_TRUE(written.at("latency_ns").contains(m.latency_key)) << m.name;
    }
  for (const auto& name : names) {
    const auto* m = metrics::find(name);
    if (m && m->source != metrics::workload) {
      EXPECT_TRUE(m->source == metrics::probe || m->source == metrics::flattened) << name;
    }
  }
}

TEST(MetricTable, HasARowForEveryMetricTheCounterAndTheRunnerWrite) {
  nlohmann::json m = {{"operations", 10}};
  add_count_metrics(m, CallgrindCounts{100, 1, 20, 3});
  expect_every_name_has_a_row(names_in(m), "add_count_metrics");
  for (const auto& name : count_metric_names()) EXPECT_EQ(metrics::find(name)->source, metrics::counter) << name;

  // The runner's memory_peak_bytes and memory_method, and whatever else
  // real runs' results carry (files kept with the tests).
  std::set<std::string> all;
  for (const char* file : {"/report/fixture.json", "/unit/gbench/run_a.json"}) {
    std::ifstream in(std::string(CMBENCH_TEST_DIR) + file);
    ASSERT_TRUE(in) << file;
    const auto doc = nlohmann::json::parse(in);
    std::set<std::string> names;
    for (const auto& cell : doc.at("cells"))
      for (const auto& rep : cell.value("repetitions", nlohmann::json::array()))
        if (rep.contains("metrics")) names.merge(names_in(rep["metrics"]));
    expect_every_name_has_a_row(names, file);
    all.merge(names);
  }
  EXPECT_TRUE(all.count("memory_peak_bytes") && all.count("memory_method"));
}

// The workloads that write metrics of their own (Probe::metric) do it in
// their spec's report(); together they write exactly the table's workload
// rows.
TEST(MetricTable, HasARowForEveryMetricAWorkloadWrites) {
  Probe probe;
  probe.start();
  // Some wall time: blocking writes its rates only over a positive one.
  std::this_thread::sleep_for(std::chrono::milliseconds(1));
  probe.set_operations(4);
  probe.stop();
  const nlohmann::json before = probe.metrics();
  blocking::report(probe, make_params(blocking::spec().params, {}), {}, 3, "inline");
  fairness::LocalBoard board(2);
  std::vector<Histogram> hists(1);
  fairness::report(probe, make_params(fairness::spec().params, {}), *board, {}, hists, "yield");
  const nlohmann::json after = probe.metrics();
  std::set<std::string> written, rows;
  for (const auto& [key, value] : after.items())
    if (!before.contains(key)) written.insert(key);
  for (const auto& m : metrics::all())
    if (m.source == metrics::workload) rows.insert(m.name);
  EXPECT_EQ(written, rows);
}

TEST(MetricTable, NamesAreUniqueAndEveryRowIsComplete) {
  std::set<std::string_view> names, short_labels;
  for (const auto& m : metrics::all()) {
    EXPECT_TRUE(names.insert(m.name).second) << "twice: " << m.name;
    EXPECT_EQ(metrics::find(m.name), &m);
    EXPECT_NE(std::string_view(m.unit), "") << m.name;
    EXPECT_NE(std::string_view(m.description), "") << m.name;
    if (*m.short_label) {
      EXPECT_TRUE(short_labels.insert(m.short_label).second) << m.short_label;
    }
    // What is judged or compared must say which way is worse.
    if (m.judged || m.gate != metrics::Gate::no) {
      EXPECT_NE(m.direction, metrics::none) << m.name;
    }
    if (m.gate != metrics::Gate::no) {
      EXPECT_NE(std::string_view(m.short_label), "") << m.name;
    }
    // A percentile exists only as an aggregate.
    if (m.source == metrics::flattened) {
      EXPECT_TRUE(m.aggregated) << m.name;
    }
  }
  EXPECT_EQ(metrics::find("no_such_metric"), nullptr);
  EXPECT_EQ(metrics::find(""), nullptr);
}

TEST(MetricTable, TheGateComparesTheTablesRowsAsTheTableSays) {
  std::vector<std::string> names;
  for (const auto& c : compared_metrics()) {
    names.push_back(c.name);
    const auto* m = metrics::find(c.name);
    ASSERT_NE(m, nullptr) << c.name;
    EXPECT_NE(m->gate, metrics::Gate::no) << c.name;
    EXPECT_EQ(c.label, m->short_label);
    EXPECT_EQ(c.lower_is_better, m->direction == metrics::lower_is_better) << c.name;
    EXPECT_EQ(c.is_bytes, std::string_view(m->unit) == "bytes") << c.name;
    EXPECT_EQ(c.exact, m->gate == metrics::Gate::exact) << c.name;
  }
  // The gate's order and set, as its tables print them.
  EXPECT_EQ(names, (std::vector<std::string>{"ns_per_op", "cpu_ns_per_op", "latency_p50_ns", "latency_p99_ns",
                                             "memory_peak_bytes", "memory_per_unit_bytes", "instructions_per_op",
                                             "d1_misses_per_op", "ll_misses_per_op"}));
  EXPECT_EQ(CompareOptions{}.per_metric,
            (std::map<std::string, double>{{"d1_misses_per_op", 0.10}, {"ll_misses_per_op", 0.10}}));
}

TEST(MetricTable, TheHistoryJudgesTheTablesDirections) {
  for (const auto& m : metrics::all()) {
    const auto d = history::metric_direction(m.name);
    if (!m.judged) {
      EXPECT_FALSE(d) << m.name;
      continue;
    }
    ASSERT_TRUE(d) << m.name;
    EXPECT_EQ(*d == history::Direction::lower_is_better, m.direction == metrics::lower_is_better) << m.name;
  }
  EXPECT_FALSE(history::metric_direction("no_such_metric"));
  EXPECT_EQ(history::metrics_with_direction(), (std::set<std::string>{"ns_per_op",
                                                                      "cpu_ns_per_op",
                                                                      "ctx_per_op",
                                                                      "ops_per_s",
                                                                      "latency_p50_ns",
                                                                      "latency_p90_ns",
                                                                      "latency_p99_ns",
                                                                      "latency_p999_ns",
                                                                      "latency_max_ns",
                                                                      "memory_peak_bytes",
                                                                      "memory_per_unit_bytes",
                                                                      "blocking_calls_per_s",
                                                                      "bystander_round_trips_per_s",
                                                                      "bystander_max_latency_ns",
                                                                      "jain_index",
                                                                      "os_threads_peak",
                                                                      "instructions",
                                                                      "instructions_per_op",
                                                                      "d1_misses",
                                                                      "d1_misses_per_op",
                                                                      "ll_misses",
                                                                      "ll_misses_per_op"}));
}

TEST(MetricTable, TheReportAndTheResultsReadTheTable) {
  for (const auto& m : metrics::all()) {
    const auto label = report::metric_label(m.name);
    if (!*m.report_label) {
      EXPECT_EQ(std::string_view(label.label), "") << m.name;
      continue;
    }
    EXPECT_EQ(std::string_view(label.label), m.report_label);
    EXPECT_EQ(std::string_view(label.unit), m.unit);
    EXPECT_EQ(label.lower_is_better, m.direction != metrics::higher_is_better) << m.name;
  }
  const auto& aggregated = aggregated_metrics();
  EXPECT_EQ(std::set<std::string>(aggregated.begin(), aggregated.end()),
            (std::set<std::string>{"wall_s", "ns_per_op", "ops_per_s", "cpu_user_s", "cpu_sys_s", "cpu_ns_per_op",
                                   "ctx_voluntary", "ctx_involuntary", "ctx_per_op", "memory_peak_bytes", "ref_loop_ns", "ref_cross_cpu_ns",
                                   "latency_p50_ns", "latency_p90_ns", "latency_p99_ns", "latency_p999_ns",
                                   "latency_max_ns", "memory_per_unit_bytes"}));
  for (const auto& name : aggregated) EXPECT_TRUE(metrics::find(name)->aggregated) << name;
  // Google Benchmark's own fields carry these three; every other aggregate is a counter.
  std::set<std::string> gbench;
  for (const auto& m : metrics::all())
    if (*m.gbench_field) gbench.insert(m.name);
  EXPECT_EQ(gbench, (std::set<std::string>{"ns_per_op", "cpu_ns_per_op", "ops_per_s"}));
}

TEST(MetricTable, AWorkloadMayWriteItsOwnRowsButNotTheHarnesss) {
  // The names Probe::metric has always refused (the cell client library's
  // contract).
  std::set<std::string> reserved;
  for (const auto& m : metrics::all())
    if (metrics::reserved(m)) reserved.insert(m.name);
  EXPECT_EQ(reserved, (std::set<std::string>{"wall_s", "operations", "ops_per_s", "ns_per_op", "cpu_user_s", "ref_loop_ns", "ref_cross_cpu_ns",
                                             "cpu_sys_s", "ctx_voluntary", "ctx_involuntary", "cpu_ns_per_op",
                                             "ctx_per_op", "memory_units", "memory_baseline_bytes",
                                             "memory_parked_bytes", "memory_per_unit_bytes", "memory_per_unit_method",
                                             "kernel_per_unit_bytes", "latency_ns", "memory_peak_bytes"}));
  Probe probe;
  for (const auto& m : metrics::all()) {
    if (metrics::reserved(m)) {
      EXPECT_THROW(probe.metric(m.name, 1), std::invalid_argument) << m.name;
    } else if (m.source == metrics::workload) {
      EXPECT_NO_THROW(probe.metric(m.name, 1)) << m.name;
    }
  }
}

}  // namespace
}  // namespace cmbench
