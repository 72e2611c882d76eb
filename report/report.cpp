#include "report/report.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>

#include "harness/results/results.hpp"
#include "report/render.hpp"
#include "report/templates.hpp"

namespace cmbench {

namespace {

// Written through a temporary file renamed into place, so a reader (a CI
// step uploading the folder) never sees half a report.
void write_text_atomic(const std::filesystem::path& path, const std::string& text) {
  auto tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error(fmt::format("cannot open {}", tmp.string()));
    out << text;
    out.flush();
    if (!out) throw std::runtime_error(fmt::format("cannot write {}", tmp.string()));
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace

namespace report {

Rendered render_report(std::vector<Run> runs, const std::string& source_dir, const Assets& assets) {
  ReportData data = build_report_data(std::move(runs), source_dir);
  std::vector<WorkloadCharts> charts;
  std::set<std::string> anchors;
  for (const auto& w : data.workloads) {
    charts.push_back({&w, workload_charts(data, w)});
    for (const auto& c : charts.back().charts) anchors.insert(c.anchor);
  }
  Taxonomy taxonomy = build_taxonomy(data, anchors);
  std::vector<RunVerdicts> verdicts;
  for (const auto& run : data.runs) verdicts.push_back(compute_verdicts(data, run, anchors));
  return {render_html(data, taxonomy, charts, verdicts, assets), render_markdown(data, taxonomy, charts, verdicts)};
}

}  // namespace report

int run_report(const std::vector<std::string>& inputs, const std::string& out_dir) {
  using namespace report;
  // Everything that can refuse the job is checked before the first byte is
  // written: every input, then the chart library.
  std::vector<Run> runs;
  for (const auto& path : inputs) {
    try {
      runs.push_back(Run{path, "", 0, load_results(path)});
    } catch (const std::exception& e) {
      fmt::print(stderr, "cmbench report: {}\n", e.what());
      return 2;
    }
  }
  Assets assets;
  try {
    assets = load_assets(CMBENCH_SOURCE_DIR);
  } catch (const std::exception& e) {
    fmt::print(stderr, "cmbench report: {}\n", e.what());
    return 2;
  }

  std::string html, md;
  try {
    auto rendered = render_report(std::move(runs), CMBENCH_SOURCE_DIR, assets);
    html = std::move(rendered.html);
    md = std::move(rendered.md);
  } catch (const TemplateError& e) {
    fmt::print(stderr, "cmbench report: internal error (a defect of cmbench, please report it): {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    // load_results checked the schema's outline; a cell whose fields have
    // the wrong types is still bad input, reported as such.
    fmt::print(stderr, "cmbench report: a results file has a malformed cell: {}\n", e.what());
    return 2;
  }

  namespace fs = std::filesystem;
  try {
    fs::create_directories(out_dir);
    write_text_atomic(fs::path(out_dir) / "report.html", html);
    write_text_atomic(fs::path(out_dir) / "report.md", md);
  } catch (const std::exception& e) {
    fmt::print(stderr, "cmbench report: --out: cannot write {}: {}\n", out_dir, e.what());
    return 2;
  }
  fmt::print("wrote {0}/report.html ({1} KiB) and {0}/report.md ({2} KiB)\n", out_dir, html.size() / 1024,
             md.size() / 1024);
  return 0;
}

}  // namespace cmbench
