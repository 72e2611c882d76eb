// report.html: the page template filled from the view, with the data and
// the Vega-Lite specifications inside the page as JSON and the charting
// library inlined, so the file opens from disk with no network.
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "report/escape.hpp"
#include "report/render.hpp"
#include "report/templates.hpp"
#include "report/view.hpp"

namespace cmbench::report {

using nlohmann::json;

namespace {

// A minified build ends with a source-map comment naming a neighbouring
// .map file; inlined, that name would point nowhere, and developer tools
// would try to fetch it. The page ships without it.
std::string without_source_map(std::string js) {
  auto at = js.rfind("//# sourceMappingURL=");
  if (at != std::string::npos) js.erase(at);
  return js;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error(fmt::format(
        "{} is missing: run scripts/setup (it installs the chart library with npm ci in report/)", path.string()));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Assets load_assets(const std::string& source_dir) {
  namespace fs = std::filesystem;
  fs::path modules = fs::path(source_dir) / "report" / "node_modules";
  Assets a;
  a.vega = read_file(modules / "vega" / "build" / "vega.min.js");
  a.vega_lite = read_file(modules / "vega-lite" / "build" / "vega-lite.min.js");
  a.vega_embed = read_file(modules / "vega-embed" / "build" / "vega-embed.min.js");
  return a;
}

std::string render_html(const ReportData& d, const Taxonomy& t, const std::vector<WorkloadCharts>& charts,
                        const std::vector<RunVerdicts>& verdicts, const Assets& a) {
  json view = page_view(d, t, charts, verdicts);
  json libraries = json::array();
  for (const auto* lib : {&a.vega, &a.vega_lite, &a.vega_embed})
    libraries.push_back({{"script_source", escape::script_source(without_source_map(*lib))}});
  view["libraries"] = std::move(libraries);
  json specs = json::object();
  for (const auto& wc : charts)
    for (const auto& c : wc.charts)
      for (size_t i = 0; i < c.panels.size(); ++i) specs[panel_id(c, i)] = c.panels[i].spec;
  view["specs_json"] = escape::json_for_script(specs);
  return render_template("report.html", view);
}

}  // namespace cmbench::report
