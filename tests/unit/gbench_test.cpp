// The Google Benchmark export: every entry carries the keys, with the types,
// that Google Benchmark's tools/compare.py (and gbench/report.py, util.py),
// github-action-benchmark and Bencher read; each cell appears; and every
// number equals the one in the cmbench results file it came from.
//
// Inputs: tests/report/fixture.json (the report's fixture: its repetitions
// are trimmed to their operation counts, and one cell timed out) and
// tests/unit/gbench/run_a.json, run_b.json (two real `cmbench run`s, made
// by the command each records, with every metric of every repetition).
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "harness/results/gbench.hpp"
#include "harness/results/results.hpp"
#include "harness/stats/stats.hpp"

namespace cmbench {
namespace {

using nlohmann::json;

const std::string kTests = CMBENCH_TEST_DIR;

json load(const std::string& relative) { return load_results(kTests + "/" + relative); }

// The entries whose run_name is `cell`, in order.
std::vector<json> entries_of(const json& gb, const std::string& cell) {
  std::vector<json> out;
  for (const auto& e : gb["benchmarks"])
    if (e["run_name"] == cell) out.push_back(e);
  return out;
}

bool is_int(const json& j, const char* key) { return j.contains(key) && j[key].is_number_integer(); }
bool is_num(const json& j, const char* key) { return j.contains(key) && j[key].is_number(); }
bool is_str(const json& j, const char* key) { return j.contains(key) && j[key].is_string(); }

// The context block as Google Benchmark writes it; cmbench's extras are
// strings, as benchmark::AddCustomContext writes them.
void expect_gb_context(const json& gb) {
  ASSERT_TRUE(gb.contains("context") && gb["context"].is_object());
  const json& c = gb["context"];
  EXPECT_TRUE(is_str(c, "date"));
  EXPECT_TRUE(is_str(c, "host_name"));
  EXPECT_TRUE(is_str(c, "executable"));
  EXPECT_TRUE(is_int(c, "num_cpus"));
  EXPECT_TRUE(is_int(c, "mhz_per_cpu"));
  EXPECT_TRUE(c.contains("cpu_scaling_enabled") && c["cpu_scaling_enabled"].is_boolean());
  EXPECT_TRUE(c.contains("caches") && c["caches"].is_array());  // Bencher requires it
  EXPECT_TRUE(c.contains("load_avg") && c["load_avg"].is_array());
  ASSERT_TRUE(is_str(c, "library_build_type"));
  EXPECT_TRUE(c["library_build_type"] == "release" || c["library_build_type"] == "debug");
  const std::set<std::string> typed = {"num_cpus", "mhz_per_cpu", "cpu_scaling_enabled", "caches", "load_avg"};
  for (const auto& [key, value] : c.items())
    if (!typed.count(key)) {
      EXPECT_TRUE(value.is_string()) << key;
    }
}

// Every entry, checked the way the readers read it.
void expect_gb_entries(const json& gb) {
  ASSERT_TRUE(gb.contains("benchmarks") && gb["benchmarks"].is_array());
  const std::set<std::string> aggregates = {"mean", "median", "stddev", "cv"};
  for (const auto& e : gb["benchmarks"]) {
    SCOPED_TRACE(e.dump());
    // get_unique_benchmark_names and partition_benchmarks index name;
    // Bencher refuses an empty one.
    ASSERT_TRUE(is_str(e, "name"));
    EXPECT_FALSE(e["name"].get<std::string>().empty());
    EXPECT_TRUE(is_str(e, "run_name"));
    // is_potentially_comparable_benchmark, calculate_geomean (for every
    // iteration entry, failed ones included) and Bencher need all three.
    EXPECT_TRUE(is_num(e, "real_time"));
    EXPECT_TRUE(is_num(e, "cpu_time"));
    EXPECT_EQ(e.value("time_unit", ""), "ns");
    EXPECT_TRUE(e["real_time"].is_number_float());
    EXPECT_TRUE(e["cpu_time"].is_number_float());
    EXPECT_TRUE(is_int(e, "iterations"));
    EXPECT_TRUE(is_int(e, "repetitions"));
    EXPECT_TRUE(is_int(e, "threads"));
    EXPECT_EQ(e.value("threads", 0), 1);
    // sort_benchmark_results orders by these.
    EXPECT_TRUE(is_int(e, "family_index"));
    EXPECT_TRUE(is_int(e, "per_family_instance_index"));
    ASSERT_TRUE(is_str(e, "run_type"));
    if (e["run_type"] == "aggregate") {
      ASSERT_TRUE(is_str(e, "aggregate_name"));
      const std::string agg = e["aggregate_name"];
      EXPECT_TRUE(aggregates.count(agg)) << agg;
      EXPECT_EQ(e["name"], e["run_name"].get<std::string>() + "_" + agg);
      EXPECT_EQ(e.value("aggregate_unit", ""), agg == "cv" ? "percentage" : "time");
      EXPECT_FALSE(e.contains("repetition_index"));  // Google Benchmark leaves it out
      EXPECT_FALSE(e.contains("error_occurred"));
    } else {
      EXPECT_EQ(e["run_type"], "iteration");
      EXPECT_EQ(e["name"], e["run_name"]);
      ASSERT_TRUE(is_int(e, "repetition_index"));
      EXPECT_LT(e["repetition_index"].get<int64_t>(), e["repetitions"].get<int64_t>());
      EXPECT_FALSE(e.contains("aggregate_name"));
    }
    if (e.contains("error_occurred")) {
      EXPECT_EQ(e["error_occurred"], true);
      ASSERT_TRUE(is_str(e, "error_message"));
      EXPECT_FALSE(e["error_message"].get<std::string>().empty());
      EXPECT_EQ(e["real_time"], 0.0);
      EXPECT_EQ(e["cpu_time"], 0.0);
    }
    // User counters are plain numbers, as Google Benchmark writes them.
    const std::set<std::string> strings = {"name", "run_name", "run_type", "time_unit", "aggregate_name",
                                           "aggregate_unit", "error_message", "label"};
    for (const auto& [key, value] : e.items())
      if (!strings.count(key) && key != "error_occurred") {
        EXPECT_TRUE(value.is_number()) << key;
      }
  }
}

// A repetition's metric by its aggregate name, as cmbench aggregates it.
std::optional<double> rep_metric(const json& metrics, const std::string& name) {
  if (name.rfind("latency_", 0) == 0) {
    const std::string key = name.substr(8, name.size() - 11);
    if (!metrics.contains("latency_ns") || !metrics["latency_ns"].contains(key)) return std::nullopt;
    return metrics["latency_ns"][key].get<double>();
  }
  if (!metrics.contains(name) || !metrics[name].is_number()) return std::nullopt;
  return metrics[name].get<double>();
}

bool timed(const json& rep) {
  return rep.value("outcome", "") == "ok" && rep.contains("metrics") && rep["metrics"].contains("ns_per_op") &&
         rep["metrics"].contains("cpu_ns_per_op") && rep["metrics"].contains("operations");
}

// Each cell appears: an ok cell with its times as one entry per repetition
// plus four aggregates (for two or more), any other as one error entry; and
// every number is the file's.
void expect_cells(const json& doc, const json& gb) {
  size_t expected_entries = 0;
  for (const auto& cell : doc["cells"]) {
    const std::string name = cell["name"];
    SCOPED_TRACE(name);
    const auto entries = entries_of(gb, name);
    const auto& reps = cell["repetitions"];
    const bool has_times = !reps.empty() && std::all_of(reps.begin(), reps.end(), timed);
    if (cell["outcome"] != "ok" || !has_times) {
      ASSERT_EQ(entries.size(), 1u);
      expected_entries += 1;
      EXPECT_EQ(entries[0]["error_occurred"], true);
      const std::string message = entries[0]["error_message"];
      if (cell["outcome"] != "ok") {
        EXPECT_EQ(message.rfind(cell["outcome"].get<std::string>(), 0), 0u) << message;
        if (cell.contains("message")) {
          EXPECT_NE(message.find(cell["message"].get<std::string>()), std::string::npos) << message;
        }
      } else {
        EXPECT_NE(message.find("ns_per_op"), std::string::npos) << message;
      }
      continue;
    }
    const size_t n = reps.size();
    const size_t aggregates = n >= 2 ? 4 : 0;
    ASSERT_EQ(entries.size(), n + aggregates);
    expected_entries += n + aggregates;
    for (size_t i = 0; i < n; ++i) {
      const json& e = entries[i];
      const json& m = reps[i]["metrics"];
      EXPECT_EQ(e["run_type"], "iteration");
      EXPECT_EQ(e["repetition_index"], i);
      EXPECT_EQ(e["repetitions"], n);
      EXPECT_EQ(e["iterations"], m["operations"].get<int64_t>());
      EXPECT_DOUBLE_EQ(e["real_time"].get<double>(), m["ns_per_op"].get<double>());
      EXPECT_DOUBLE_EQ(e["cpu_time"].get<double>(), m["cpu_ns_per_op"].get<double>());
      EXPECT_DOUBLE_EQ(e["items_per_second"].get<double>(), m["ops_per_s"].get<double>());
      for (const auto& metric : aggregated_metrics()) {
        if (metric == "ns_per_op" || metric == "cpu_ns_per_op" || metric == "ops_per_s") continue;
        auto v = rep_metric(m, metric);
        if (metric == "memory_peak_bytes" && v && *v < 0) v.reset();
        ASSERT_EQ(e.contains(metric), v.has_value()) << metric;
        if (v) {
          EXPECT_DOUBLE_EQ(e[metric].get<double>(), *v) << metric;
        }
      }
      EXPECT_FALSE(e.contains("error_occurred"));
    }
    // The aggregates equal the cell's own, which cmbench computed over the
    // same repetitions, for the times and for every counter.
    const json& agg = cell["aggregates"];
    const std::vector<std::string> names = {"mean", "median", "stddev", "cv"};
    for (size_t k = 0; k < aggregates; ++k) {
      const json& e = entries[n + k];
      const std::string stat = names[k];
      EXPECT_EQ(e["aggregate_name"], stat);
      EXPECT_EQ(e["iterations"], n);
      EXPECT_NEAR(e["real_time"].get<double>(), agg["ns_per_op"][stat].get<double>(),
                  1e-9 * std::abs(agg["ns_per_op"][stat].get<double>()));
      EXPECT_NEAR(e["cpu_time"].get<double>(), agg["cpu_ns_per_op"][stat].get<double>(),
                  1e-9 * std::abs(agg["cpu_ns_per_op"][stat].get<double>()));
      EXPECT_NEAR(e["items_per_second"].get<double>(), agg["ops_per_s"][stat].get<double>(),
                  1e-9 * std::abs(agg["ops_per_s"][stat].get<double>()));
      for (const auto& [metric, summary] : agg.items()) {
        if (metric == "ns_per_op" || metric == "cpu_ns_per_op" || metric == "ops_per_s") continue;
        ASSERT_TRUE(e.contains(metric)) << metric;
        EXPECT_NEAR(e[metric].get<double>(), summary[stat].get<double>(),
                    1e-9 * std::abs(summary[stat].get<double>()) + 1e-12)
            << metric << " " << stat;
      }
    }
  }
  EXPECT_EQ(gb["benchmarks"].size(), expected_entries);
}

TEST(Gbench, FixtureHasEveryKeyEveryReaderNeeds) {
  const json doc = load("report/fixture.json");
  const json gb = to_gbench(doc);
  expect_gb_context(gb);
  expect_gb_entries(gb);
  expect_cells(doc, gb);
}

TEST(Gbench, FixtureContextComesFromTheResultsFile) {
  const json c = to_gbench(load("report/fixture.json"))["context"];
  // The same instant, spelled as Google Benchmark spells it.
  EXPECT_EQ(c["date"], "2026-11-26T13:06:11+00:00");
  EXPECT_EQ(c["host_name"], "vm");
  EXPECT_EQ(c["executable"], "build/release/cmbench");
  EXPECT_EQ(c["num_cpus"], 2);
  EXPECT_EQ(c["mhz_per_cpu"], 2000);  // "Test CPU @ 2.0GHz"
  EXPECT_EQ(c["cpu_scaling_enabled"], false);  // governor null: not exposed
  EXPECT_EQ(c["library_build_type"], "release");  // -DNDEBUG
  EXPECT_TRUE(c["caches"].empty());
  // cmbench's own context, as strings.
  EXPECT_EQ(c["cpu_model"], "Test CPU @ 2.0GHz");
  EXPECT_EQ(c["git_commit"], "1111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  EXPECT_EQ(c["git_dirty"], "false");
  EXPECT_EQ(c["libraries.boost"], "1.81.0");
  EXPECT_EQ(c["cores_available"], "2");
  EXPECT_EQ(c["options.repetitions"], "3");
  EXPECT_EQ(c["options.preset"], "quick");
  EXPECT_EQ(c["command"], "build/release/cmbench run --preset quick --models thread,fiber");
  EXPECT_FALSE(c.contains("governor"));
  EXPECT_FALSE(c.contains("host"));
}

TEST(Gbench, FixtureTimeoutIsOneErrorEntry) {
  const json gb = to_gbench(load("report/fixture.json"));
  const auto e = entries_of(gb, "counter/fiber/units:2/increments:20000/mode:message/stack_size:16384");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0]["error_occurred"], true);
  EXPECT_EQ(e[0]["error_message"], "timeout: killed by the watchdog after 120 s");
  EXPECT_EQ(e[0]["run_type"], "iteration");
  EXPECT_EQ(e[0]["repetitions"], 3);  // as the run asked for
  EXPECT_EQ(e[0]["repetition_index"], 0);
  EXPECT_EQ(e[0]["iterations"], 0);
}

TEST(Gbench, LimitCellNamesItsErrno) {
  const json doc = load("report/fixture2.json");
  const json gb = to_gbench(doc);
  expect_gb_context(gb);
  expect_gb_entries(gb);
  expect_cells(doc, gb);
  const auto e = entries_of(gb, "spawn/thread/units:100000");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0]["error_message"].get<std::string>().rfind("limit: pthread_create", 0), 0u);
}

