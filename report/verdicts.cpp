#include "report/verdicts.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <string_view>

#include "harness/cli/table.hpp"
#include "report/analysis.hpp"
#include "report/charts.hpp"
#include "report/tables.hpp"
#include "harness/results/context.hpp"
#include "harness/results/metrics.hpp"

namespace cmbench::report {

namespace {

// ---- Thresholds: every number a rule compares with, and why ----

// "Still heavy": a kernel thread costs at least this many times the cheapest
// user-space unit. Below 4x the difference is within what an allocator or a
// cache miss changes between runs; above it, the unit's kind decides.
constexpr double kHeavyFactor = 4;
// "Little memory per connection": at most a tenth of the cheapest kernel
// task's, the gap the notes' "exhaust the server's memory" needs: ten times
// the connections in the same memory.
constexpr double kLittleMemoryFraction = 0.1;
// "More code": the callback implementation is at least 25% longer than the
// median of the other models' implementations of the same workloads; less
// is the noise of style (a helper more or less).
constexpr double kMoreCodeFactor = 1.25;
// "Millions fit": a million units alive at once, the notes' figure.
constexpr double kMillion = 1'000'000;
// "Stop near 10,000": a kernel task stops within an order of magnitude of
// the notes' 10,000 (pid_max is 32,768 by default).
constexpr double kKernelStop = 100'000;
// "Yields on a blocking call": the bystanders' p99 round trip stays under
// half of one blocking call's delay; a runtime that does not yield makes
// every bystander queued behind a call wait for all of it.
constexpr double kBlockedFraction = 0.5;
// "Starves": a bystander waited at least half of one hog's uninterrupted
// work_ms; a time-sliced (preempted) hog lets it run within a slice (a few
// ms), far below work_ms in the fairness workload's sizes.
constexpr double kStarveFraction = 0.5;
// Sharing by communicating is "affordable" when a message costs at most
// twice the lock it replaces, "costly" at ten times or more.
constexpr double kAffordableRatio = 2;
constexpr double kCostlyRatio = 10;
// "Does not depend on the number of cores": throughput with more workers
// (up to the machine's cores) within 25% of one worker's.
constexpr double kFlatSpeedup = 0.25;

// ---- What the rules read ----

struct Context {
  const ReportData& d;
  const Run& run;
  const std::set<std::string>& anchors;
  std::vector<Advice>& advice;

  Traits traits(const std::string& m) const { return traits_of(run, m); }
  bool user_space(const std::string& m) const { return traits(m).kernel_scheduled == false; }
  bool kernel(const std::string& m) const { return traits(m).kernel_scheduled == true; }
  // A model whose units are processes: the `process_tree` trait, or for a
  // file without it, a kernel-scheduled model whose taxonomy gives the unit
  // an address space of its own ("isolation": "full: ...").
  bool process(const std::string& m) const {
    if (!kernel(m)) return false;
    const auto& models = run.doc.contains("models") ? run.doc["models"] : nlohmann::json::object();
    if (!models.is_object() || !models.contains(m) || !models[m].is_object()) return false;
    const auto& facts = models[m];
    if (facts.contains("process_tree") && facts["process_tree"].is_boolean()) return facts["process_tree"].get<bool>();
    return facts.contains("isolation") && facts["isolation"].is_string() &&
           facts["isolation"].get<std::string>().starts_with("full");
  }
  bool thread(const std::string& m) const { return kernel(m) && !process(m); }
  // One event loop, no worker threads to spread units over: callbacks.
  bool callback(const std::string& m) const { return user_space(m) && traits(m).workers_param == std::string(); }

