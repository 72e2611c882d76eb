#include "report/charts.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>

#include "harness/cli/table.hpp"
#include "report/analysis.hpp"
#include "report/escape.hpp"
#include "harness/results/metrics.hpp"

namespace cmbench::report {

using nlohmann::json;

namespace {

// Medians further apart than this (largest / smallest) do not fit one linear
// axis: the small ones would be flat at zero. Such a chart gets a log axis.
constexpr double kLogSpread = 20;

// Error bars in a mid grey: visible over a bar and beside a point, without
// hiding the model's colour.
constexpr const char* kRuleColour = "#555";

struct Percentile {
  const char* metric;
  const char* label;
};
constexpr Percentile kPercentiles[] = {{metrics::latency_p50_ns.name, "p50"},
                                       {metrics::latency_p90_ns.name, "p90"},
                                       {metrics::latency_p99_ns.name, "p99"},
                                       {metrics::latency_p999_ns.name, "p99.9"},
                                       {metrics::latency_max_ns.name, "max"}};

std::optional<double> number(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

bool multi(const ReportData& d) { return d.runs.size() > 1; }

std::vector<std::string> run_labels(const ReportData& d) {
  std::vector<std::string> labels;
  for (const auto& r : d.runs) labels.push_back(r.label);
  return labels;
}

// Where a value stands in `order`, for sorting by a number: Vega-Lite
// turns a sort given as a list of values into an expression with the values
// inside it, which a value holding a line break or a backslash breaks.
int position(const std::vector<std::string>& order, const std::string& value) {
  auto it = std::find(order.begin(), order.end(), value);
  return static_cast<int>(it - order.begin());
}

json by_order(const char* field) { return {{"field", field}, {"op", "min"}}; }

// A logarithmic scale for these values: log, or symlog (log-like, with a
// place for zero) when one of them is zero or negative, as a fiber's context
// switches per operation often are.
json log_scale(const std::vector<double>& all_values) {
  double smallest_positive = std::numeric_limits<double>::infinity();
  bool nonpositive = false;
  for (double v : all_values) {
    if (v <= 0)
      nonpositive = true;
    else
      smallest_positive = std::min(smallest_positive, v);
  }
  if (!nonpositive) return {{"type", "log"}};
  if (!std::isfinite(smallest_positive)) smallest_positive = 1;
  return {{"type", "symlog"}, {"constant", smallest_positive}};
}

// A scale for these values: linear while they fit, logarithmic when the
// medians spread over more than kLogSpread.
json scale_for(const std::vector<double>& medians, const std::vector<double>& all_values) {
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  for (double v : medians)
    if (v > 0) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  if (!(hi > 0) || hi / lo <= kLogSpread) return {{"type", "linear"}, {"zero", true}};
  return log_scale(all_values);
}

// A symlog axis left to itself ticks linearly (0, 5,000, 10,000), which
// hides everything small; ticks at 0 and each power of ten read like a log
// axis.
json value_axis(const json& scale, const std::vector<double>& all_values) {
  if (scale["type"] != "symlog") return json::object();
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  for (double v : all_values)
    if (v > 0) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  json values = json::array({0});
  if (hi > 0)
    for (int k = static_cast<int>(std::floor(std::log10(lo))); k <= static_cast<int>(std::ceil(std::log10(hi))); ++k)
      values.push_back(std::pow(10.0, k));
  return {{"values", values}, {"format", ",~r"}};
}

bool is_log(const json& scale) { return scale["type"] != "linear"; }

std::string axis_title(const std::string& title, const json& scale) {
  if (scale["type"] == "log") return title + " (log scale)";
  if (scale["type"] == "symlog") return title + " (symlog scale)";
  return title;
}

// Colours in the order series first appear on the page: the ten of
// Tableau 10 (easy to tell apart on white), then ten darker or brighter
// ones of other hues; past twenty, hues 137.5° apart (the golden angle), so
// that no two series ever share a colour.
std::vector<std::string> series_colours(size_t n) {
  static const char* kColours[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
                                   "#ff9da7", "#9c755f", "#bab0ac", "#000075", "#800000", "#808000", "#f032e6",
                                   "#42d4f4", "#000000", "#911eb4", "#bfef45", "#469990", "#e6194b"};
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) {
    if (i < std::size(kColours))
      out.push_back(kColours[i]);
    else
      out.push_back(fmt::format("hsl({:.1f}, 65%, {}%)", std::fmod(i * 137.508, 360.0), 35 + (i % 3) * 12));
  }
  return out;
}

// Point shapes Vega draws, one per model; past ten they repeat (the colour
// still tells the series apart).
constexpr const char* kShapes[] = {"circle", "square", "triangle-up", "diamond", "cross",
                                   "triangle-down", "triangle-right", "triangle-left", "wedge", "arrow"};

json color_encoding(const ReportData& d) {
  Palette p = palette(d);
  return {{"field", "series"},
          {"type", "nominal"},
          {"title", "model"},
          {"scale", {{"domain", p.series}, {"range", p.colours}}}};
}

// The shape of a series is its model's, so the colour and the shape legends
// merge into one (both encode the series).
json shape_encoding(const ReportData& d) {
  Palette p = palette(d);
  std::vector<std::string> range;
  for (const auto& s : p.series) {
    std::string model = s.substr(0, s.find(' '));
    auto it = std::find(p.models.begin(), p.models.end(), model);
    range.push_back(it == p.models.end() ? kShapes[0] : p.shapes[it - p.models.begin()]);
  }
  return {{"field", "series"}, {"type", "nominal"}, {"title", "model"}, {"scale", {{"domain", p.series}, {"range", range}}}};
}

json tooltip() {
  return json::array({{{"field", "series"}, {"title", "model"}},
                      {{"field", "config"}, {"title", "configuration"}},
                      {{"field", "file"}, {"title", "file"}},
                      {{"field", "median_text"}, {"title", "median"}},
                      {{"field", "range_text"}, {"title", "min – max"}}});
}

// A legend lists the series of its own chart only (the colour scale's
// domain is the page's every series, so colours stay put).
void set_legend_values(json& spec, const std::vector<std::string>& present) {
  if (spec.contains("encoding"))
    for (const char* channel : {"color", "shape"})
      if (spec["encoding"].contains(channel) && spec["encoding"][channel].contains("field"))
        spec["encoding"][channel]["legend"] = {{"values", present}};
  if (spec.contains("layer"))
    for (auto& layer : spec["layer"]) set_legend_values(layer, present);
}

// One single-view chart per panel (the file, the other parameters), each
// as wide as its element, in the order given (the files' order, the run
// order of configurations). With several panels their value axes share one
// domain, so heights compare across panels as they did in one faceted chart.
std::vector<Panel> compose(const json& rows, const json& unit, const std::string& facet_field,
                           const std::vector<std::string>& panels, std::optional<std::pair<double, double>> shared_y = {}) {
  std::vector<Panel> out;
  auto one = [&](const std::string& title, json values) {
    std::vector<std::string> present;
    for (const auto& r : values)
      if (r.contains("series") && std::find(present.begin(), present.end(), r["series"]) == present.end())
        present.push_back(r["series"].get<std::string>());
    json spec = unit;
    set_legend_values(spec, present);
    spec["data"] = {{"values", std::move(values)}};
    spec["width"] = "container";
    // Only the width fits the element: the height is the plot's, with the
    // axes and the legend below it added (fitting both squeezed the plot flat
    // on a phone, under a tall legend).
    spec["autosize"] = {{"type", "fit-x"}, {"contains", "padding"}};
    spec["config"] = {{"legend", {{"orient", "bottom"}, {"labelLimit", 240}}}};
    out.push_back({title, std::move(spec)});
  };
  if (panels.size() <= 1) {
    one("", rows);
    return out;
  }
  for (const auto& panel : panels) {
    json values = json::array();
    for (const auto& r : rows)
      if (r.contains(facet_field) && r[facet_field] == panel) values.push_back(r);
    if (!values.empty()) one(panel, std::move(values));
  }
  if (shared_y)
    for (auto& p : out) {
      auto share = [&](json& layer) {
        if (layer.contains("encoding") && layer["encoding"].contains("y") && layer["encoding"]["y"].contains("scale"))
          layer["encoding"]["y"]["scale"]["domain"] = {shared_y->first, shared_y->second};
      };
      share(p.spec);
      if (p.spec.contains("layer"))
        for (auto& layer : p.spec["layer"]) share(layer);
    }
  return out;
}

// The value axis's domain over every panel: from zero on a linear scale,
// from the smallest positive value on a log scale (symlog: from zero).
std::pair<double, double> y_domain(const json& scale, const std::vector<double>& all) {
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  for (double v : all) {
    if (v > 0) lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (scale["type"] == "log") return {std::isfinite(lo) ? lo : 1, hi > 0 ? hi : 1};
  return {0, hi > 0 ? hi : 1};
}

// One row of data per ok cell that has the metric: the median and the
// min–max over repetitions, scaled by `factor` for the axis.
struct Point {
  json row;
  double median, min, max;
};

std::vector<Point> metric_points(const WorkloadView& w, const std::string& metric, double factor,
                                 std::string (*human)(double)) {
  std::vector<Point> out;
  for (const auto& c : w.cells) {
    if (!c.ok()) continue;
    auto s = c.metric(metric);
    if (!s) continue;
    Point p{{}, s->median * factor, s->min * factor, s->max * factor};
    p.row = {{"file", c.run->label},  {"series", c.series},        {"config", c.config},
             {"file_order", c.run->index}, {"series_order", position(w.series, c.series)},
             {"config_order", position(w.configs, c.config)},
             {"median", p.median},    {"min", p.min},              {"max", p.max},
             {"median_text", human(s->median)},
             {"range_text", fmt::format("{} – {}", human(s->min), human(s->max))}};
    out.push_back(std::move(p));
  }
  return out;
}


// Models side by side for every configuration, a bar (or on a log axis a
// point) at the median and a rule from the fastest to the slowest
// repetition; one panel per results file.
std::optional<Chart> side_by_side(const ReportData& d, const WorkloadView& w, const std::string& metric,
                                  double factor, std::string (*human)(double), const std::string& y_title,
                                  Chart chart) {
  auto points = metric_points(w, metric, factor, human);
  if (points.empty()) return std::nullopt;
  std::vector<double> medians, all;
  json values = json::array();
  for (auto& p : points) {
    medians.push_back(p.median);
    all.insert(all.end(), {p.median, p.min, p.max});
    values.push_back(std::move(p.row));
  }
  json scale = scale_for(medians, all);
  json x = {{"field", "config"},
            {"type", "nominal"},
            {"title", w.varying.empty() ? "configuration" : fmt::format("{}", fmt::join(w.varying, " · "))},
            {"sort", by_order("config_order")},
            {"axis", {{"labelAngle", -20}, {"labelLimit", 240}}}};
  json x_offset = {{"field", "series"}, {"type", "nominal"}, {"sort", by_order("series_order")}};
  json y = {{"field", "median"},
            {"type", "quantitative"},
            {"scale", scale},
            {"axis", value_axis(scale, all)},
            {"title", axis_title(y_title, scale)}};
  json mark = is_log(scale) ? json{{"type", "point"}, {"filled", true}, {"size", 60}} : json{{"type", "bar"}};
  json encoding = {{"x", x}, {"xOffset", x_offset}, {"y", y}, {"color", color_encoding(d)}, {"tooltip", tooltip()}};
  if (is_log(scale)) encoding["shape"] = shape_encoding(d);
  json unit = {
      {"height", 240},
      {"layer",
       json::array({{{"mark", mark},
                     {"encoding", encoding}},
                    {{"mark", {{"type", "rule"}, {"strokeWidth", 2}}},
                     {"encoding",
                      {{"x", x},
                       {"xOffset", x_offset},
                       {"y", {{"field", "min"}, {"type", "quantitative"}, {"scale", scale}}},
                       {"y2", {{"field", "max"}}},
                       {"color", {{"value", kRuleColour}}}}}}})}};
  chart.panels = compose(values, unit, "file", run_labels(d), y_domain(scale, all));
  return chart;
}

// Time per operation against one numeric parameter, on log axes, one line
// per model; the other varying parameters (and the file) make the panels.
std::optional<Chart> scaling(const ReportData& d, const WorkloadView& w, const std::string& param) {
  std::set<double> xs;
  for (const auto& c : w.cells) {
    auto v = c.param(param);
    if (!v || !number(*v)) return std::nullopt;
    xs.insert(*number(*v));
  }
  if (xs.size() < 3) return std::nullopt;

  json values = json::array();
  std::vector<double> all;
  std::vector<std::string> panels;
  for (const auto& c : w.cells) {
    if (!c.ok()) continue;
    auto s = c.metric(metrics::ns_per_op.name);
    if (!s) continue;
    std::string rest;
    for (const auto& k : w.varying)
      if (k != param) rest += fmt::format("{}{}:{}", rest.empty() ? "" : " ", k, *c.param(k));
    std::string panel = !multi(d) ? rest : rest.empty() ? c.run->label : fmt::format("{} · {}", c.run->label, rest);
    if (std::find(panels.begin(), panels.end(), panel) == panels.end()) panels.push_back(panel);
    values.push_back({{"file", c.run->label},  {"series", c.series},  {"config", c.config},
                      {"panel", panel},        {"x", *number(*c.param(param))},
                      {"median", s->median},   {"min", s->min},     {"max", s->max},
                      {"median_text", time_text(s->median)},
                      {"range_text", fmt::format("{} – {}", time_text(s->min), time_text(s->max))}});
    all.insert(all.end(), {s->median, s->min, s->max});
  }
  if (values.empty()) return std::nullopt;

  // The swept parameter spans orders of magnitude by design, so its axis is
  // always logarithmic; symlog when it includes 0 (capacity 0: rendezvous).
  double x_lo = *xs.begin();
  json x_scale = x_lo > 0 ? json{{"type", "log"}} : json{{"type", "symlog"}, {"constant", 1}};
  json y_scale = log_scale(all);
  // Ticks at the swept values themselves: a log axis's own ticks (200, 400,
  // 800) name values that were never run.
  json x = {{"field", "x"},
            {"type", "quantitative"},
            {"scale", x_scale},
            {"title", axis_title(param, x_scale)},
            {"axis", {{"values", std::vector<double>(xs.begin(), xs.end())}}}};
  json y = {{"field", "median"}, {"type", "quantitative"}, {"scale", y_scale}, {"axis", value_axis(y_scale, all)},
            {"title", axis_title(fmt::format("time per {}, ns", w.operation), y_scale)}};
  json unit = {
      {"height", 220},
      {"layer",
       json::array({{{"mark", {{"type", "line"}, {"point", {{"filled", true}, {"size", 50}}}}},
                     {"encoding", {{"x", x}, {"y", y}, {"color", color_encoding(d)}, {"shape", shape_encoding(d)},
                                   {"tooltip", tooltip()}}}},
                    {{"mark", {{"type", "rule"}}},
                     {"encoding",
                      {{"x", x},
                       {"y", {{"field", "min"}, {"type", "quantitative"}, {"scale", y_scale}}},
                       {"y2", {{"field", "max"}}},
                       {"color", color_encoding(d)}}}}})}};
  Chart chart;
  chart.anchor = anchor(w.name, "scaling", param);
  chart.title = fmt::format("Scaling with {}", param);
  chart.caption = fmt::format(
      "Median time per {} against {}, both axes logarithmic; rules span the fastest to the slowest "
      "repetition.{}",
      w.operation, param, panels.size() > 1 ? " One panel per value of the other parameters." : "");
  chart.panels = compose(values, unit, "panel", panels, y_domain(y_scale, all));
  return chart;
}

// p50, p90, p99, p99.9 and max per model: how far the tail reaches.
std::optional<Chart> latency_spectrum(const ReportData& d, const WorkloadView& w) {
  json values = json::array();
  std::vector<double> medians;
  std::vector<std::string> panels;
  for (const auto& c : w.cells) {
    if (!c.ok()) continue;
    std::string panel = multi(d) ? fmt::format("{} · {}", c.run->label, c.config) : c.config;
    bool any = false;
    for (size_t i = 0; i < std::size(kPercentiles); ++i) {
      auto s = c.metric(kPercentiles[i].metric);
      if (!s) continue;
      any = true;
      values.push_back({{"file", c.run->label}, {"series", c.series}, {"config", c.config}, {"panel", panel},
                        {"percentile", kPercentiles[i].label}, {"order", i}, {"median", s->median},
                        {"median_text", time_text(s->median)},
                        {"range_text", fmt::format("{} – {}", time_text(s->min), time_text(s->max))}});
      medians.push_back(s->median);
    }
    if (any && std::find(panels.begin(), panels.end(), panel) == panels.end()) panels.push_back(panel);
  }
  if (values.empty()) return std::nullopt;
  json scale = scale_for(medians, medians);
  std::vector<std::string> order;
  for (const auto& p : kPercentiles) order.push_back(p.label);
  json unit = {
      {"height", 220},
      {"mark", {{"type", "line"}, {"point", {{"filled", true}, {"size", 40}}}}},
      {"encoding",
       {{"x", {{"field", "percentile"}, {"type", "ordinal"}, {"sort", order}, {"title", "percentile"},
               {"axis", {{"labelAngle", 0}}}}},
        {"y", {{"field", "median"}, {"type", "quantitative"}, {"scale", scale}, {"axis", value_axis(scale, medians)},
               {"title", axis_title("latency, ns", scale)}}},
        {"color", color_encoding(d)},
        {"shape", shape_encoding(d)},
        {"tooltip", json::array({{{"field", "series"}, {"title", "model"}},
                                 {{"field", "percentile"}},
                                 {{"field", "median_text"}, {"title", "median over repetitions"}},
                                 {{"field", "range_text"}, {"title", "min – max"}}})}}}};
  Chart chart;
  chart.anchor = anchor(w.name, "latency");
  chart.title = "Latency percentile spectrum";
  chart.caption = fmt::format(
      "Latency of one {} at each percentile (median over repetitions), one panel per configuration.",
      w.operation);
  chart.panels = compose(values, unit, "panel", panels, y_domain(scale, medians));
  return chart;
}

// CPU time per operation, user and sys in two rows of panels, from the
// aggregates' medians divided by the operation count of a repetition.
std::optional<Chart> cpu_split(const ReportData& d, const WorkloadView& w) {
  json values = json::array();
  std::vector<double> medians, all;
  for (const auto& c : w.cells) {
    if (!c.ok() || c.operations <= 0) continue;
    for (const char* kind : {"user", "sys"}) {
      auto s = c.metric(fmt::format("cpu_{}_s", kind));
      if (!s) continue;
      double per = 1e9 / c.operations;
      std::string panel = fmt::format("{} CPU", kind);
      if (multi(d)) panel = fmt::format("{} · {}", c.run->label, panel);
      values.push_back({{"file", c.run->label}, {"series", c.series}, {"config", c.config}, {"kind", kind},
                        {"file_order", c.run->index}, {"series_order", position(w.series, c.series)},
                        {"config_order", position(w.configs, c.config)}, {"panel", panel},
                        {"median", s->median * per}, {"min", s->min * per}, {"max", s->max * per},
                        {"median_text", time_text(s->median * per)},
                        {"range_text", fmt::format("{} – {}", time_text(s->min * per), time_text(s->max * per))}});
      medians.push_back(s->median * per);
      all.insert(all.end(), {s->median * per, s->min * per, s->max * per});
    }
  }
  if (values.empty()) return std::nullopt;
  json scale = scale_for(medians, all);
  json x = {{"field", "config"}, {"type", "nominal"}, {"sort", by_order("config_order")},
            {"title", w.varying.empty() ? "configuration" : fmt::format("{}", fmt::join(w.varying, " · "))},
            {"axis", {{"labelAngle", -20}, {"labelLimit", 240}}}};
  json x_offset = {{"field", "series"}, {"type", "nominal"}, {"sort", by_order("series_order")}};
  json mark = is_log(scale) ? json{{"type", "point"}, {"filled", true}, {"size", 60}} : json{{"type", "bar"}};
  json inner = {
      {"height", 180},
      {"layer",
       json::array({{{"mark", mark},
                     {"encoding",
                      {{"x", x}, {"xOffset", x_offset},
                       {"y", {{"field", "median"}, {"type", "quantitative"}, {"scale", scale},
                              {"axis", value_axis(scale, all)}, {"title", axis_title("ns", scale)}}},
                       {"color", color_encoding(d)}, {"tooltip", tooltip()}}}},
                    {{"mark", {{"type", "rule"}, {"strokeWidth", 2}}},
                     {"encoding",
                      {{"x", x}, {"xOffset", x_offset},
                       {"y", {{"field", "min"}, {"type", "quantitative"}, {"scale", scale}}},
                       {"y2", {{"field", "max"}}}, {"color", {{"value", kRuleColour}}}}}}})}};
  if (is_log(scale)) inner["layer"][0]["encoding"]["shape"] = shape_encoding(d);
  std::vector<std::string> panels;
  for (const auto& r : values)
    if (std::find(panels.begin(), panels.end(), r["panel"]) == panels.end()) panels.push_back(r["panel"]);
  Chart chart;
  chart.anchor = anchor(w.name, "cpu");
  chart.title = "CPU time per operation: user and sys";
  chart.caption = fmt::format(
      "User and kernel CPU time per {} in the timed region (getrusage of the cell and its reaped children), "
      "median with the min – max over repetitions.",
      w.operation);
  chart.panels = compose(values, inner, "panel", panels, y_domain(scale, all));
  return chart;
}

// Memory with every idle connection parked against the connection count,
// per model, with the least-squares line through each model's points: its
// slope is what one more idle connection costs (the table beside it gives
// slope, intercept and r²).
std::optional<Chart> idle_memory_fit(const ReportData& d, const WorkloadView& w) {
  json values = json::array(), lines = json::array();
  std::vector<std::string> panels;
  std::vector<double> all;
  for (const auto& run : d.runs) {
    for (const auto& f : idle_fits(w, run)) {
      const std::string panel = multi(d) ? run.label : "";
      // A model's own variants share its fit: the fit is per model.
      for (const auto& p : f.points) {
        values.push_back({{"file", run.label}, {"panel", panel}, {"series", f.model}, {"config", fmt::format("connections:{:g}", p.connections)},
                          {"x", p.connections}, {"y", p.memory / (1024 * 1024)}, {"median_text", human_bytes(p.memory)},
                          {"range_text", f.slope ? fmt::format("{} per connection", human_bytes(*f.slope)) : std::string("one point")}});
        all.push_back(p.memory / (1024 * 1024));
      }
      if (f.slope && f.points.size() >= 2)
        for (double x : {f.points.front().connections, f.points.back().connections})
          lines.push_back({{"file", run.label}, {"panel", panel}, {"series", f.model}, {"x", x},
                           {"y", (*f.intercept + *f.slope * x) / (1024 * 1024)}});
      if (std::find(panels.begin(), panels.end(), panel) == panels.end()) panels.push_back(panel);
    }
  }
  if (values.empty()) return std::nullopt;
  // The fit's lines travel in the same data, told apart by a field, so a
  // panel filters both.
  for (auto& l : lines) {
    l["fit"] = true;
    values.push_back(l);
  }
  for (auto& v : values)
    if (!v.contains("fit")) v["fit"] = false;
  json x = {{"field", "x"}, {"type", "quantitative"}, {"title", "idle connections"}};
  json y = {{"field", "y"}, {"type", "quantitative"}, {"title", "memory with all parked, MiB"}};
  json unit = {
      {"height", 240},
      {"layer",
       json::array({{{"transform", json::array({{{"filter", "datum.fit"}}})},
                     {"mark", {{"type", "line"}, {"strokeDash", {4, 3}}}},
                     {"encoding", {{"x", x}, {"y", y}, {"color", color_encoding(d)}}}},
                    {{"transform", json::array({{{"filter", "!datum.fit"}}})},
                     {"mark", {{"type", "point"}, {"filled", true}, {"size", 60}}},
                     {"encoding", {{"x", x}, {"y", y}, {"color", color_encoding(d)}, {"shape", shape_encoding(d)},
                                   {"tooltip", tooltip()}}}}})}};
  Chart chart;
  chart.anchor = anchor(w.name, "memory-fit");
  chart.title = "Memory per idle connection";
  chart.caption =
      "Resident memory with every connection open and idle (parked), against the number of connections; the dashed "
      "line is each model's least-squares fit, whose slope is the memory one more idle connection costs. A model "
      "that met a limit has no point there (see the table).";
  chart.panels = compose(values, unit, "panel", panels, std::pair<double, double>{0, *std::max_element(all.begin(), all.end())});
  return chart;
}

// Speedup (or efficiency) against the number of worker threads, relative
// to one worker, per model and configuration, with the ideal line; points
// beyond the machine's cores are hollow: they measure oversubscription.
std::optional<Chart> core_scaling_chart(const ReportData& d, const WorkloadView& w, bool efficiency) {
  json values = json::array();
  std::vector<std::string> panels;
  std::set<double> xs;
  std::optional<int> cores;
  for (const auto& run : d.runs)
    for (const auto& s : core_scaling(w, run)) {
      if (!cores) cores = cores_of(run);
      std::string panel = s.config;
      if (multi(d)) panel = panel.empty() ? run.label : fmt::format("{} · {}", run.label, panel);
      if (std::find(panels.begin(), panels.end(), panel) == panels.end()) panels.push_back(panel);
      for (const auto& p : s.points) {
        xs.insert(p.workers);
        double y = efficiency ? p.efficiency : p.speedup;
        values.push_back({{"file", run.label}, {"panel", panel}, {"series", s.model}, {"config", fmt::format("{}:{:g}", s.param, p.workers)},
                          {"x", p.workers}, {"y", y}, {"oversubscribed", p.oversubscribed},
                          {"median_text", fmt::format("×{:.2f}{}", y, p.oversubscribed ? " (oversubscribed)" : "")},
                          {"range_text", human_rate(p.ops_per_s)}});
      }
    }
  if (values.empty()) return std::nullopt;
  // The ideal: speedup equal to the workers, efficiency 1.
  for (const auto& panel : panels)
    for (double x : xs) values.push_back({{"panel", panel}, {"x", x}, {"y", efficiency ? 1.0 : x}, {"ideal", true}});
  for (auto& v : values)
    if (!v.contains("ideal")) v["ideal"] = false;
  json x = {{"field", "x"}, {"type", "quantitative"}, {"scale", {{"type", "log"}, {"base", 2}}},
            {"axis", {{"values", std::vector<double>(xs.begin(), xs.end())}, {"format", "~g"}}},
            {"title", "worker threads (log scale)"}};
  json y = {{"field", "y"}, {"type", "quantitative"}, {"title", efficiency ? "efficiency (speedup / workers)" : "speedup over one worker"}};
  json layers = json::array(
      {{{"transform", json::array({{{"filter", "datum.ideal"}}})},
        {"mark", {{"type", "line"}, {"color", "#999"}, {"strokeDash", {4, 4}}}},
        {"encoding", {{"x", x}, {"y", y}}}},
       {{"transform", json::array({{{"filter", "!datum.ideal"}}})},
        {"mark", {{"type", "line"}, {"point", false}}},
        {"encoding", {{"x", x}, {"y", y}, {"color", color_encoding(d)}}}},
       {{"transform", json::array({{{"filter", "!datum.ideal && !datum.oversubscribed"}}})},
        {"mark", {{"type", "point"}, {"size", 60}, {"filled", true}}},
        {"encoding", {{"x", x}, {"y", y}, {"color", color_encoding(d)}, {"shape", shape_encoding(d)}, {"tooltip", tooltip()}}}},
       {{"transform", json::array({{{"filter", "!datum.ideal && datum.oversubscribed"}}})},
        {"mark", {{"type", "point"}, {"size", 60}, {"filled", false}, {"strokeWidth", 2}}},
        {"encoding", {{"x", x}, {"y", y}, {"color", color_encoding(d)}, {"shape", shape_encoding(d)}, {"tooltip", tooltip()}}}}});
  if (cores)
    layers.push_back({{"data", {{"values", json::array({{{"x", *cores}}})}}},
                      {"mark", {{"type", "rule"}, {"color", "#b00020"}, {"strokeDash", {2, 2}}}},
                      {"encoding", {{"x", x}}}});
  json unit = {{"height", 220}, {"layer", layers}};
  Chart chart;
  chart.anchor = anchor(w.name, efficiency ? "cores-efficiency" : "cores");
  chart.title = efficiency ? "Core scaling: efficiency" : "Core scaling: speedup";
  std::string oversubscribed =
      cores ? fmt::format(" This machine has {} cores (the red line): points beyond it are hollow, and measure "
                          "oversubscription, not scaling.",
                          *cores)
            : " The run does not say how many cores the machine has.";
  chart.caption = fmt::format(
      "Throughput (operations per second) with N worker threads divided by its value with one{}, per model: the "
      "worker parameter of an M:N runtime (its workers_param), or a kernel-scheduled model's unit count. The dashed "
      "grey line is the ideal.{}",
      efficiency ? ", divided again by N" : "", oversubscribed);
  chart.panels = compose(values, unit, "panel", panels);
  return chart;
}

}  // namespace

std::string panel_id(const Chart& chart, size_t panel) { return fmt::format("{}-{}", chart.anchor, panel + 1); }

Palette palette(const ReportData& d) {
  Palette p;
  p.series = d.all_series;
  p.colours = series_colours(p.series.size());
  p.models = d.models;
  for (size_t i = 0; i < p.models.size(); ++i) p.shapes.push_back(kShapes[i % std::size(kShapes)]);
  return p;
}

std::string anchor(const std::string& workload, std::string_view what, const std::string& detail) {
  std::string out = fmt::format("wl-{}", escape::fragment_id(workload));
  if (!what.empty()) out += fmt::format("-{}", what);
  if (!detail.empty()) out += fmt::format("-{}", escape::fragment_id(detail));
  return out;
}

// Every title in a specification, made safe to quote inside a Vega
// expression (escape::vega_text): titles carry workload and parameter names.
static void safe_titles(json& spec) {
  if (spec.is_object()) {
    for (auto& [k, v] : spec.items()) {
      if (k == "title" && v.is_string())
        v = escape::vega_text(v.get<std::string>());
      else
        safe_titles(v);
    }
  } else if (spec.is_array()) {
    for (auto& v : spec) safe_titles(v);
  }
}

std::vector<Chart> workload_charts(const ReportData& d, const WorkloadView& w) {
  std::vector<Chart> charts;
  auto add = [&](std::optional<Chart> c) {
    if (c) charts.push_back(std::move(*c));
  };
  add(side_by_side(d, w, metrics::ns_per_op.name, 1, human_ns, fmt::format("time per {}, ns", w.operation),
                   {anchor(w.name, "time"), fmt::format("Time per {}", w.operation),
                    fmt::format("Median time per {} (1 / throughput) per model and configuration; the rule spans "
                                "the fastest to the slowest repetition.",
                                w.operation),
                    {}}));
  for (const auto& p : w.varying) add(scaling(d, w, p));
  add(latency_spectrum(d, w));
  add(cpu_split(d, w));
  add(side_by_side(d, w, metrics::ctx_per_op.name, 1, count_text, fmt::format("context switches per {}", w.operation),
                   {anchor(w.name, "ctx"), fmt::format("Context switches per {}", w.operation),
                    "Voluntary plus involuntary context switches per operation in the timed region: a kernel "
                    "switch is what user-space scheduling avoids.",
                    {}}));
  add(side_by_side(d, w, metrics::memory_peak_bytes.name, 1.0 / (1024 * 1024), human_bytes, "peak memory, MiB",
                   {anchor(w.name, "memory"), "Peak memory",
                    "Peak resident memory of the cell (VmHWM; for the process model the peak PSS summed over its "
                    "process tree), including the binary and its libraries.",
                    {}}));
  add(core_scaling_chart(d, w, false));
  add(core_scaling_chart(d, w, true));
  add(idle_memory_fit(d, w));
  add(side_by_side(d, w, metrics::memory_per_unit_bytes.name, 1, human_bytes, "memory per unit, bytes",
                   {anchor(w.name, "memory-per-unit"), "Memory per unit",
                    "(Memory with N units alive − memory before) / N, read while all units are parked.", {}}));
  for (auto& c : charts)
    for (auto& p : c.panels) safe_titles(p.spec);
  return charts;
}

}  // namespace cmbench::report
