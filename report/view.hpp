#pragma once
// What the templates show, as one JSON object of plain text: every number
// already formatted, every value as the results file has it (the renderer
// escapes it for its format), every id made by escape::fragment_id. Both
// report.html and report.md are rendered from it, so they cannot disagree.
#include <nlohmann/json.hpp>

#include <vector>

#include "report/render.hpp"
#include "report/verdicts.hpp"

namespace cmbench::report {

nlohmann::json page_view(const ReportData& data, const Taxonomy& taxonomy, const std::vector<WorkloadCharts>& charts,
                         const std::vector<RunVerdicts>& verdicts);

}  // namespace cmbench::report
