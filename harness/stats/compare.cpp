#include "harness/stats/compare.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

#include "harness/results/context.hpp"
#include "harness/results/results.hpp"
#include "harness/cli/table.hpp"
#include "harness/results/metrics.hpp"

namespace cmbench {

const std::vector<ComparedMetric>& compared_metrics() {
  // The table's rows the gate compares, in its order. Throughput is the
  // inverse of time per operation and would only count the same evidence
  // twice; context switches per operation are often zero and say why a
  // time changed rather than whether it did: the table leaves both out.
  static const std::vector<ComparedMetric> all = [] {
    std::vector<ComparedMetric> out;
    for (const auto& m : metrics::all())
      if (m.gate != metrics::Gate::no)
        out.push_back({m.name, m.short_label, m.direction == metrics::lower_is_better,
                       std::string_view(m.unit) == "bytes", m.gate == metrics::Gate::exact});
    return out;
  }();
  return all;
}

std::map<std::string, double> own_thresholds() {
  std::map<std::string, double> out;
  for (const auto& m : metrics::all())
    if (m.gate != metrics::Gate::no && m.gate_threshold > 0) out[m.name] = m.gate_threshold;
  return out;
}

namespace {

const ComparedMetric* find_metric(const std::string& name) {
  for (const auto& m : compared_metrics())
    if (m.name == name) return &m;
  return nullptr;
}

std::string metric_names() {
  std::vector<std::string> names;
  for (const auto& m : compared_metrics()) names.push_back(m.name);
  return fmt::format("{}", fmt::join(names, ", "));
}

double parse_percent(const std::string& text, const std::string& whole) {
  std::string t = text;
  if (!t.empty() && t.back() == '%') t.pop_back();
  size_t used = 0;
  double v = -1;
  try {
    v = std::stod(t, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (t.empty() || used != t.size() || !(v >= 0) || v > 1000)
    throw std::invalid_argument(fmt::format(
        "--threshold: '{}' is not a percentage; accepted: 5, 5% or METRIC=5% (0 to 1000)", whole));
  return v / 100;
}

// The ok repetitions' values of one metric in a cell of a results file.
std::vector<double> values_of(const nlohmann::json& cell, const std::string& metric) {
  std::vector<double> out;
  for (const auto& rep : cell.value("repetitions", nlohmann::json::array()))
    if (rep.value("outcome", "") == "ok")
      if (auto v = metric_value(rep.value("metrics", nlohmann::json()), metric)) out.push_back(*v);
  return out;
}

// Whether `base` and `head` are the two sides of one `ab` run: each names
// the run's binaries and coin-flip seed in options.ab, the same in both.
bool sides_of_one_ab_run(const nlohmann::json& base, const nlohmann::json& head) {
  const auto* b = base.contains("options") ? &base["options"] : nullptr;
  const auto* h = head.contains("options") ? &head["options"] : nullptr;
  return b && h && b->is_object() && h->is_object() && b->contains("ab") && (*b)["ab"].is_object() &&
         (*b)["ab"].contains("seed") && h->contains("ab") && (*b)["ab"] == (*h)["ab"];
}

// A metric's values in the pairs `ab` ran: repetition k of each side, where
// both are ok and carry it.
std::pair<std::vector<double>, std::vector<double>> paired_values_of(const nlohmann::json& base,
                                                                     const nlohmann::json& head,
                                                                     const std::string& metric) {
  std::pair<std::vector<double>, std::vector<double>> out;
  const auto& b = base.value("repetitions", nlohmann::json::array());
  const auto& h = head.value("repetitions", nlohmann::json::array());
  for (size_t k = 0; k < std::min(b.size(), h.size()); ++k) {
    if (b[k].value("outcome", "") != "ok" || h[k].value("outcome", "") != "ok") continue;
    const auto x = metric_value(b[k].value("metrics", nlohmann::json()), metric);
    const auto y = metric_value(h[k].value("metrics", nlohmann::json()), metric);
    if (!x || !y) continue;
    out.first.push_back(*x);
    out.second.push_back(*y);
  }
  return out;
}

// How much worse HEAD is than BASE: above 1 is worse, whichever direction
// the metric prefers.
double worse_factor(const MetricResult& m) {
  return m.metric->lower_is_better ? m.ratio : 1 / m.ratio;
}

std::string human_value(const ComparedMetric& m, double v) {
  if (m.exact) return fmt::format("{:.4g}", v);
  return m.is_bytes ? human_bytes(v) : human_ns(v);
}

std::string percent_change(double ratio) {
  return fmt::format("{:+.1f}%", (ratio - 1) * 100);
}

std::string interval_text(const MetricResult& m) {
  if (!m.ci.valid) return "-";
  return fmt::format("[{:+.1f}%, {:+.1f}%]", (m.ci.lo - 1) * 100, (m.ci.hi - 1) * 100);
}

// Whether a results file was counted (`run --count instructions`), where
// times are Valgrind's, not the program's.
bool counted(const nlohmann::json& doc) {
  const auto& o = doc.value("options", nlohmann::json::object());
  return o.is_object() && o.value("count", nlohmann::json()).is_string();
}

std::string p_text(double p) { return p < 0.001 ? fmt::format("{:.1e}", p) : fmt::format("{:.3f}", p); }

const char* correction_name(Correction c) {
  switch (c) {
    case Correction::holm: return "Holm";
    case Correction::bh: return "Benjamini-Hochberg";
    case Correction::none: return "no";
  }
  return "no";
}

}  // namespace

void parse_exact_threshold(const std::string& text, CompareOptions& opt) {
  try {
    opt.exact_threshold = parse_percent(text, text);
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument(
        fmt::format("--exact-threshold: '{}' is not a percentage; accepted: 1 or 1% (0 to 1000)", text));
  }
}

void parse_threshold(const std::string& text, CompareOptions& opt) {
  auto eq = text.find('=');
  if (eq == std::string::npos) {
    opt.threshold = parse_percent(text, text);
    return;
  }
  std::string name = text.substr(0, eq);
  if (!find_metric(name))
    throw std::invalid_argument(fmt::format("--threshold: unknown metric '{}'; accepted: {}", name,
                                            metric_names()));
  opt.per_metric[name] = parse_percent(text.substr(eq + 1), text);
}

const char* to_string(Change c) {
  switch (c) {
    case Change::regressed: return "regressed";
    case Change::improved: return "improved";
    case Change::unchanged: return "unchanged";
  }
  return "unchanged";
}

Comparison compare_results(const nlohmann::json& base, const nlohmann::json& head,
                           const CompareOptions& opt, const std::string& base_path,
                           const std::string& head_path) {
  for (const auto& name : opt.metrics)
    if (!find_metric(name))
      throw std::invalid_argument(
          fmt::format("--metrics: unknown metric '{}'; accepted: {}", name, metric_names()));
  Comparison c;
  c.base_path = base_path;
  c.head_path = head_path;
  c.options = opt;

  const bool counting = counted(base) || counted(head);
  c.paired = sides_of_one_ab_run(base, head);
  std::map<std::string, const nlohmann::json*> head_cells;
  for (const auto& cell : head["cells"]) head_cells[cell.value("name", "")] = &cell;
  std::set<std::string> in_base;
  for (const auto& b : base["cells"]) {
    const std::string name = b.value("name", "");
    in_base.insert(name);
    auto it = head_cells.find(name);
    if (it == head_cells.end()) {
      c.only_base.push_back(name);
      continue;
    }
    const auto& h = *it->second;
    CellComparison cc;
    cc.name = name;
    cc.base_outcome = b.value("outcome", "failed");
    cc.head_outcome = h.value("outcome", "failed");
    if (cc.base_outcome != "ok" || cc.head_outcome != "ok") {
      // A cell that worked and no longer does is the worst regression; the
      // reverse is news, and two failures leave nothing to compare. A limit
      // is a result, as for `run`'s exit status: one that became a crash, a
      // wrong count, a hang or an error broke too.
      const bool head_broken = cc.head_outcome != "ok" && cc.head_outcome != "limit";
      if (cc.base_outcome == "ok" || (cc.base_outcome == "limit" && head_broken)) {
        cc.broken = true;
        cc.change = Change::regressed;
        cc.note = fmt::format("{} in BASE, {} in HEAD: {}", cc.base_outcome, cc.head_outcome, h.value("message", ""));
      } else if (cc.head_outcome == "ok") {
        cc.note = fmt::format("{} in BASE, ok in HEAD", cc.base_outcome);
      } else {
        cc.note = fmt::format("{} in BASE, {} in HEAD: nothing to compare", cc.base_outcome,
                              cc.head_outcome);
      }
      c.cells.push_back(std::move(cc));
      continue;
    }
    for (const auto& metric : compared_metrics()) {
      if (!opt.metrics.empty() &&
          std::find(opt.metrics.begin(), opt.metrics.end(), metric.name) == opt.metrics.end())
        continue;
      // Counted runs are judged by their counts only: their times are
      // Valgrind's (tens of times slower), not the program's.
      if (opt.metrics.empty() && counting && !metric.exact) continue;
      MetricResult m;
      m.metric = &metric;
      m.base = values_of(b, metric.name);
      m.head = values_of(h, metric.name);
      if (m.base.empty() || m.head.empty()) continue;
      m.base_median = median(m.base);
      m.head_median = median(m.head);
      // A median of zero (no context switches, no latency) has no ratio.
      if (!(m.base_median > 0) || !(m.head_median > 0)) continue;
      m.ratio = m.head_median / m.base_median;
      if (metric.exact) {
        auto t = opt.per_metric.find(metric.name);
        m.threshold = t != opt.per_metric.end() ? t->second : opt.exact_threshold;
        cc.metrics.push_back(std::move(m));
        continue;
      }
      if (c.paired) {
        // Both ran as pairs of repetitions: resampling the pairs keeps what
        // the two of a pair share, the machine's speed at that moment, out
        // of the interval (docs/ci.md).
        const auto [x, y] = paired_values_of(b, h, metric.name);
        m.paired = x.size() >= 2 && x.size() == m.base.size() && y.size() == m.head.size();
        if (m.paired) m.ci = bootstrap_median_ratio(x, y, opt.level, Resampling::pairs);
      }
      if (!m.paired) m.ci = bootstrap_median_ratio(m.base, m.head, opt.level);
      m.hl = hodges_lehmann(m.base, m.head, opt.level, true);
      m.test = mann_whitney(m.base, m.head);
      auto t = opt.per_metric.find(metric.name);
      m.threshold = t != opt.per_metric.end() ? t->second : opt.threshold;
      cc.metrics.push_back(std::move(m));
    }
    c.cells.push_back(std::move(cc));
  }
  for (const auto& h : head["cells"])
    if (!in_base.count(h.value("name", ""))) c.only_head.push_back(h.value("name", ""));
  if (c.cells.empty())
    throw std::invalid_argument(fmt::format("{} and {} have no cell in common", base_path, head_path));

  // One family: every metric of every cell compared, corrected together.
  std::vector<double> p;
  for (const auto& cc : c.cells)
    for (const auto& m : cc.metrics)
      if (!m.metric->exact) p.push_back(m.test.p);
  const auto adjusted = adjust_p_values(p, opt.correction);
  c.tests = p.size();
  // The level the smallest p-value must reach after the correction: alpha
  // over the number of tests for Holm (and for BH's first step).
  const double needed = opt.correction == Correction::none || c.tests == 0
                            ? opt.alpha
                            : opt.alpha / static_cast<double>(c.tests);
  size_t k = 0;
  size_t untestable = 0;
  for (auto& cc : c.cells) {
    for (auto& m : cc.metrics) {
      if (m.metric->exact) {
        // The same binary counts the same: any change beyond the threshold
        // is the code's, so no test stands between it and the verdict.
        const double worse = worse_factor(m);
        m.p_adjusted = 0;
        if (worse > 1 + m.threshold) m.change = Change::regressed;
        else if (worse < 1 / (1 + m.threshold)) m.change = Change::improved;
        if (m.change == Change::regressed) cc.change = Change::regressed;
        else if (m.change == Change::improved && cc.change == Change::unchanged) cc.change = Change::improved;
        continue;
      }
      m.p_adjusted = adjusted[k++];
      const double worse = worse_factor(m);
      const bool significant = m.p_adjusted < opt.alpha;
      if (significant && worse > 1 + m.threshold) m.change = Change::regressed;
      else if (significant && worse < 1 / (1 + m.threshold)) m.change = Change::improved;
      if (min_p_value(m.base.size(), m.head.size()) > needed) {
        m.warning = fmt::format(
            "{} and {} repetitions cannot reach the p < {:.2g} the {} correction needs over {} tests; "
            "this metric can never be flagged",
            m.base.size(), m.head.size(), needed, correction_name(opt.correction), c.tests);
        ++untestable;
      }
      if (m.change == Change::regressed) cc.change = Change::regressed;
      else if (m.change == Change::improved && cc.change == Change::unchanged) cc.change = Change::improved;
    }
    if (cc.broken) ++c.broken;
    if (cc.change == Change::regressed) ++c.regressed;
    else if (cc.change == Change::improved) ++c.improved;
  }
  if (untestable > 0) {
    // The repetitions per side that would make complete separation enough.
    size_t n = 2;
    while (n < 200 && min_p_value(n, n) > needed) ++n;
    c.warnings.push_back(fmt::format(
        "{} of {} metric comparisons have too few repetitions for the test to mean anything: "
        "run at least {} per side",
        untestable, c.tests, n));
  }
  if (!c.only_base.empty() || !c.only_head.empty())
    c.warnings.push_back(fmt::format("{} cells only in BASE and {} only in HEAD were not compared",
                                     c.only_base.size(), c.only_head.size()));
  const auto& bc = base.value("context", nlohmann::json::object());
  const auto& hc = head.value("context", nlohmann::json::object());
  for (const char* key : {"cpu_model", "cores_available", "kernel", "build_type"})
    if (bc.value(key, nlohmann::json()) != hc.value(key, nlohmann::json()))
      c.warnings.push_back(fmt::format("BASE and HEAD differ in {} ({} and {}): a difference may be "
                                       "the machine's, not the code's",
                                       key, bc.value(key, nlohmann::json()).dump(),
                                       hc.value(key, nlohmann::json()).dump()));
  // A machine whose own speed varied more than the gate's target hides the
  // changes below it: they are not flagged, though nothing is flagged
  // falsely either (the test compares ranks and the intervals resample
  // what varied).
  for (const auto& [side, doc] : {std::pair<const char*, const nlohmann::json*>{"BASE", &base}, {"HEAD", &head}})
    if (const auto steady = machine_steadiness(*doc); steady && machine_unsteady(*steady))
      c.warnings.push_back(fmt::format(
          "the machine's own speed varied during {}: {}; a change smaller than that may go unflagged "
          "(results/README.md, \"How steady the machine was\")",
          side, machine_steadiness_text(*steady)));
  return c;
}

int comparison_status(const Comparison& c) { return c.regressed > 0 ? 1 : 0; }

namespace {

constexpr const char* kPairedNote =
    "The 95% intervals resample the pairs this ab run measured (repetition k of each side, run back to back).";

std::string verdict_line(const Comparison& c) {
  const auto& o = c.options;
  size_t exact = 0;
  for (const auto& cc : c.cells)
    for (const auto& m : cc.metrics) exact += m.metric->exact;
  const std::string exact_text =
      exact == 0 ? ""
                 : fmt::format("; {} exact counts, where a change counts when it is larger than {:g}%", exact,
                               o.exact_threshold * 100);
  auto exact_of = [&](const char* metric) {
    auto t = o.per_metric.find(metric);
    return (t != o.per_metric.end() ? t->second : o.exact_threshold) * 100;
  };
  if (c.tests == 0 && exact > 0)
    return fmt::format(
        "{} cells compared by {} exact counts, no test needed (a change counts when it is larger than "
        "{:g}% in instructions, {:g}% in D1 and {:g}% in LL misses per operation): {} regressed{}, {} "
        "improved, {} unchanged",
        c.cells.size(), exact, exact_of(metrics::instructions_per_op.name), exact_of(metrics::d1_misses_per_op.name),
        exact_of(metrics::ll_misses_per_op.name), c.regressed,
        c.broken ? fmt::format(" ({} of them broken)", c.broken) : "", c.improved,
        c.cells.size() - c.regressed - c.improved);
  return fmt::format(
      "{} cells compared ({} tests, Mann-Whitney U, {} correction at alpha {}; a change counts when "
      "it is significant and larger than {:.0f}%{}): {} regressed{}, {} improved, {} unchanged",
      c.cells.size(), c.tests, correction_name(o.correction), o.alpha, o.threshold * 100, exact_text,
      c.regressed, c.broken ? fmt::format(" ({} of them broken)", c.broken) : "", c.improved,
      c.cells.size() - c.regressed - c.improved);
}

}  // namespace

void print_comparison(std::FILE* out, const Comparison& c) {
  size_t width = 4;
  for (const auto& cc : c.cells) width = std::max(width, cc.name.size());
  const auto header = fmt::format("{:<{}}  {:<8}  {:>10}  {:>10}  {:>8}  {:>20}  {:>8}  {}\n", "cell", width,
                                  "metric", "base", "head", "change", "95% CI", "p (adj)", "verdict");
  fmt::print(out, "{}{}\n", header, std::string(header.size() - 1, '-'));
  for (const auto& cc : c.cells) {
    if (!cc.note.empty() && cc.metrics.empty()) {
      fmt::print(out, "{:<{}}  {}{}\n", cc.name, width, cc.broken ? "BROKEN: " : "", cc.note);
      continue;
    }
    // The time per operation always; other metrics when they changed.
    for (const auto& m : cc.metrics) {
      if (m.metric->name != metrics::ns_per_op.name && m.metric->name != metrics::instructions_per_op.name &&
          m.change == Change::unchanged)
        continue;
      fmt::print(out, "{:<{}}  {:<8}  {:>10}  {:>10}  {:>8}  {:>20}  {:>8}  {}{}\n", cc.name, width,
                 m.metric->label, human_value(*m.metric, m.base_median),
                 human_value(*m.metric, m.head_median), percent_change(m.ratio), interval_text(m),
                 m.metric->exact ? "exact" : p_text(m.p_adjusted), m.change == Change::unchanged ? "" : to_string(m.change),
                 m.warning.empty() ? "" : " (too few repetitions)");
    }
  }
  fmt::print(out, "\n");
  for (const auto& w : c.warnings) fmt::print(out, "warning: {}\n", w);
  if (c.paired) fmt::print(out, "{}\n", kPairedNote);
  fmt::print(out, "{}\n", verdict_line(c));
}

std::string comparison_markdown(const Comparison& c) {
  std::string md;
  auto row = [&](const CellComparison& cc, const MetricResult& m) {
    md += fmt::format("| `{}` | {} | {} | {} | {} | {} | {} | {} |\n", cc.name, m.metric->label,
                      human_value(*m.metric, m.base_median), human_value(*m.metric, m.head_median),
                      percent_change(m.ratio), interval_text(m),
                      m.metric->exact ? std::string("exact") : p_text(m.p_adjusted),
                      m.change == Change::regressed  ? "**regressed**"
                      : m.change == Change::improved ? "improved"
                                                     : "");
  };
  const std::string head =
      "| cell | metric | base | head | change | 95% CI | p (adj) | verdict |\n|---|---|---:|---:|---:|---:|---:|---|\n";
  md += fmt::format("## cmbench: {}\n\n", c.regressed ? fmt::format("{} cells regressed", c.regressed)
                                                       : std::string("no regression"));
  md += verdict_line(c) + ".\n\n";
  for (const auto& w : c.warnings) md += fmt::format("> warning: {}\n\n", w);
  if (c.paired) md += fmt::format("{}\n\n", kPairedNote);
  auto section = [&](Change which, const char* title) {
    std::string rows;
    std::swap(md, rows);
    for (const auto& cc : c.cells) {
      if (which == Change::regressed && cc.broken)
        md += fmt::format("| `{}` | outcome | {} | {} | | | | **broken** |\n", cc.name, cc.base_outcome,
                          cc.head_outcome);
      for (const auto& m : cc.metrics)
        if (m.change == which) row(cc, m);
    }
    std::swap(md, rows);
    if (!rows.empty()) md += fmt::format("### {}\n\n{}{}\n", title, head, rows);
  };
  section(Change::regressed, "Regressions");
  section(Change::improved, "Improvements");
  md += "<details><summary>Every cell (time per operation)</summary>\n\n" + head;
  for (const auto& cc : c.cells) {
    bool printed = false;
    for (const auto& m : cc.metrics)
      if (m.metric->name == metrics::ns_per_op.name || m.metric->name == metrics::instructions_per_op.name) {
        row(cc, m);
        printed = true;
      }
    if (!printed) md += fmt::format("| `{}` | outcome | {} | {} | | | | {} |\n", cc.name, cc.base_outcome,
                                    cc.head_outcome, cc.broken ? "**broken**" : "");
  }
  md += "\n</details>\n";
  return md;
}

nlohmann::json comparison_json(const Comparison& c) {
  nlohmann::json j;
  j["schema"] = "cmbench-comparison";
  j["schema_version"] = 1;
  j["base"] = c.base_path;
  j["head"] = c.head_path;
  j["options"] = {{"threshold", c.options.threshold},
                  {"per_metric_threshold", c.options.per_metric},
                  {"exact_threshold", c.options.exact_threshold},
                  {"alpha", c.options.alpha},
                  {"correction", correction_name(c.options.correction)},
                  {"confidence_level", c.options.level},
                  {"test", "Mann-Whitney U, two-sided"},
                  {"interval", c.paired ? "percentile bootstrap of the ratio of medians, resampling the ab run's pairs"
                                        : "percentile bootstrap of the ratio of medians, resampling each side"}};
  j["paired"] = c.paired;
  j["tests"] = c.tests;
  j["regressed"] = c.regressed;
  j["improved"] = c.improved;
  j["broken"] = c.broken;
  j["warnings"] = c.warnings;
  j["only_base"] = c.only_base;
  j["only_head"] = c.only_head;
  j["cells"] = nlohmann::json::array();
  for (const auto& cc : c.cells) {
    nlohmann::json jc = {{"name", cc.name},
                         {"base_outcome", cc.base_outcome},
                         {"head_outcome", cc.head_outcome},
                         {"change", to_string(cc.change)},
                         {"broken", cc.broken}};
    if (!cc.note.empty()) jc["note"] = cc.note;
    jc["metrics"] = nlohmann::json::object();
    for (const auto& m : cc.metrics) {
      nlohmann::json jm = {{"base", m.base},
                           {"head", m.head},
                           {"base_median", m.base_median},
                           {"head_median", m.head_median},
                           {"ratio", m.ratio},
                           {"lower_is_better", m.metric->lower_is_better},
                           {"exact", m.metric->exact},
                           {"u", m.test.u},
                           {"p", m.test.p},
                           {"p_exact", m.test.exact},
                           {"p_adjusted", m.p_adjusted},
                           {"threshold", m.threshold},
                           {"change", to_string(m.change)}};
      jm["ratio_ci"] = m.ci.valid ? nlohmann::json{m.ci.lo, m.ci.hi} : nlohmann::json(nullptr);
      if (!m.metric->exact) jm["ratio_ci_resampling"] = m.paired ? "pairs" : "independent";
      jm["hodges_lehmann"] = m.hl.valid ? nlohmann::json{{"ratio", m.hl.estimate}, {"lo", m.hl.lo}, {"hi", m.hl.hi}}
                                        : nlohmann::json(nullptr);
      if (!m.warning.empty()) jm["warning"] = m.warning;
      jc["metrics"][m.metric->name] = jm;
    }
    j["cells"].push_back(jc);
  }
  return j;
}

}  // namespace cmbench