TEST(Gbench, RealRunsMatchTheirResultsFiles) {
  for (const char* file : {"unit/gbench/run_a.json", "unit/gbench/run_b.json"}) {
    SCOPED_TRACE(file);
    const json doc = load(file);
    const json gb = to_gbench(doc);
    expect_gb_context(gb);
    expect_gb_entries(gb);
    expect_cells(doc, gb);
    // The real files hold ok cells with several repetitions, so the value
    // checks above did run.
    size_t aggregates = 0;
    for (const auto& e : gb["benchmarks"]) aggregates += e["run_type"] == "aggregate";
    EXPECT_GE(aggregates, 4u * 3);
    EXPECT_EQ(gb["context"]["host_name"], doc["context"]["host"]);
    EXPECT_EQ(gb["context"]["num_cpus"], doc["context"]["cores_online"]);
  }
}

// The smallest results document with one ok cell of `reps` repetitions.
json doc_with(const std::vector<json>& cells) {
  return {{"schema", kSchemaName},
          {"schema_version", kSchemaVersion},
          {"context", {{"date", "2026-01-02T03:04:05Z"}, {"host", "h"}, {"cores_online", 4}}},
          {"command", {"cmbench", "run"}},
          {"options", {{"repetitions", 3}, {"warmup", 1}}},
          {"cells", cells}};
}

