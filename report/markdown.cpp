// report.md: the taxonomy table and one table per workload, small enough to
// paste into a pull request or a CI job summary. The charts stay in
// report.html.
#include "report/render.hpp"
#include "report/templates.hpp"
#include "report/view.hpp"

namespace cmbench::report {

std::string render_markdown(const ReportData& d, const Taxonomy& t, const std::vector<WorkloadCharts>& charts,
                            const std::vector<RunVerdicts>& verdicts) {
  return render_template("report.md", page_view(d, t, charts, verdicts));
}

}  // namespace cmbench::report
