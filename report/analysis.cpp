#include "report/analysis.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>

#include "harness/results/metrics.hpp"
#include "report/verdicts.hpp"

namespace cmbench::report {

using nlohmann::json;

MetricLabel metric_label(const std::string& name) {
  // The rows the report has words for; any other metric it does not name
  // yet: no label, no unit, and like most of them better when lower.
  const metrics::Metric* m = metrics::find(name);
  if (!m || !*m->report_label) return {"", "", "", true};
  return {m->name, m->report_label, m->unit, m->direction != metrics::higher_is_better};
}

Traits traits_of(const Run& run, const std::string& model) {
  Traits t;
  if (!run.doc.contains("models") || !run.doc["models"].is_object() || !run.doc["models"].contains(model)) return t;
  const auto& m = run.doc["models"][model];
  if (!m.is_object()) return t;
  if (m.contains("kernel_scheduled") && m["kernel_scheduled"].is_boolean()) t.kernel_scheduled = m["kernel_scheduled"].get<bool>();
  if (m.contains("unit_ceiling") && m["unit_ceiling"].is_number()) t.unit_ceiling = m["unit_ceiling"].get<double>();
  if (m.contains("workers_param") && m["workers_param"].is_string()) t.workers_param = m["workers_param"].get<std::string>();
  return t;
}

std::optional<int> cores_of(const Run& run) {
  if (!run.doc.contains("context") || !run.doc["context"].is_object()) return std::nullopt;
  const auto& ctx = run.doc["context"];
  for (const char* key : {"cores", "cores_available", "cores_online"})
    if (ctx.contains(key) && ctx[key].is_number_integer() && ctx[key].get<int>() > 0) return ctx[key].get<int>();
  return std::nullopt;
}

std::optional<double> rep_median(const CellView& c, const std::string& metric) {
  if (auto s = c.metric(metric)) return s->median;
  const auto& cell = *c.json;
  if (!cell.contains("repetitions") || !cell["repetitions"].is_array()) return std::nullopt;
  std::vector<double> values;
  for (const auto& rep : cell["repetitions"])
    if (rep.is_object() && rep.value("outcome", "") == "ok" && rep.contains("metrics") && rep["metrics"].is_object() &&
        rep["metrics"].contains(metric) && rep["metrics"][metric].is_number())
      values.push_back(rep["metrics"][metric].get<double>());
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

std::optional<double> number_param(const CellView& c, const std::string& key) {
  auto v = c.param(key);
  if (!v || v->empty()) return std::nullopt;
  char* end = nullptr;
  double d = std::strtod(v->c_str(), &end);
  if (end != v->c_str() + v->size() || !std::isfinite(d)) return std::nullopt;
  return d;
}

std::optional<LinearFit> fit_line(const std::vector<double>& x, const std::vector<double>& y) {
  const size_t n = std::min(x.size(), y.size());
  if (n < 2) return std::nullopt;
  double mx = 0, my = 0;
  for (size_t i = 0; i < n; ++i) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  double sxx = 0, sxy = 0, syy = 0;
  for (size_t i = 0; i < n; ++i) {
    sxx += (x[i] - mx) * (x[i] - mx);
    sxy += (x[i] - mx) * (y[i] - my);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx <= 0) return std::nullopt;
  LinearFit f;
  f.n = static_cast<int>(n);
  f.slope = sxy / sxx;
  f.intercept = my - f.slope * mx;
  double residual = 0;
  for (size_t i = 0; i < n; ++i) {
    double e = y[i] - (f.intercept + f.slope * x[i]);
    residual += e * e;
  }
  f.r2 = syy > 0 ? 1 - residual / syy : 1;
  return f;
}

std::vector<IdleFit> idle_fits(const WorkloadView& idle, const Run& run) {
  std::vector<IdleFit> out;
  auto fit_of = [&](const std::string& model) -> IdleFit& {
    for (auto& f : out)
      if (f.model == model) return f;
    out.push_back(IdleFit{model, {}, {}, {}, {}, {}, {}});
    return out.back();
  };
  for (const auto& c : idle.cells) {
    if (c.run != &run) continue;
    auto conns = number_param(c, "connections");
    if (!conns || *conns <= 0) continue;
    auto& f = fit_of(c.model);
    if (c.outcome == "limit") {
      if (!f.limit_at || *conns < *f.limit_at) {
        f.limit_at = *conns;
        f.limit_message = c.message;
      }
      continue;
    }
    if (!c.ok()) continue;
    // Memory with every connection parked; a file that has only the
    // per-unit figure gives the same slope through (C, per_unit x C).
    std::optional<double> memory = rep_median(c, metrics::memory_parked_bytes.name);
    if (!memory)
      if (auto per = rep_median(c, metrics::memory_per_unit_bytes.name)) memory = *per * *conns;
    if (!memory) continue;
    f.points.push_back({*conns, *memory});
  }
  for (auto& f : out) {
    std::sort(f.points.begin(), f.points.end(), [](const IdlePoint& a, const IdlePoint& b) { return a.connections < b.connections; });
    std::vector<double> x, y;
    for (const auto& p : f.points) {
      x.push_back(p.connections);
      y.push_back(p.memory);
    }
    if (auto fit = fit_line(x, y)) {
      f.slope = fit->slope;
      f.intercept = fit->intercept;
      f.r2 = fit->r2;
    }
  }
  out.erase(std::remove_if(out.begin(), out.end(), [](const IdleFit& f) { return f.points.empty() && !f.limit_at; }),
            out.end());
  return out;
}

std::optional<std::string> units_param(const WorkloadView& w, const Run& run) {
  if (run.doc.contains("workloads") && run.doc["workloads"].is_object() && run.doc["workloads"].contains(w.name)) {
    const auto& spec = run.doc["workloads"][w.name];
    if (spec.is_object() && spec.contains("units_param") && spec["units_param"].is_string() &&
        !spec["units_param"].get<std::string>().empty())
      return spec["units_param"].get<std::string>();
  }
  for (const char* key : {"units", "producers", "workers"})
    for (const auto& c : w.cells)
      if (c.run == &run && c.param(key)) return std::string(key);
  return std::nullopt;
}

std::vector<ScalingSweep> core_scaling(const WorkloadView& w, const Run& run) {
  constexpr size_t kSweepPoints = 3;
  const auto cores = cores_of(run);
  const auto kernel_units = units_param(w, run);
  // Per model: the worker parameter, and the parameters that move in
  // lockstep with it (consumers with producers), which are part of the
  // same axis rather than a configuration of their own.
  struct Axis {
    std::string param;
    std::set<std::string> lockstep;
  };
  std::map<std::string, std::optional<Axis>> axes;
  for (const auto& m : w.models) {
    Traits t = traits_of(run, m);
    std::string param;
    if (t.workers_param && !t.workers_param->empty())
      param = *t.workers_param;
    else if (t.kernel_scheduled.value_or(false) && kernel_units)
      param = *kernel_units;
    if (param.empty()) {
      axes[m] = std::nullopt;
      continue;
    }
    Axis axis{param, {}};
    bool first = true;
    for (const auto& c : w.cells) {
      if (c.run != &run || c.model != m) continue;
      auto v = c.param(param);
      std::set<std::string> same;
      for (const auto& [k, val] : c.params)
        if (k != param && v && val == *v) same.insert(k);
      if (first) {
        axis.lockstep = same;
        first = false;
      } else {
        std::set<std::string> both;
        for (const auto& k : axis.lockstep)
          if (same.count(k)) both.insert(k);
        axis.lockstep = both;
      }
    }
    axes[m] = axis;
  }

  std::map<std::pair<std::string, std::string>, std::map<double, ScalingPoint>> groups;
  std::map<std::pair<std::string, std::string>, std::string> group_config;
  for (const auto& c : w.cells) {
    if (c.run != &run || !c.ok() || !axes[c.model]) continue;
    const auto& axis = *axes[c.model];
    auto workers = number_param(c, axis.param);
    auto ops = c.metric(metrics::ops_per_s.name);
    if (!workers || !ops || ops->median <= 0) continue;
    bool explicit_count = *workers > 0;
    // 0 means one per core: a point of the sweep when the run says how
    // many cores it had, and only when no cell asked for that count itself.
    if (!explicit_count) {
      if (!cores) continue;
      workers = static_cast<double>(*cores);
    }
    std::string key, shown;
    for (const auto& [k, v] : c.params) {
      if (k == axis.param || axis.lockstep.count(k)) continue;
      key += fmt::format("{}:{} ", k, v);
      if (std::find(w.varying.begin(), w.varying.end(), k) != w.varying.end())
        shown += fmt::format("{}{}:{}", shown.empty() ? "" : " ", k, v);
    }
    auto& points = groups[{c.model, key}];
    group_config[{c.model, key}] = shown;
    if (points.count(*workers) && !explicit_count) continue;
    ScalingPoint p;
    p.workers = *workers;
    p.ops_per_s = ops->median;
    p.oversubscribed = cores && *workers > *cores;
    points[*workers] = p;
  }

  std::vector<ScalingSweep> out;
  for (const auto& m : w.models)
    for (auto& [key, points] : groups) {
      // A sweep: one worker and at least two other counts (the default
      // preset's M:N rows beside their one-thread rows are a comparison of
      // two, not a curve).
      if (key.first != m || points.size() < kSweepPoints || !points.count(1)) continue;
      ScalingSweep s{m, axes[m]->param, group_config[key], {}};
      const double base = points[1].ops_per_s;
      for (auto& [workers, p] : points) {
        p.speedup = p.ops_per_s / base;
        p.efficiency = p.speedup / workers;
        s.points.push_back(p);
      }
      out.push_back(std::move(s));
    }
  return out;
}

}  // namespace cmbench::report
