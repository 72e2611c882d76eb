#include "report/tables.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <functional>

#include "harness/cli/table.hpp"
#include "report/charts.hpp"
#include "harness/results/metrics.hpp"

namespace cmbench::report {

namespace {

// Where each taxonomy number comes from. These name workloads that do not
// exist yet (pingpong, spawn); the lookups are by workload name and metric,
// so they start filling in as soon as a results file has such cells:
//  - pingpong: two units bounce a message; its latency p50
//    (aggregates.latency_p50_ns) is one round trip, the cost of a switch.
//  - spawn: N units created and parked; the parameter giving N is named "N"
//    (or "n", or "units"), the memory per unit is the aggregate
//    memory_per_unit_bytes, and a cell whose outcome is "limit" is where a
//    model ran out (pid_max, max_map_count, memory).
//  - prodcons: throughput is ops_per_s; CPU and context switches per
//    operation come from the same cell, the model's fastest.
constexpr const char* kPingpong = "pingpong";
constexpr const char* kSwitchMetric = metrics::latency_p50_ns.name;
constexpr const char* kSpawn = "spawn";
constexpr const char* kMemoryPerUnitMetric = metrics::memory_per_unit_bytes.name;
constexpr const char* kSpawnCountParams[] = {"N", "n", "units"};
constexpr const char* kProdcons = "prodcons";

const Measure kNotRun{"not run", "", ""};

std::vector<const CellView*> cells_of(const ReportData& d, const char* workload, const std::string& model,
                                      const Run& run) {
  std::vector<const CellView*> out;
  if (const auto* w = d.workload(workload))
    for (const auto& c : w->cells)
      if (c.model == model && c.run == &run) out.push_back(&c);
  return out;
}

std::string link_to(const std::set<std::string>& anchors, const std::string& workload, std::string_view chart,
                    const std::string& detail = "") {
  auto a = anchor(workload, chart, detail);
  return anchors.count(a) ? a : anchor(workload, "");
}

// The measure for a workload that ran but has no ok cell of this model.
Measure not_ok(const std::vector<const CellView*>& cells, const std::string& workload) {
  return {fmt::format("not ok: {}", cells.front()->outcome), cells.front()->message, anchor(workload, "notok")};
}

// The ok cell with the best median of `metric` (the largest when `larger`).
const CellView* best(const std::vector<const CellView*>& cells, const std::string& metric, bool larger) {
  const CellView* found = nullptr;
  for (const auto* c : cells) {
    if (!c->ok()) continue;
    auto s = c->metric(metric);
    if (!s) continue;
    if (!found || (larger ? s->median > found->metric(metric)->median : s->median < found->metric(metric)->median))
      found = c;
  }
  return found;
}

std::optional<double> spawn_count(const CellView& c) {
  for (const char* key : kSpawnCountParams)
    if (auto v = c.param(key)) {
      char* end = nullptr;
      double n = std::strtod(v->c_str(), &end);
      if (end != v->c_str() && *end == '\0') return n;
    }
  return std::nullopt;
}

std::string detail_of(const CellView& c) {
  std::string out;
  for (const auto& [k, v] : c.params) out += fmt::format("{}{}:{}", out.empty() ? "" : " ", k, v);
  return out;
}

Measure switch_cost(const ReportData& d, const std::set<std::string>& anchors, const std::string& model,
                    const Run& run) {
  auto cells = cells_of(d, kPingpong, model, run);
  if (cells.empty()) return kNotRun;
  // The cheapest configuration is the switch itself; larger ones add work.
  const auto* c = best(cells, kSwitchMetric, false);
  if (!c) return not_ok(cells, kPingpong);
  return {time_text(c->metric(kSwitchMetric)->median), detail_of(*c), link_to(anchors, kPingpong, "latency")};
}

Measure memory_per_unit(const ReportData& d, const std::set<std::string>& anchors, const std::string& model,
                        const Run& run) {
  auto cells = cells_of(d, kSpawn, model, run);
  if (cells.empty()) return kNotRun;
  // The largest N spreads fixed costs thinnest, so its per-unit figure is
  // the truest one.
  const CellView* chosen = nullptr;
  for (const auto* c : cells)
    if (c->ok() && c->metric(kMemoryPerUnitMetric) &&
        (!chosen || spawn_count(*c).value_or(0) > spawn_count(*chosen).value_or(0)))
      chosen = c;
  if (!chosen) return not_ok(cells, kSpawn);
  return {human_bytes(chosen->metric(kMemoryPerUnitMetric)->median), detail_of(*chosen),
          link_to(anchors, kSpawn, "memory-per-unit")};
}

Measure largest_n(const ReportData& d, const std::set<std::string>& anchors, const std::string& model,
                  const Run& run) {
  auto cells = cells_of(d, kSpawn, model, run);
  if (cells.empty()) return kNotRun;
  std::optional<double> reached;
  const CellView* limit = nullptr;
  for (const auto* c : cells) {
    auto n = spawn_count(*c);
    if (!n) continue;
    if (c->ok()) reached = std::max(reached.value_or(0), *n);
    if (c->outcome == "limit" && (!limit || *n < *spawn_count(*limit))) limit = c;
  }
  // A limit cell records how many units it had made before the model ran
  // out (its note "reached"); that count was reached too.
  if (limit && limit->json->contains("notes") && (*limit->json)["notes"].contains("reached")) {
    const auto& r = (*limit->json)["notes"]["reached"];
    std::optional<double> n;
    if (r.is_number()) n = r.get<double>();
    if (r.is_string()) {
      char* end = nullptr;
      double v = std::strtod(r.get_ref<const std::string&>().c_str(), &end);
      if (end && *end == '\0') n = v;
    }
    if (n) reached = std::max(reached.value_or(0), *n);
  }
  std::string limit_text =
      limit ? fmt::format("limit at N={}: {}", group_digits(*spawn_count(*limit)), limit->message) : std::string();
  if (!reached) {
    if (limit)
      return {fmt::format("limit at N={}", group_digits(*spawn_count(*limit))), limit->message,
              anchor(kSpawn, "notok"), true};
    return not_ok(cells, kSpawn);
  }
  std::string count_param;
  for (const char* key : kSpawnCountParams)
    if (cells.front()->param(key)) {
      count_param = key;
      break;
    }
  return {group_digits(*reached), limit_text, link_to(anchors, kSpawn, "scaling", count_param),
          limit != nullptr};
}

// The prodcons cell a model moved messages through fastest: its throughput,
// CPU and context switches go into the taxonomy together.
const CellView* fastest_prodcons(const ReportData& d, const std::string& model, const Run& run) {
  return best(cells_of(d, kProdcons, model, run), metrics::ops_per_s.name, true);
}

Measure throughput(const ReportData& d, const std::set<std::string>& anchors, const std::string& model,
                   const Run& run) {
  auto cells = cells_of(d, kProdcons, model, run);
  if (cells.empty()) return kNotRun;
  const auto* c = fastest_prodcons(d, model, run);
  if (!c) return not_ok(cells, kProdcons);
  return {human_rate(c->metric(metrics::ops_per_s.name)->median), detail_of(*c), link_to(anchors, kProdcons, "time")};
}

Measure cpu_per_op(const ReportData& d, const std::set<std::string>& anchors, const std::string& model,
                   const Run& run) {
  auto cells = cells_of(d, kProdcons, model, run);
  if (cells.empty()) return kNotRun;
  const auto* c = fastest_prodcons(d, model, run);
  if (!c) return not_ok(cells, kProdcons);
  auto user = c->metric(metrics::cpu_user_s.name), sys = c->metric(metrics::cpu_sys_s.name);
  if (!user || !sys || c->operations <= 0) return {"not measured", detail_of(*c), ""};
  double per = 1e9 / c->operations;
  return {fmt::format("{} / {}", time_text(user->median * per), time_text(sys->median * per)), detail_of(*c),
          link_to(anchors, kProdcons, "cpu")};
}

Measure ctx_per_op(const ReportData& d, const std::set<std::string>& anchors, const std::string& model,
                   const Run& run) {
  auto cells = cells_of(d, kProdcons, model, run);
  if (cells.empty()) return kNotRun;
  const auto* c = fastest_prodcons(d, model, run);
  if (!c) return not_ok(cells, kProdcons);
  auto ctx = c->metric(metrics::ctx_per_op.name);
  if (!ctx) return {"not measured", detail_of(*c), ""};
  return {count_text(ctx->median), detail_of(*c), link_to(anchors, kProdcons, "ctx")};
}

std::string fact(const ReportData& d, const std::string& model, const char* key) {
  auto it = d.taxonomy.find(model);
  if (it == d.taxonomy.end() || !it->second.contains(key) || !it->second[key].is_string()) return "not described";
  return it->second[key].get<std::string>();
}

}  // namespace

std::vector<Measure> distinct_measures(const std::vector<Measure>& per_run) {
  for (const auto& m : per_run)
    if (!(m == per_run.front())) return per_run;
  return {per_run.front()};
}

std::string group_digits(double n) {
  std::string digits = fmt::format("{:.0f}", n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0 && std::isdigit(static_cast<unsigned char>(digits[i - 1]))) out += ',';
    out += digits[i];
  }
  return out;
}

