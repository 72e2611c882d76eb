#include "harness/results/gbench.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "harness/results/results.hpp"
#include "harness/stats/stats.hpp"
#include "harness/results/metrics.hpp"

namespace cmbench {

namespace {

using nlohmann::json;

// The cmbench context fields gb_context() turns into Google Benchmark's own
// keys (date, host_name, num_cpus), and so does not repeat as extras.
constexpr std::array<const char*, 3> kMappedContextKeys = {"date", "host", "cores_online"};

// The aggregates Google Benchmark computes over repetitions, in the order it
// writes them.
constexpr std::array<const char*, 4> kAggregateNames = {"mean", "median", "stddev", "cv"};

// Member access that treats a missing key, a non-object, or a value of the
// wrong type as absent: the exporter runs on whatever load_results()
// accepted, which checks only the top level.
const json* member(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

std::string string_of(const json& obj, const char* key) {
  const json* v = member(obj, key);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

std::optional<double> number_of(const json& obj, const char* key) {
  const json* v = member(obj, key);
  if (!v || !v->is_number()) return std::nullopt;
  return v->get<double>();
}

// Google Benchmark writes its date as local time with a numeric offset
// ("2026-11-26T13:06:11+00:00"); cmbench records UTC with a "Z". Both are
// RFC 3339, but readers written against Google Benchmark have only ever seen
// the offset form, so the export spells the same instant that way.
std::string gb_date(std::string date) {
  if (!date.empty() && date.back() == 'Z') {
    date.pop_back();
    date += "+00:00";
  }
  return date;
}

// cmbench does not record the clock rate. The CPU's model name usually
// states its nominal one ("... CPU @ 2.60GHz"), the closest thing the file
// has; 0 when it does not.
int64_t mhz_from_model(const std::string& model) {
  const auto at = model.rfind('@');
  if (at == std::string::npos) return 0;
  const char* start = model.c_str() + at + 1;
  char* end = nullptr;
  const double value = std::strtod(start, &end);
  if (end == start || !(value > 0)) return 0;
  std::string unit(end);
  unit.erase(0, unit.find_first_not_of(' '));
  if (unit.rfind("GHz", 0) == 0) return std::llround(value * 1000);
  if (unit.rfind("MHz", 0) == 0) return std::llround(value);
  return 0;
}

// Google Benchmark reports "release" when it was compiled with NDEBUG, so
// the same test on cmbench's recorded compiler flags keeps that meaning.
// Without recorded flags, the build type decides, as cmbench's own
// "not a Release build" warning does.
std::string library_build_type(const json& ctx) {
  const json* flags = member(ctx, "cxx_flags");
  if (flags && flags->is_string())
    return flags->get<std::string>().find("-DNDEBUG") != std::string::npos ? "release" : "debug";
  return string_of(ctx, "build_type") == "Release" ? "release" : "debug";
}

// Adds `value` to the context under `key` as a string, the only kind of
// extra context Google Benchmark writes (benchmark::AddCustomContext):
// objects are flattened into "parent.child" keys, lists joined with spaces,
// numbers and booleans spelled as in JSON. Nulls (a value the machine did
// not expose) are left out rather than written as a word a reader might take
// for data. A key already present is kept: Google Benchmark's own keys are
// written first and an extra never replaces one.
void add_extra(json& ctx, const std::string& key, const json& value) {
  if (value.is_null() || ctx.contains(key)) return;
  if (value.is_object()) {
    for (const auto& [k, v] : value.items()) add_extra(ctx, key + "." + k, v);
    return;
  }
  if (value.is_string()) {
    ctx[key] = value.get<std::string>();
  } else if (value.is_array()) {
    std::string joined;
    for (const auto& v : value) {
      if (!joined.empty()) joined += ' ';
      joined += v.is_string() ? v.get<std::string>() : v.dump();
    }
    ctx[key] = joined;
  } else {
    ctx[key] = value.dump();
  }
}

json gb_context(const json& doc) {
  static const json kNone = json::object();
  const json* found = member(doc, "context");
  const json& ctx = found && found->is_object() ? *found : kNone;
  json c = json::object();
  c["date"] = gb_date(string_of(ctx, "date"));
  c["host_name"] = string_of(ctx, "host");
  // The program that produced the numbers: the first word of the command
  // line the results file records.
  std::string executable = "cmbench";
  if (const json* cmd = member(doc, "command"); cmd && cmd->is_array() && !cmd->empty() &&
                                                (*cmd)[0].is_string())
    executable = (*cmd)[0].get<std::string>();
  c["executable"] = executable;
  auto cpus = number_of(ctx, "cores_online");
  if (!cpus) cpus = number_of(ctx, "cores_available");
  c["num_cpus"] = static_cast<int64_t>(cpus.value_or(0));
  c["mhz_per_cpu"] = mhz_from_model(string_of(ctx, "cpu_model"));
  // Google Benchmark calls scaling enabled when cpu0's governor is anything
  // but "performance", and not enabled when the machine does not expose a
  // governor; cmbench records the same file, or null.
  const std::string governor = string_of(ctx, "governor");
  c["cpu_scaling_enabled"] = !governor.empty() && governor != "performance";
  // cmbench does not record cache sizes or the load average; empty lists
  // keep the keys present for readers that require them (Bencher requires
  // "caches").
  c["caches"] = json::array();
  c["load_avg"] = json::array();
  c["library_build_type"] = library_build_type(ctx);

  for (const auto& [key, value] : ctx.items()) {
    bool mapped = false;
    for (const char* m : kMappedContextKeys) mapped = mapped || key == m;
    if (!mapped) add_extra(c, key, value);
  }
  if (const json* cmd = member(doc, "command")) add_extra(c, "command", *cmd);
  if (const json* options = member(doc, "options"); options && options->is_object())
    add_extra(c, "options", *options);
  // An interrupted run's file has only some of its cells; say so.
  if (const json* complete = member(doc, "complete")) add_extra(c, "complete", *complete);
  return c;
}

// The metrics that have a Google Benchmark field of their own, and so are
// not repeated as counters: time and CPU per operation are real_time and
// cpu_time, operations per second is items_per_second.
bool has_gb_field(const std::string& metric) {
  const metrics::Metric* m = metrics::find(metric);
  return m && *m->gbench_field;
}

// One measured repetition as Google Benchmark sees a run.
struct Run {
  int64_t iterations = 0;
  double real_ns = 0;  // wall nanoseconds per operation
  double cpu_ns = 0;   // CPU (user + sys) nanoseconds per operation
  std::map<std::string, double> counters;
};

// Reads an ok repetition; nothing when it lacks its operations or a time.
// cmbench writes ns_per_op and cpu_ns_per_op for every ok repetition; a
// file edited by hand may have only their ingredients, which give the same
// numbers.
std::optional<Run> read_run(const json& rep) {
  if (string_of(rep, "outcome") != "ok") return std::nullopt;
  const json* found = member(rep, "metrics");
  if (!found || !found->is_object()) return std::nullopt;
  const json& m = *found;
  const json* ops = member(m, metrics::operations.name);
  if (!ops || !ops->is_number()) return std::nullopt;
  Run run;
  run.iterations = ops->is_number_float() ? std::llround(ops->get<double>()) : ops->get<int64_t>();
  const double n = static_cast<double>(run.iterations);

  auto real = number_of(m, metrics::ns_per_op.name);
  if (!real)
    if (auto wall = number_of(m, metrics::wall_s.name); wall && n > 0) real = *wall * 1e9 / n;
  auto cpu = number_of(m, metrics::cpu_ns_per_op.name);
  if (!cpu)
    if (auto u = number_of(m, metrics::cpu_user_s.name), s = number_of(m, metrics::cpu_sys_s.name); u && s && n > 0)
      cpu = (*u + *s) * 1e9 / n;
  if (!real || !cpu) return std::nullopt;
  run.real_ns = *real;
  run.cpu_ns = *cpu;

  // Google Benchmark's SetItemsProcessed gives items_per_second as items
  // over the real time, which is cmbench's operations per second.
  if (auto rate = number_of(m, metrics::ops_per_s.name))
    run.counters["items_per_second"] = *rate;
  else if (run.real_ns > 0)
    run.counters["items_per_second"] = 1e9 / run.real_ns;
  for (const auto& name : aggregated_metrics())
    if (!has_gb_field(name))
      if (auto v = metric_value(m, name)) run.counters[name] = *v;
  return run;
}

// Where a cell sits among Google Benchmark's families: one family per
// implementation (workload/model, as one BENCHMARK registration), one
// instance per parameter point, numbered in order of first appearance.
struct Position {
  int64_t family = 0;
  int64_t instance = 0;
};

class Families {
 public:
  Position place(const std::string& family) {
    auto [it, added] = next_instance_.try_emplace(family, 0);
    if (added) family_index_[family] = static_cast<int64_t>(family_index_.size());
    return {family_index_[family], it->second++};
  }

 private:
  std::map<std::string, int64_t> family_index_;
  std::map<std::string, int64_t> next_instance_;
};

std::string family_of(const json& cell, const std::string& name) {
  const std::string workload = string_of(cell, "workload"), model = string_of(cell, "model");
  if (!workload.empty() && !model.empty()) return workload + "/" + model;
  // The name starts with workload/model.
  const auto first = name.find('/');
  const auto second = first == std::string::npos ? first : name.find('/', first + 1);
  return name.substr(0, second);
}

// The keys every entry has, in Google Benchmark's sense.
json entry(const std::string& name, const std::string& run_name, const Position& at,
           const char* run_type, int64_t repetitions) {
  return {{"name", name},
          {"run_name", run_name},
          {"family_index", at.family},
          {"per_family_instance_index", at.instance},
          {"run_type", run_type},
          {"repetitions", repetitions},
          {"threads", 1},
          {"time_unit", "ns"}};
}

// Why a cell that is not ok has no numbers, in one line as the report gives
// it: the outcome, the message, and the errno or signal.
std::string failure_message(const json& cell) {
  std::string outcome = string_of(cell, "outcome");
  if (outcome.empty()) outcome = "unknown outcome";
  std::string text = outcome;
  if (const std::string message = string_of(cell, "message"); !message.empty()) text += ": " + message;
  if (auto err = number_of(cell, "errno")) text += fmt::format(" (errno {})", static_cast<int64_t>(*err));
  if (auto sig = number_of(cell, "signal")) text += fmt::format(" (signal {})", static_cast<int64_t>(*sig));
  return text;
}

// The single entry of a cell without numbers. Google Benchmark writes a run
// that called SkipWithError with its keys complete and times of 0, and the
// readers rely on that: compare.py reads real_time and cpu_time of every
// iteration entry for its geometric mean, Bencher refuses a file whose
// entries lack real_time or time_unit.
json error_entry(const std::string& name, const Position& at, int64_t repetitions,
                 int64_t repetition_index, const std::string& message) {
  json e = entry(name, name, at, "iteration", repetitions);
  e["repetition_index"] = repetition_index;
  e["error_occurred"] = true;
  e["error_message"] = message;
  e["iterations"] = 0;
  e["real_time"] = 0.0;
  e["cpu_time"] = 0.0;
  return e;
}

double statistic(const Summary& s, const std::string& aggregate) {
  if (aggregate == "mean") return s.mean;
  if (aggregate == "median") return s.median;
  if (aggregate == "stddev") return s.stddev;
  return s.cv;
}

// Appends an ok cell's entries: one per repetition, then, as Google
// Benchmark does for two or more repetitions, its aggregates. Each aggregate
// is taken over the repetitions with cmbench's own statistics (sample
// standard deviation, median of the middle two for an even count), so it
// equals the cell's "aggregates" in the results file.
void add_runs(json& out, const std::string& name, const Position& at, const std::vector<Run>& runs,
              const std::string& label) {
  const auto repetitions = static_cast<int64_t>(runs.size());
  for (size_t i = 0; i < runs.size(); ++i) {
    json e = entry(name, name, at, "iteration", repetitions);
    e["repetition_index"] = static_cast<int64_t>(i);
    e["iterations"] = runs[i].iterations;
    e["real_time"] = runs[i].real_ns;
    e["cpu_time"] = runs[i].cpu_ns;
    for (const auto& [counter, value] : runs[i].counters) e[counter] = value;
    if (!label.empty()) e["label"] = label;
    out.push_back(std::move(e));
  }
  if (runs.size() < 2) return;

  std::vector<double> real, cpu;
  std::map<std::string, std::vector<double>> counters;
  for (const auto& run : runs) {
    real.push_back(run.real_ns);
    cpu.push_back(run.cpu_ns);
    for (const auto& [counter, value] : run.counters) counters[counter].push_back(value);
  }
  const Summary real_s = summarize(real), cpu_s = summarize(cpu);
  std::map<std::string, Summary> counter_s;
  for (const auto& [counter, values] : counters) counter_s[counter] = summarize(values);

  for (const std::string aggregate : kAggregateNames) {
    json e = entry(name + "_" + aggregate, name, at, "aggregate", repetitions);
    e["aggregate_name"] = aggregate;
    // The coefficient of variation is a ratio, not a time: Google Benchmark
    // marks it so (and still writes it in real_time and cpu_time).
    e["aggregate_unit"] = aggregate == "cv" ? "percentage" : "time";
    // Google Benchmark counts an aggregate's iterations as the runs it
    // summarises.
    e["iterations"] = repetitions;
    e["real_time"] = statistic(real_s, aggregate);
    e["cpu_time"] = statistic(cpu_s, aggregate);
    for (const auto& [counter, s] : counter_s) e[counter] = statistic(s, aggregate);
    if (!label.empty()) e["label"] = label;
    out.push_back(std::move(e));
  }
}

std::string joined_warnings(const json& cell) {
  std::string label;
  if (const json* warnings = member(cell, "warnings"); warnings && warnings->is_array())
    for (const auto& w : *warnings)
      if (w.is_string()) label += (label.empty() ? "" : "; ") + w.get<std::string>();
  return label;
}

}  // namespace

json to_gbench(const json& results_doc) {
  json out = {{"context", gb_context(results_doc)}, {"benchmarks", json::array()}};
  json& benchmarks = out["benchmarks"];
  const json* cells = member(results_doc, "cells");
  if (!cells || !cells->is_array()) return out;

  // The repetitions the run asked for: a cell without numbers reports them
  // on its one entry, as Google Benchmark reports the configured count on
  // every run, failed or not.
  int64_t configured = 0;
  if (const json* options = member(results_doc, "options"))
    if (auto n = number_of(*options, "repetitions"); n && *n >= 1) configured = static_cast<int64_t>(*n);

  Families families;
  for (size_t index = 0; index < cells->size(); ++index) {
    const json& cell = (*cells)[index];
    std::string name = string_of(cell, "name");
    // Every reader needs a non-empty name; a cell without one still shows.
    if (name.empty()) name = fmt::format("cell{}", index);
    const Position at = families.place(family_of(cell, name));
    const json* reps = member(cell, "repetitions");
    const size_t rep_count = reps && reps->is_array() ? reps->size() : 0;
    const int64_t repetitions = std::max({configured, static_cast<int64_t>(rep_count), int64_t{1}});

    if (string_of(cell, "outcome") != "ok") {
      // The first measured repetition that was not ok stopped the cell; a
      // cell that stopped in its warm-up has none, and reports index 0.
      int64_t failed_at = 0;
      for (size_t i = 0; i < rep_count; ++i)
        if (string_of((*reps)[i], "outcome") != "ok") {
          failed_at = static_cast<int64_t>(i);
          break;
        }
      benchmarks.push_back(error_entry(name, at, repetitions, failed_at, failure_message(cell)));
      continue;
    }

    std::vector<Run> runs;
    std::optional<size_t> untimed;
    for (size_t i = 0; i < rep_count && !untimed; ++i) {
      if (auto run = read_run((*reps)[i]))
        runs.push_back(std::move(*run));
      else
        untimed = i;
    }
    if (rep_count == 0) {
      benchmarks.push_back(
          error_entry(name, at, repetitions, 0, "ok, but the results file has no measured repetition"));
    } else if (untimed) {
      // A number cmbench did not measure is never made up: the cell shows,
      // with the reason it has none.
      benchmarks.push_back(error_entry(
          name, at, repetitions, static_cast<int64_t>(*untimed),
          fmt::format("ok, but repetition {} has no operations or time per operation "
                      "(metrics.ns_per_op, metrics.cpu_ns_per_op) in the results file",
                      *untimed)));
    } else {
      add_runs(benchmarks, name, at, runs, joined_warnings(cell));
    }
  }
  return out;
}

}  // namespace cmbench