  std::vector<const CellView*> cells(const std::string& workload) const {
    std::vector<const CellView*> out;
    if (const auto* w = d.workload(workload))
      for (const auto& c : w->cells)
        if (c.run == &run) out.push_back(&c);
    return out;
  }
  std::string link(const std::string& workload, std::string_view chart) const {
    auto a = anchor(workload, chart);
    if (anchors.count(a)) return a;
    return d.workload(workload) ? anchor(workload, "") : "";
  }
  void pick(const std::string& m, std::string when) const { advice.push_back({m, true, std::move(when)}); }
  void avoid(const std::string& m, std::string when) const { advice.push_back({m, false, std::move(when)}); }
};

std::string value_text(const std::string& metric, double v) {
  const std::string unit = metric_label(metric).unit;
  if (unit == "ns") return time_text(v);
  if (unit == "bytes") return human_bytes(v);
  if (unit == "1/s") return human_rate(v);
  return count_text(v);
}

// The models' values of one metric in one workload, at the configuration
// most of them ran (all subjects included); a model with several series
// there (an M:N variant) counts with its best.
struct Comparison {
  std::string workload, metric, config;
  std::map<std::string, double> values;  // model -> value
  bool ok() const { return !values.empty(); }
};

Comparison compare(const Context& x, const std::string& workload, const std::string& metric,
                   const std::function<bool(const std::string&)>& must_have) {
  const bool lower = metric_label(metric).lower_is_better;
  std::map<std::string, std::map<std::string, double>> by_config;
  std::vector<std::string> order;
  for (const auto* c : x.cells(workload)) {
    if (!c->ok()) continue;
    auto v = rep_median(*c, metric);
    if (!v) continue;
    if (!by_config.count(c->config)) order.push_back(c->config);
    auto& values = by_config[c->config];
    auto it = values.find(c->model);
    if (it == values.end() || (lower ? *v < it->second : *v > it->second)) values[c->model] = *v;
  }
  Comparison best{workload, metric, "", {}};
  for (const auto& config : order) {
    const auto& values = by_config[config];
    bool has_subject = false;
    for (const auto& [m, v] : values) has_subject |= must_have(m);
    if (!has_subject || values.size() < 2) continue;
    // The later configuration wins a tie: runs sweep sizes upwards, and the
    // largest size shows a model's cost per unit best.
    if (values.size() >= best.values.size()) best = {workload, metric, config, values};
  }
  return best;
}

Verdict make(const char* id, const char* claim, const char* source) { return {id, claim, source, Finding::not_measured, "", ""}; }

// Cost metrics of the first two claims: creating a unit, its memory, a switch.
struct CostMetric {
  const char* workload;
  const char* metric;
  const char* chart;
  const char* what;
};
constexpr CostMetric kCosts[] = {
    {"spawn", metrics::ns_per_op.name, "time", "to create and join a unit"},
    {"spawn", metrics::memory_per_unit_bytes.name, "memory-per-unit", "of memory per unit"},
    {"pingpong", metrics::latency_p50_ns.name, "latency", "per round trip"},
};

// Where a kernel-scheduled model's round trips ran says what they measure:
// with both units on one CPU (run --pin auto, the default) the kernel's
// switch; across CPUs, on a machine whose idle vCPUs halt at once, mostly
// the hypervisor's wake-up. The verdicts that stand on one say which.
void caveat_round_trips(const Context& x, Verdict& v) {
  bool across = false, pinned = false;
  for (const auto* c : x.cells("pingpong"))
    if (c->ok() && x.kernel(c->model))
      (c->json && c->json->value("pinned", false) ? pinned : across) = true;
  if (across && idle_cpus_halt_at_once(x.run.doc.value("context", nlohmann::json::object())))
    v.evidence += fmt::format(" {}", kHaltAtOnceNote);
  else if (pinned && !across)
    v.evidence += " The processes' and threads' round trips ran with both units on one CPU (run --pin auto): "
                  "they measure the kernel's switch, not a wake-up across CPUs.";
}

bool is_spawn_time(const CostMetric& cost) {
  return cost.workload == std::string_view("spawn") && cost.metric == std::string_view(metrics::ns_per_op.name);
}

// Spawn's time is mostly first-touch page faults: on a VM that hands freed
// memory back to its host, the verdicts that stand on it say so.
void caveat_first_touch(const Context& x, Verdict& v) {
  const auto context = x.run.doc.value("context", nlohmann::json::object());
  if (host_reclaims_free_memory(context)) v.evidence += fmt::format(" {}", host_reclaim_note(context));
}

// ---- The claims, in the notes' order ----

Verdict processes_cost_most(const Context& x) {
  Verdict v = make("processes", "Processes are the heaviest model: the kernel manages every one of them.",
                   "spawn (create and join, memory per unit), pingpong (round trip)");
  int measured = 0, heaviest = 0;
  bool round_trip = false, spawn_time = false;
  std::vector<std::string> parts;
  for (const auto& cost : kCosts) {
    auto cmp = compare(x, cost.workload, cost.metric, [&](const std::string& m) { return x.process(m); });
    if (!cmp.ok()) continue;
    ++measured;
    double proc = 0, next = 0;
    std::string proc_model, next_model;
    for (const auto& [m, val] : cmp.values) {
      if (x.process(m) && val > proc) proc = val, proc_model = m;
      if (!x.process(m) && val > next) next = val, next_model = m;
    }
    const bool most = proc > next;
    heaviest += most;
    parts.push_back(fmt::format("{} {} {} ({}), {} {}'s {}", proc_model, value_text(cost.metric, proc), cost.what,
                                cmp.workload, most ? "above" : "not above", next_model, value_text(cost.metric, next)));
    round_trip |= cost.workload == std::string_view("pingpong");
    spawn_time |= is_spawn_time(cost);
    if (v.link.empty()) v.link = x.link(cost.workload, cost.chart);
    if (most) x.avoid(proc_model, fmt::format("you need many units or cheap switches: {} {}", value_text(cost.metric, proc), cost.what));
  }
  if (!measured) return v;
  v.finding = heaviest == measured ? Finding::supports : heaviest == 0 ? Finding::refutes : Finding::qualifies;
  v.evidence = fmt::format("{}.", fmt::join(parts, "; "));
  if (round_trip) caveat_round_trips(x, v);
  if (spawn_time) caveat_first_touch(x, v);
  return v;
}

Verdict threads_cost_less_but_much(const Context& x) {
  Verdict v = make("threads", "Threads cost much less than processes, but are still heavy at high concurrency.",
                   "spawn, pingpong: threads against processes and against user-space units");
  int cheaper_yes = 0, cheaper_no = 0, heavy_yes = 0, heavy_no = 0;
  bool round_trip = false, spawn_time = false;
  std::vector<std::string> parts;
  for (const auto& cost : kCosts) {
    auto cmp = compare(x, cost.workload, cost.metric, [&](const std::string& m) { return x.thread(m); });
    if (!cmp.ok()) continue;
    std::optional<double> thread, process, light;
    std::string thread_model, light_model;
    for (const auto& [m, val] : cmp.values) {
      if (x.thread(m) && (!thread || val < *thread)) thread = val, thread_model = m;
      if (x.process(m) && (!process || val < *process)) process = val;
      if (x.user_space(m) && (!light || val < *light)) light = val, light_model = m;
    }
    if (!thread) continue;
    std::string part = fmt::format("{} {} {}", thread_model, value_text(cost.metric, *thread), cost.what);
    if (process) {
      bool cheaper = *thread < *process;
      (cheaper ? cheaper_yes : cheaper_no)++;
      part += fmt::format(", ×{:.2g} a process's", *thread / *process);
    }
    if (light && *light > 0) {
      bool heavy = *thread >= kHeavyFactor * *light;
      (heavy ? heavy_yes : heavy_no)++;
      part += fmt::format(", ×{:.3g} {}'s", *thread / *light, light_model);
      if (heavy)
        x.avoid(thread_model, fmt::format("you need tens of thousands of units: {} {}, ×{:.3g} {}'s", value_text(cost.metric, *thread),
                                          cost.what, *thread / *light, light_model));
    }
    parts.push_back(part);
    round_trip |= cost.workload == std::string_view("pingpong");
    spawn_time |= is_spawn_time(cost);
    if (v.link.empty()) v.link = x.link(cost.workload, cost.chart);
  }
  if (cheaper_yes + cheaper_no + heavy_yes + heavy_no == 0) return v;
  const bool cheaper_all = cheaper_no == 0 && cheaper_yes > 0, heavy_all = heavy_no == 0 && heavy_yes > 0;
  if ((cheaper_yes + cheaper_no > 0 && cheaper_yes == 0) || (heavy_yes + heavy_no > 0 && heavy_yes == 0))
    v.finding = Finding::refutes;
  else
    v.finding = cheaper_all && heavy_all ? Finding::supports : Finding::qualifies;
  v.evidence = fmt::format("{} (heavy: at least ×{:g} the cheapest user-space unit).", fmt::join(parts, "; "), kHeavyFactor);
  if (round_trip) caveat_round_trips(x, v);
  if (spawn_time) caveat_first_touch(x, v);
  return v;
}

Verdict callbacks_little_memory_more_code(const Context& x) {
  Verdict v = make("callbacks",
                   "Callbacks on an event loop need little memory per connection, but split the program's flow into "
                   "more code.",
                   "idle (memory per idle connection; else spawn's memory per unit), lines of code per implementation");
  std::vector<std::string> callbacks;
  for (const auto& m : x.d.models)
    if (x.callback(m)) callbacks.push_back(m);
  if (callbacks.empty()) return v;
  std::optional<bool> little, more;
  std::vector<std::string> parts;

  // Memory: the idle fit's slope when the run has one, else spawn's figure.
  std::map<std::string, double> memory;
  std::string memory_what;
  if (const auto* idle = x.d.workload("idle")) {
    for (const auto& f : idle_fits(*idle, x.run))
      if (f.slope) memory[f.model] = *f.slope;
    memory_what = "per idle connection (idle, slope of the fit)";
    if (!memory.empty()) v.link = x.link("idle", "memory-fit");
  }
  if (memory.empty()) {
    auto cmp =
        compare(x, "spawn", metrics::memory_per_unit_bytes.name, [&](const std::string& m) { return x.callback(m); });
    memory = cmp.values;
    memory_what = "per unit (spawn)";
    if (!memory.empty()) v.link = x.link("spawn", "memory-per-unit");
  }
  std::optional<double> kernel_min;
  std::string kernel_model;
  for (const auto& [m, val] : memory)
    if (x.kernel(m) && (!kernel_min || val < *kernel_min)) kernel_min = val, kernel_model = m;
  for (const auto& cb : callbacks) {
    if (!memory.count(cb) || !kernel_min) continue;
    bool is_little = memory[cb] <= kLittleMemoryFraction * *kernel_min;
    little = little.value_or(true) && is_little;
    parts.push_back(fmt::format("{} {} {} against {}'s {}", cb, human_bytes(memory[cb]), memory_what, kernel_model,
                                human_bytes(*kernel_min)));
    if (is_little) x.pick(cb, fmt::format("you hold many idle connections: {} each", human_bytes(memory[cb])));
  }

  // Code: lines summed over the workloads every compared model implements.
  for (const auto& cb : callbacks) {
    std::map<std::string, int> totals;
    int own = 0, workloads = 0;
    for (const auto& w : x.d.workloads) {
      auto it = w.lines_of_code.find(cb);
      if (it == w.lines_of_code.end() || !it->second) continue;
      bool any_other = false;
      for (const auto& [m, loc] : w.lines_of_code)
        if (m != cb && loc) any_other = true;
      if (!any_other) continue;
      ++workloads;
      own += *it->second;
      for (const auto& [m, loc] : w.lines_of_code)
        if (m != cb && loc) totals[m] += *loc;
    }
    if (totals.empty()) continue;
    std::vector<int> others;
    for (const auto& [m, t] : totals) others.push_back(t);
    std::sort(others.begin(), others.end());
    double median = others.size() % 2 ? others[others.size() / 2]
                                      : (others[others.size() / 2 - 1] + others[others.size() / 2]) / 2.0;
    bool is_more = own >= kMoreCodeFactor * median;
    more = more.value_or(true) && is_more;
    parts.push_back(fmt::format("{} {} lines of code over {} workloads, the others' median {:.0f}", cb, own, workloads, median));
    if (is_more)
      x.avoid(cb, fmt::format("you want the flow in straight-line code: {} lines where the others' median is {:.0f}", own, median));
    if (v.link.empty()) v.link = x.link(x.d.workloads.front().name, "");
  }
  if (!little && !more) return v;
  if (little.value_or(false) && more.value_or(false))
    v.finding = Finding::supports;
  else if (!little.value_or(true) && !more.value_or(true))
    v.finding = Finding::refutes;
  else
    v.finding = Finding::qualifies;
  v.evidence = fmt::format("{}. Little: at most {:g}× the lightest kernel task's; more: at least ×{:g} the median{}.",
                           fmt::join(parts, "; "), kLittleMemoryFraction, kMoreCodeFactor,
                           !little ? " (memory not measured in this run)" : !more ? " (lines of code not available)" : "");
  return v;
}

Verdict millions_fit(const Context& x) {
  Verdict v = make("lightweight",
                   "Coroutines and fibers are cheap: millions fit where threads and processes stop near 10,000.",
                   "spawn up to a million units: the largest count each model held, and the limit it met");
  struct Reach {
    double reached = 0;
    std::optional<double> limit_at;
    std::string message;
  };
  std::map<std::string, Reach> reach;
  for (const auto* c : x.cells("spawn")) {
    auto n = number_param(*c, "units");
    if (!n) continue;
    auto& r = reach[c->model];
    if (c->ok()) r.reached = std::max(r.reached, *n);
    if (c->outcome == "limit") {
      if (!r.limit_at || *n < *r.limit_at) r.limit_at = *n, r.message = c->message;
      const auto& notes = c->json->contains("notes") ? (*c->json)["notes"] : nlohmann::json();
      if (notes.is_object() && notes.contains("reached") && notes["reached"].is_number())
        r.reached = std::max(r.reached, notes["reached"].get<double>());
    }
  }
  if (reach.empty()) return v;
  v.link = x.link("spawn", "scaling");
  if (v.link == x.link("spawn", "")) v.link = x.link("spawn", "time");
  double light_max = 0;
  bool light_all_million = true, light_stopped_early = false, kernel_stopped = true, any_light = false, any_kernel = false;
  std::vector<std::string> parts;
  for (const auto& [m, r] : reach) {
    if (x.user_space(m)) {
      any_light = true;
      light_max = std::max(light_max, r.reached);
      light_all_million &= r.reached >= kMillion;
      if (r.limit_at && *r.limit_at < kKernelStop) light_stopped_early = true;
      if (r.reached >= kMillion) x.pick(m, fmt::format("you need a million units alive at once: it held {}", group_digits(r.reached)));
    } else if (x.kernel(m)) {
      any_kernel = true;
      kernel_stopped &= r.limit_at.has_value() && r.reached < kKernelStop;
      if (r.limit_at)
        x.avoid(m, fmt::format("you need more than {} units at once: it stopped there ({})", group_digits(r.reached), r.message));
    }
    parts.push_back(r.limit_at ? fmt::format("{} held {}, limit at {}", m, group_digits(r.reached), group_digits(*r.limit_at))
                               : fmt::format("{} held {}", m, group_digits(r.reached)));
  }
  if (!any_light || !any_kernel) {
    v.evidence = fmt::format("{}; the run lacks {} models to compare.", fmt::join(parts, "; "), any_light ? "kernel-scheduled" : "user-space");
    v.finding = Finding::not_measured;
    return v;
  }
  double kernel_max = 0;
  for (const auto& [m, r] : reach)
    if (x.kernel(m)) kernel_max = std::max(kernel_max, r.reached);
  if (light_stopped_early || kernel_max >= light_max)
    v.finding = Finding::refutes;
  else if (light_all_million && kernel_stopped)
    v.finding = Finding::supports;
  else
    v.finding = Finding::qualifies;
  std::string why;
  if (v.finding == Finding::qualifies)
    why = !light_all_million ? fmt::format(" Not every user-space model was run to {} units in this run.", group_digits(kMillion))
                             : " A kernel-scheduled model met no limit in this run.";
  v.evidence = fmt::format("{}.{}", fmt::join(parts, "; "), why);
  return v;
}

Verdict goroutines_yield(const Context& x) {
  Verdict v = make("yield",
                   "A goroutine-style runtime yields the CPU on every blocking system call, so blocking code stays "
                   "simple.",
                   "blocking, offload=inline: the bystanders' round trips while units block in a system call");
  std::map<std::string, std::pair<double, double>> worst;  // model -> (p99, delay) with the largest ratio
  for (const auto* c : x.cells("blocking")) {
    if (!c->ok() || c->param("offload") != std::string("inline")) continue;
    auto p99 = rep_median(*c, metrics::latency_p99_ns.name);
    auto delay = number_param(*c, "delay_us");
    if (!p99 || !delay || *delay <= 0) continue;
    const double delay_ns = *delay * 1000;
    auto it = worst.find(c->model);
    if (it == worst.end() || *p99 / delay_ns > it->second.first / it->second.second) worst[c->model] = {*p99, delay_ns};
  }
  int subjects = 0, yielding = 0;
  std::vector<std::string> parts;
  for (const auto& [m, pd] : worst) {
    const bool yields = pd.first < kBlockedFraction * pd.second;
    const bool subject = x.user_space(m) && !x.callback(m);
    if (subject) {
      ++subjects;
      yielding += yields;
    }
    parts.push_back(fmt::format("{} p99 {} against {} calls{}", m, time_text(pd.first), time_text(pd.second),
                                yields ? "" : " (blocked)"));
    if (yields && x.user_space(m))
      x.pick(m, fmt::format("units make blocking system calls: bystanders' p99 {} while calls block for {}", time_text(pd.first),
                            time_text(pd.second)));
    if (!yields)
      x.avoid(m, fmt::format("units make blocking calls inline: bystanders waited {} behind {} calls (offload them)",
                             time_text(pd.first), time_text(pd.second)));
  }
  if (!subjects) return v;
  v.link = x.link("blocking", "latency");
  v.finding = yielding == subjects ? Finding::supports : yielding == 0 ? Finding::refutes : Finding::qualifies;
  v.evidence = fmt::format("{}. Blocked: p99 at least {:g}× one call's delay.", fmt::join(parts, "; "), kBlockedFraction);
  return v;
}

Verdict cooperative_starves(const Context& x) {
  Verdict v = make("starve",
                   "Coroutines need no preemptive scheduling by the OS; the price is that a unit computing without "
                   "yielding holds up every other unit on its thread.",
                   "fairness, yield=never: the bystanders' worst round trip beside CPU-bound hogs; Jain's index");
  struct Seen {
    double max_ns = 0, work_ns = 0;
    std::optional<double> jain;
  };
  std::map<std::string, Seen> seen;
  for (const auto* c : x.cells("fairness")) {
    if (!c->ok() || c->param("yield") != std::string("never")) continue;
    auto worst = rep_median(*c, metrics::bystander_max_latency_ns.name);
    if (!worst) worst = rep_median(*c, metrics::latency_max_ns.name);
    auto work = number_param(*c, "work_ms");
    if (!worst || !work) continue;
    auto& s = seen[c->model];
    if (*worst / (*work * 1e6) >= s.max_ns / std::max(s.work_ns, 1.0)) {
      s.max_ns = *worst;
      s.work_ns = *work * 1e6;
      s.jain = rep_median(*c, metrics::jain_index.name);
    }
  }
  int light = 0, light_starved = 0, kernel_starved = 0;
  std::vector<std::string> parts;
  for (const auto& [m, s] : seen) {
    const bool starved = s.max_ns >= kStarveFraction * s.work_ns;
    if (x.user_space(m)) {
      ++light;
      light_starved += starved;
    } else if (starved) {
      ++kernel_starved;
    }
    parts.push_back(fmt::format("{} worst {} beside {} of work{}{}", m, time_text(s.max_ns), time_text(s.work_ns),
                                s.jain ? fmt::format(", Jain {:.2f}", *s.jain) : "", starved ? " (starved)" : ""));
    if (starved)
      x.avoid(m, fmt::format("units compute for long without yielding: bystanders waited {} behind {} of work",
                             time_text(s.max_ns), time_text(s.work_ns)));
    else if (x.user_space(m))
      x.pick(m, fmt::format("some units are CPU-bound: bystanders' worst round trip {} beside {} of work", time_text(s.max_ns),
                            time_text(s.work_ns)));
  }
  if (!light) return v;
  v.link = x.link("fairness", "latency");
  if (light_starved == 0)
    v.finding = Finding::refutes;
  else
    v.finding = light_starved == light && kernel_starved == 0 ? Finding::supports : Finding::qualifies;
  v.evidence = fmt::format("{}. Starved: a wait of at least {:g}× one hog's work.", fmt::join(parts, "; "), kStarveFraction);
  return v;
}

Verdict share_by_communicating(const Context& x) {
  Verdict v = make("communicate",
                   "Share memory by communicating (an owner unit receives the increments over a channel) instead of "
                   "communicating by sharing memory (a mutex, an atomic): it costs little more.",
                   "counter: message against lock and atomic, time per increment");
  // Per model and configuration other than the mode: the time of each mode.
  std::map<std::string, std::map<std::string, std::map<std::string, double>>> times;  // model -> rest -> mode -> ns
  for (const auto* c : x.cells("counter")) {
    auto mode = c->param("mode");
    auto ns = c->metric(metrics::ns_per_op.name);
    if (!c->ok() || !mode || !ns) continue;
    std::string rest;
    for (const auto& [k, val] : c->params)
      if (k != "mode") rest += fmt::format("{}:{} ", k, val);
    auto& modes = times[c->model][rest];
    if (!modes.count(*mode) || ns->median < modes[*mode]) modes[*mode] = ns->median;
  }
  int affordable = 0, costly = 0, measured = 0;
  std::vector<std::string> parts;
  for (const auto& [m, rests] : times) {
    // The configuration with the largest message / lock ratio: the case
    // against communicating, taken at its strongest.
    std::optional<double> ratio;
    std::map<std::string, double> at;
    for (const auto& [rest, modes] : rests)
      if (modes.count("message") && modes.count("lock") && modes.at("lock") > 0) {
        double r = modes.at("message") / modes.at("lock");
        if (!ratio || r > *ratio) ratio = r, at = modes;
      }
    if (!ratio) continue;
    ++measured;
    affordable += *ratio <= kAffordableRatio;
    costly += *ratio >= kCostlyRatio;
    parts.push_back(fmt::format("{} message {} = ×{:.3g} lock {}{}", m, time_text(at["message"]), *ratio, time_text(at["lock"]),
                                at.count("atomic") ? fmt::format(", atomic {}", time_text(at["atomic"])) : ""));
    if (*ratio <= kAffordableRatio)
      x.pick(m, fmt::format("you share state by passing messages: ×{:.3g} a lock's time", *ratio));
    if (*ratio >= kCostlyRatio)
      x.avoid(m, fmt::format("state is shared through one owner: a message costs ×{:.3g} a lock", *ratio));
  }
  if (!measured) return v;
  v.link = x.link("counter", "time");
  v.finding = affordable == measured ? Finding::supports : costly == measured ? Finding::refutes : Finding::qualifies;
  v.evidence = fmt::format("{}. Little more: at most ×{:g}; refuted at ×{:g} or more.", fmt::join(parts, "; "),
                           kAffordableRatio, kCostlyRatio);
  return v;
}

Verdict independent_of_cores(const Context& x) {
  Verdict v = make("cores",
                   "Lightweight threads do not depend on the number of CPU cores: throughput stays the same whatever "
                   "number of worker threads runs them.",
                   "core-scaling sweeps (speedup against one worker, up to the machine's cores)");
  int light = 0, flat = 0;
  bool only_oversubscribed = false;
  std::vector<std::string> parts;
  for (const auto& w : x.d.workloads) {
    for (const auto& s : core_scaling(w, x.run)) {
      // The largest count of workers the machine has cores for.
      const ScalingPoint* top = nullptr;
      for (const auto& p : s.points)
        if (p.workers > 1 && !p.oversubscribed) top = &p;
      if (!top) {
        only_oversubscribed = true;
        continue;
      }
      if (v.link.empty()) v.link = x.link(w.name, "cores");
      const bool is_flat = std::abs(top->speedup - 1) <= kFlatSpeedup;
      parts.push_back(fmt::format("{} {}{}: ×{:.2f} on {:g} workers", w.name, s.model, s.config.empty() ? "" : " " + s.config,
                                  top->speedup, top->workers));
      if (!x.user_space(s.model)) continue;
      ++light;
      flat += is_flat;
      if (top->speedup >= 1 + kFlatSpeedup)
        x.pick(s.model, fmt::format("there are cores to use: ×{:.2f} on {:g} workers ({})", top->speedup, top->workers, w.name));
      if (top->speedup <= 1 - kFlatSpeedup)
        x.avoid(s.model, fmt::format("you add worker threads: ×{:.2f} on {:g} workers ({})", top->speedup, top->workers, w.name));
    }
  }
  if (!light) {
    if (only_oversubscribed) v.evidence = "Every sweep's counts beyond one worker exceed this machine's cores: they measure oversubscription.";
    return v;
  }
  v.finding = flat == light ? Finding::supports : flat == 0 ? Finding::refutes : Finding::qualifies;
  v.evidence = fmt::format("{}. The same: within ±{:.0f}% of one worker's throughput.", fmt::join(parts, "; "), kFlatSpeedup * 100);
  return v;
}

}  // namespace

std::string finding_text(Finding f) {
  switch (f) {
    case Finding::supports: return "supports";
    case Finding::refutes: return "refutes";
    case Finding::qualifies: return "qualifies";
    case Finding::not_measured: break;
  }
  return "not measured in this run";
}

RunVerdicts compute_verdicts(const ReportData& data, const Run& run, const std::set<std::string>& anchors) {
  RunVerdicts out;
  out.run = &run;
  Context x{data, run, anchors, out.advice};
  for (auto rule : {processes_cost_most, threads_cost_less_but_much, callbacks_little_memory_more_code, millions_fit,
                    goroutines_yield, cooperative_starves, share_by_communicating, independent_of_cores})
    out.verdicts.push_back(rule(x));
  return out;
}

}  // namespace cmbench::report