json rep(double ns, double cpu_ns, int64_t ops) {
  return {{"outcome", "ok"},
          {"metrics",
           {{"operations", ops},
            {"ns_per_op", ns},
            {"cpu_ns_per_op", cpu_ns},
            {"ops_per_s", 1e9 / ns},
            {"wall_s", ns * static_cast<double>(ops) * 1e-9},
            {"memory_peak_bytes", 1 << 20},
            {"latency_ns", {{"p50", 100}, {"p99", 900}}}}}};
}

json cell(const std::string& name, std::vector<json> reps, const std::string& outcome = "ok") {
  const auto first = name.find('/');
  const auto second = name.find('/', first + 1);
  return {{"name", name},
          {"workload", name.substr(0, first)},
          {"model", name.substr(first + 1, second - first - 1)},
          {"outcome", outcome},
          {"warnings", json::array()},
          {"repetitions", std::move(reps)},
          {"aggregates", json::object()}};
}

TEST(Gbench, AggregatesFollowGoogleBenchmark) {
  const json gb = to_gbench(doc_with({cell("w/m/a:1", {rep(10, 8, 100), rep(20, 16, 100), rep(60, 48, 100)})}));
  const auto e = entries_of(gb, "w/m/a:1");
  ASSERT_EQ(e.size(), 3u + 4);
  const json& mean = e[3];
  EXPECT_EQ(mean["name"], "w/m/a:1_mean");
  EXPECT_DOUBLE_EQ(mean["real_time"].get<double>(), 30);
  EXPECT_DOUBLE_EQ(mean["cpu_time"].get<double>(), 24);
  EXPECT_EQ(mean["iterations"], 3);
  EXPECT_DOUBLE_EQ(e[4]["real_time"].get<double>(), 20);  // median
  EXPECT_DOUBLE_EQ(e[5]["real_time"].get<double>(), std::sqrt(700.0));  // sample stddev
  EXPECT_DOUBLE_EQ(e[6]["real_time"].get<double>(), std::sqrt(700.0) / 30);  // cv, a fraction
  EXPECT_EQ(e[6]["aggregate_unit"], "percentage");
  EXPECT_DOUBLE_EQ(e[4]["latency_p99_ns"].get<double>(), 900);
  EXPECT_DOUBLE_EQ(e[5]["memory_peak_bytes"].get<double>(), 0);
}

