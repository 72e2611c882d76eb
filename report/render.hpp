#pragma once
// The two output formats: one self-contained HTML page and a Markdown file.
#include <string>
#include <vector>

#include "report/charts.hpp"
#include "report/data.hpp"
#include "report/tables.hpp"
#include "report/verdicts.hpp"

namespace cmbench::report {

// The minified builds of vega, vega-lite and vega-embed, inlined into the
// page so it opens from disk with no network.
struct Assets {
  std::string vega, vega_lite, vega_embed;
};

// Reads the builds from <source_dir>/report/node_modules (installed by
// scripts/setup with npm ci); throws std::runtime_error with a one-line
// message naming the first missing file.
Assets load_assets(const std::string& source_dir);

struct WorkloadCharts {
  const WorkloadView* workload;
  std::vector<Chart> charts;
};

std::string render_html(const ReportData& data, const Taxonomy& taxonomy, const std::vector<WorkloadCharts>& charts,
                        const std::vector<RunVerdicts>& verdicts, const Assets& assets);

std::string render_markdown(const ReportData& data, const Taxonomy& taxonomy, const std::vector<WorkloadCharts>& charts,
                            const std::vector<RunVerdicts>& verdicts);

// The whole pipeline from loaded runs to both pages: the data, the charts,
// the taxonomy, the verdicts, then report.html and report.md. Throws
// TemplateError for a defect of cmbench's templates and another
// std::exception for a cell whose fields are malformed.
struct Rendered {
  std::string html, md;
};
Rendered render_report(std::vector<Run> runs, const std::string& source_dir, const Assets& assets);

}  // namespace cmbench::report
