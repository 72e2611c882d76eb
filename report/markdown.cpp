// report.md: the taxonomy table and one table per workload, small enough to
// paste into a pull request or a CI job summary. The charts stay in
// report.html.
#include <fmt/format.h>

#include "report/render.hpp"

namespace cmbench::report {

namespace {

// A table cell: "|" would end it and a newline would end the row.
std::string cell(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '|')
      out += "\\|";
    else if (ch == '\n')
      out += ' ';
    else
      out += ch;
  }
  return out;
}

std::string run_mark(const ReportData& d, const Run& run) {
  return d.runs.size() > 1 ? fmt::format("[{}] ", run.index) : "";
}

std::string md_header(const ReportData& d) {
  std::string out = "# cmbench report\n\n";
  for (const auto& run : d.runs) {
    out += fmt::format("- {}**{}**: `{}`\n", run_mark(d, run), run.label,
                       shell_command(run.doc.contains("command") ? run.doc["command"] : nlohmann::json()));
  }
  return out + "\n";
}

std::string md_taxonomy(const ReportData& d, const Taxonomy& t) {
  std::string out = "## The models, measured\n\n| model | scheduled by |";
  for (const auto& c : t.columns) out += fmt::format(" {} ({}) |", c.title, c.source);
  out += "\n|---|---|";
  for (size_t i = 0; i < t.columns.size(); ++i) out += "---|";
  out += "\n";
  for (const auto& row : t.rows) {
    out += fmt::format("| {} | {} |", cell(row.model), cell(row.scheduled_by));
    for (const auto& per_run : row.measures) {
      auto shown = distinct_measures(per_run);
      std::string joined;
      for (size_t i = 0; i < shown.size(); ++i) {
        joined += fmt::format("{}{}{}", i ? "<br>" : "", shown.size() > 1 ? run_mark(d, d.runs[i]) : "", shown[i].text);
        if (shown[i].show_detail && !shown[i].detail.empty()) joined += fmt::format(" ({})", shown[i].detail);
      }
      out += fmt::format(" {} |", cell(joined));
    }
    out += "\n";
  }
  return out + "\n";
}

std::string md_workload(const ReportData& d, const WorkloadView& w) {
  auto t = workload_table(w, d.runs);
  const bool multi = d.runs.size() > 1;
  std::string out = fmt::format("## {}: time per {}\n\n", w.name, w.operation);
  out += "Median over the repetitions (fastest – slowest), × the ratio to the fastest model of the row";
  if (!w.fixed.empty()) out += fmt::format("; fixed: `{}`", w.fixed);
  out += ". ⚠: the cell has warnings (see report.html).\n\n|";
  if (multi) out += " file |";
  out += " configuration |";
  for (const auto& s : t.series) out += fmt::format(" {} |", cell(s));
  out += multi ? "\n|---|---|" : "\n|---|";
  for (size_t i = 0; i < t.series.size(); ++i) out += "---:|";
  out += "\n";
  for (const auto& row : t.rows) {
    out += "|";
    if (multi) out += fmt::format(" [{}] |", row.run->index);
    out += fmt::format(" {} |", cell(row.config));
    for (const auto& c : row.cells) out += fmt::format(" {}{} |", cell(c.text), c.warned ? " ⚠" : "");
    out += "\n";
  }
  out += multi ? "| | lines of code |" : "| lines of code |";
  for (const auto& loc : t.lines_of_code) out += fmt::format(" {} |", loc);
  out += "\n";

  size_t not_ok = 0;
  for (const auto& c : w.cells)
    if (!c.ok()) ++not_ok;
  if (not_ok) {
    out += "\nNot ok:\n\n";
    for (const auto& c : w.cells)
      if (!c.ok()) out += fmt::format("- {}`{}`: {}: {}\n", run_mark(d, *c.run), c.name, c.outcome, c.message);
  }
  return out + "\n";
}

}  // namespace

std::string render_markdown(const ReportData& d, const Taxonomy& t) {
  std::string out = md_header(d);
  out += md_taxonomy(d, t);
  for (const auto& w : d.workloads) out += md_workload(d, w);
  return out;
}

}  // namespace cmbench::report