TEST(Gbench, OneRepetitionHasNoAggregates) {
  // Google Benchmark writes aggregates only over two or more runs.
  const json gb = to_gbench(doc_with({cell("w/m/a:1", {rep(10, 8, 100)})}));
  ASSERT_EQ(gb["benchmarks"].size(), 1u);
  EXPECT_EQ(gb["benchmarks"][0]["repetitions"], 1);
  const json two = to_gbench(doc_with({cell("w/m/a:1", {rep(10, 8, 100), rep(12, 8, 100)})}));
  ASSERT_EQ(two["benchmarks"].size(), 2u + 4);
  EXPECT_DOUBLE_EQ(two["benchmarks"][3]["real_time"].get<double>(), 11);  // median of two
}

TEST(Gbench, FamiliesAreImplementationsAndInstancesTheirParameterPoints) {
  const json gb = to_gbench(doc_with({cell("w/a/p:1", {rep(1, 1, 1)}), cell("w/b/p:1", {rep(1, 1, 1)}),
                                      cell("w/a/p:2", {rep(1, 1, 1)}), cell("v/a/p:1", {}, "crashed")}));
  const auto& b = gb["benchmarks"];
  ASSERT_EQ(b.size(), 4u);
  EXPECT_EQ(b[0]["family_index"], 0);
  EXPECT_EQ(b[0]["per_family_instance_index"], 0);
  EXPECT_EQ(b[1]["family_index"], 1);
  EXPECT_EQ(b[1]["per_family_instance_index"], 0);
  EXPECT_EQ(b[2]["family_index"], 0);
  EXPECT_EQ(b[2]["per_family_instance_index"], 1);
  EXPECT_EQ(b[3]["family_index"], 2);
}

