#include "harness/history/analysis.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string_view>

#include "harness/cli/table.hpp"
#include "harness/results/metrics.hpp"
#include "harness/stats/stats.hpp"

namespace cmbench::history {

namespace {

bool ends_with(const std::string& s, const char* tail) {
  const std::string t(tail);
  return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

std::string short_commit(const std::string& commit) { return commit.substr(0, 10); }

std::string percent(double change) { return fmt::format("{:+.1f}%", change * 100); }

std::string markdown_cell(std::string s) {
  // A '|' would end a table cell.
  for (size_t at = 0; (at = s.find('|', at)) != std::string::npos; at += 2) s.replace(at, 1, "\\|");
  return s;
}

}  // namespace

std::string format_value(const std::string& metric, double v) {
  // By the table's unit; a name it does not know (a workload's own metric
  // not listed yet, a store written by an older cmbench) by its suffix.
  if (const metrics::Metric* m = metrics::find(metric)) {
    const std::string_view unit = m->unit;
    if (unit == "ns") return human_ns(v);
    if (unit == "bytes") return human_bytes(v);
    if (unit == "1/s") return human_rate(v);
    return fmt::format("{:.4g}", v);
  }
  if (ends_with(metric, "_ns") || ends_with(metric, "ns_per_op")) return human_ns(v);
  if (ends_with(metric, "_bytes")) return human_bytes(v);
  if (ends_with(metric, "_per_s")) return human_rate(v);
  return fmt::format("{:.4g}", v);
}

std::set<std::string> judged_metrics() { return metrics_with_direction(); }

std::vector<Change> series_changes(const History& h, size_t index, const DetectorOptions& options, size_t upto) {
  const Series& s = h.series[index];
  const size_t n = std::min(upto, s.points.size());
  std::vector<double> medians(n);
  for (size_t i = 0; i < n; ++i) medians[i] = s.points[i].median;
  const auto cps = e_divisive(medians, options);
  const auto direction = metric_direction(s.metric);
  std::vector<Change> out;
  for (size_t k = 0; k < cps.size(); ++k) {
    const size_t from = k == 0 ? 0 : cps[k - 1].index, at = cps[k].index,
                 to = k + 1 < cps.size() ? cps[k + 1].index : n;
    Change c;
    c.series = index;
    c.point = at;
    c.before = median(std::span<const double>(medians.data() + from, at - from));
    c.after = median(std::span<const double>(medians.data() + at, to - at));
    c.p_value = cps[k].p_value;
    if (direction)
      c.worse = *direction == Direction::lower_is_better ? c.after > c.before : c.after < c.before;
    out.push_back(c);
  }
  return out;
}

std::vector<Change> all_changes(const History& h, const DetectorOptions& options) {
  std::vector<Change> out;
  for (size_t i = 0; i < h.series.size(); ++i) {
    auto c = series_changes(h, i, options);
    out.insert(out.end(), c.begin(), c.end());
  }
  std::stable_sort(out.begin(), out.end(), [&](const Change& a, const Change& b) {
    const size_t ra = h.series[a.series].points[a.point].run, rb = h.series[b.series].points[b.point].run;
    if (ra != rb) return ra > rb;  // runs are in date order: a later index is newer
    const Series &sa = h.series[a.series], &sb = h.series[b.series];
    if (sa.cell != sb.cell) return h.cells[sa.cell].name < h.cells[sb.cell].name;
    return sa.metric < sb.metric;
  });
  return out;
}

CheckResult check_newest(const History& h, const DetectorOptions& options, double threshold) {
  CheckResult r;
  if (h.runs.empty()) return r;
  const size_t newest = h.runs.size() - 1;
  r.newest = &h.runs[newest];
  for (size_t i = 0; i < h.series.size(); ++i) {
    const Series& s = h.series[i];
    if (s.points.empty() || s.points.back().run != newest) continue;
    ++r.series_checked;
    const auto with = series_changes(h, i, options);
    if (with.empty()) continue;
    const auto without = series_changes(h, i, options, s.points.size() - 1);
    for (const auto& c : with) {
      const bool known = std::any_of(without.begin(), without.end(), [&](const Change& o) {
        return o.point + 1 >= c.point && o.point <= c.point + 1;
      });
      if (known) continue;
      if (c.worse && std::fabs(c.change()) >= threshold)
        r.regressions.push_back(c);
      else
        r.others.push_back(c);
    }
  }
  return r;
}

std::string check_markdown(const History& h, const CheckResult& r, const DetectorOptions& o, double threshold) {
  std::string out = "## cmbench history check\n\n";
  if (!r.newest) return out + "The history has no run yet.\n";
  const RunInfo& run = *r.newest;
  const Machine* machine = nullptr;
  for (const auto& m : h.machines)
    if (m.id == run.machine_id) machine = &m;
  out += fmt::format(
      "Newest run: commit `{}`{} of {}{}, on {}. {} series checked with E-Divisive means (significance {}, minimum "
      "segment {}, {} permutations, seed {}); a regression is a new change point in the worse direction by at least "
      "{:.1f}%.\n\n",
      short_commit(run.commit), run.dirty ? " (with uncommitted changes)" : "", run.date,
      run.branch.empty() ? "" : fmt::format(" on {}", run.branch), machine ? markdown_cell(machine->label()) : "?",
      r.series_checked, o.significance, o.min_segment, o.permutations, o.seed, threshold * 100);
  auto table = [&](const std::vector<Change>& changes) {
    std::string t =
        "| cell | metric | machine | change starts at | before → after | change | p |\n|---|---|---|---|---|---|---|\n";
    for (const auto& c : changes) {
      const Series& s = h.series[c.series];
      const RunInfo& at = h.runs[s.points[c.point].run];
      t += fmt::format("| `{}` | {} | {} | `{}` ({}) | {} → {} | {}{} | {:.3g} |\n", markdown_cell(h.cells[s.cell].name),
                       s.metric, s.machine + 1, short_commit(at.commit), at.date, format_value(s.metric, c.before),
                       format_value(s.metric, c.after), percent(c.change()), c.worse ? " worse" : " better",
                       c.p_value);
    }
    return t;
  };
  if (r.regressions.empty())
    out += "**No regression**: no new change point in the worse direction.\n";
  else
    out += fmt::format("**{} regression{}**: change points the newest run completed, in the worse direction.\n\n{}",
                       r.regressions.size(), r.regressions.size() == 1 ? "" : "s", table(r.regressions));
  if (!r.others.empty())
    out += fmt::format("\nOther new change points (better, or smaller than the threshold):\n\n{}", table(r.others));
  if (h.machines.size() > 1) {
    out += "\nMachines:\n";
    for (size_t i = 0; i < h.machines.size(); ++i) out += fmt::format("{}. {}\n", i + 1, markdown_cell(h.machines[i].label()));
  }
  return out;
}

}  // namespace cmbench::history
