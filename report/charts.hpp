#pragma once
// The Vega-Lite specifications of a workload's charts, built as JSON with
// their data inlined. Vega-Lite draws them in the page; nothing here draws.
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "report/data.hpp"

namespace cmbench::report {

// One chart of a figure: a single Vega-Lite view as wide as its element
// (width "container"), so it fits any screen; a figure with several panels
// lays them out in a grid that wraps.
struct Panel {
  std::string title;    // empty when the figure has one panel
  nlohmann::json spec;  // a Vega-Lite specification of one view
};

struct Chart {
  std::string anchor;   // the figure's id: what the taxonomy's cells link to
  std::string title;
  std::string caption;  // what is plotted and how to read it
  std::vector<Panel> panels;
};

// The colour of every series and the point shape of every model, fixed for
// the whole page: no two series share a colour, and a model keeps its shape
// in every chart (its variants, "fiber threads:0", differ in colour only).
struct Palette {
  std::vector<std::string> series, colours;  // colours[i] is series[i]'s
  std::vector<std::string> models, shapes;   // shapes[i] is models[i]'s
};
Palette palette(const ReportData& data);

// "wl-prodcons-time", "wl-prodcons-scaling-capacity": the id of one of a
// workload's charts or sections. `what` is one of the report's own words
// (letters and "-"); the workload's name and `detail` (a parameter's name)
// come from the results file and pass through escape::fragment_id, so the id
// is safe in an attribute and in a URL whatever they hold.
std::string anchor(const std::string& workload, std::string_view what, const std::string& detail = "");

// The id of a chart's panel element: "wl-prodcons-time-1".
std::string panel_id(const Chart& chart, size_t panel);

// Every chart the workload's data supports, in page order: time per
// operation, scaling curves, latency spectrum, CPU, context switches, memory.
std::vector<Chart> workload_charts(const ReportData& data, const WorkloadView& w);

}  // namespace cmbench::report