Taxonomy build_taxonomy(const ReportData& d, const std::set<std::string>& anchors) {
  using Lookup = Measure (*)(const ReportData&, const std::set<std::string>&, const std::string&, const Run&);
  const std::vector<std::pair<TaxonomyColumn, Lookup>> columns = {
      {{"switch cost", "pingpong, latency p50"}, switch_cost},
      {{"memory per unit", "spawn, at the largest N"}, memory_per_unit},
      {{"largest N reached", "spawn"}, largest_n},
      {{"throughput", "prodcons, the model's fastest cell"}, throughput},
      {{"CPU user / sys per op", "prodcons, the same cell"}, cpu_per_op},
      {{"context switches per op", "prodcons, the same cell"}, ctx_per_op},
  };
  Taxonomy t;
  for (const auto& [col, fn] : columns) t.columns.push_back(col);
  for (const auto& model : d.models) {
    TaxonomyRow row{model, fact(d, model, "unit"), fact(d, model, "scheduled_by"), {}};
    for (const auto& [col, fn] : columns) {
      std::vector<Measure> per_run;
      for (const auto& run : d.runs) per_run.push_back(fn(d, anchors, model, run));
      row.measures.push_back(std::move(per_run));
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

WorkloadTable workload_table(const WorkloadView& w, const std::vector<Run>& runs) {
  WorkloadTable t;
  t.series = w.series;
  for (const auto& run : runs) {
    for (const auto& config : w.configs) {
      WorkloadTable::Row row{&run, config, {}};
      double fastest = 0;
      bool any = false;
      for (const auto& s : w.series)
        if (const auto* c = w.find(run, s, config); c && c->ok())
          if (auto m = c->metric(metrics::ns_per_op.name); m && m->median > 0 && (fastest == 0 || m->median < fastest))
            fastest = m->median;
      for (const auto& s : w.series) {
        const auto* c = w.find(run, s, config);
        TableCell cell;
        if (!c) {
          cell.text = "not run";
        } else if (!c->ok()) {
          cell.text = c->outcome;
          any = true;
        } else if (auto m = c->metric(metrics::ns_per_op.name)) {
          cell.ok = true;
          cell.warned = !c->warnings.empty();
          cell.text = fmt::format("{} ({} – {})", time_text(m->median), time_text(m->min), time_text(m->max));
          if (fastest > 0) cell.text += fmt::format(" {}", ratio_text(m->median / fastest));
          any = true;
        } else {
          cell.text = "no time";
          any = true;
        }
        row.cells.push_back(std::move(cell));
      }
      // A file that ran none of this configuration has no row for it.
      if (any) t.rows.push_back(std::move(row));
    }
  }
  for (const auto& s : w.series) {
    std::string model = s.substr(0, s.find(' '));
    auto it = w.lines_of_code.find(model);
    t.lines_of_code.push_back(it != w.lines_of_code.end() && it->second ? std::to_string(*it->second) : "n/a");
  }
  return t;
}

}  // namespace cmbench::report