TEST(Gbench, FailedCellsAreOneEntryEach) {
  json crashed = cell("w/m/a:1", {rep(10, 8, 100), {{"outcome", "crashed"}}}, "crashed");
  crashed["message"] = "killed by a signal";
  crashed["signal"] = 11;
  json limit = cell("w/m/a:2", {}, "limit");  // stopped in its warm-up
  limit["message"] = "fork: Resource temporarily unavailable";
  limit["errno"] = 11;
  const json gb = to_gbench(doc_with({crashed, limit}));
  expect_gb_entries(gb);
  const auto& b = gb["benchmarks"];
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0]["error_message"], "crashed: killed by a signal (signal 11)");
  EXPECT_EQ(b[0]["repetition_index"], 1);  // the repetition that crashed
  EXPECT_EQ(b[1]["error_message"], "limit: fork: Resource temporarily unavailable (errno 11)");
  EXPECT_EQ(b[1]["repetition_index"], 0);
}

TEST(Gbench, TimesFromTheirIngredientsWhenPerOperationIsMissing) {
  json r = {{"outcome", "ok"},
            {"metrics", {{"operations", 4}, {"wall_s", 2e-6}, {"cpu_user_s", 1e-6}, {"cpu_sys_s", 5e-7}}}};
  const json gb = to_gbench(doc_with({cell("w/m/a:1", {r})}));
  const json& e = gb["benchmarks"][0];
  EXPECT_DOUBLE_EQ(e["real_time"].get<double>(), 500);
  EXPECT_DOUBLE_EQ(e["cpu_time"].get<double>(), 375);
  EXPECT_DOUBLE_EQ(e["items_per_second"].get<double>(), 2e6);
}

TEST(Gbench, UnreadableMemoryIsNoCounter) {
  json r = rep(10, 8, 100);
  r["metrics"]["memory_peak_bytes"] = -1;
  const json gb = to_gbench(doc_with({cell("w/m/a:1", {r})}));
  EXPECT_FALSE(gb["benchmarks"][0].contains("memory_peak_bytes"));
  EXPECT_TRUE(gb["benchmarks"][0].contains("latency_p50_ns"));
}

TEST(Gbench, WarningsAreTheLabel) {
  json c = cell("w/m/a:1", {rep(10, 8, 100), rep(11, 8, 100)});
  c["warnings"] = {"unstable: x", "built as Debug: y"};
  const json gb = to_gbench(doc_with({c}));
  for (const auto& e : gb["benchmarks"]) EXPECT_EQ(e["label"], "unstable: x; built as Debug: y");
}

TEST(Gbench, ScalingAndBuildTypeAsGoogleBenchmarkMeansThem) {
  json doc = doc_with({});
  doc["context"]["governor"] = "powersave";
  doc["context"]["cxx_flags"] = "-O0 -g";
  doc["context"]["cpu_model"] = "Intel(R) Xeon(R) CPU E5-2690 v4 @ 2.60GHz";
  json c = to_gbench(doc)["context"];
  EXPECT_EQ(c["cpu_scaling_enabled"], true);
  EXPECT_EQ(c["library_build_type"], "debug");
  EXPECT_EQ(c["mhz_per_cpu"], 2600);
  EXPECT_EQ(c["governor"], "powersave");
  doc["context"]["governor"] = "performance";
  doc["context"]["cpu_model"] = "AMD EPYC 7B13";
  c = to_gbench(doc)["context"];
  EXPECT_EQ(c["cpu_scaling_enabled"], false);
  EXPECT_EQ(c["mhz_per_cpu"], 0);  // no rate in the name
}

TEST(Gbench, OddDocumentsGiveAValidShapeAndNoThrow) {
  for (const json& doc : {json::object(), json{{"cells", 3}},
                          json{{"context", "x"}, {"cells", {json::object(), 5, json{{"name", 7}}}}},
                          json{{"cells", {json{{"name", "w/m"}, {"outcome", "ok"}, {"repetitions", {1, "x"}}}}}}}) {
    SCOPED_TRACE(doc.dump());
    json gb;
    ASSERT_NO_THROW(gb = to_gbench(doc));
    expect_gb_context(gb);
    expect_gb_entries(gb);
  }
}

}  // namespace
}  // namespace cmbench
