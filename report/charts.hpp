#pragma once
// The Vega-Lite specifications of a workload's charts, built as JSON with
// their data inlined. Vega-Lite draws them in the page; nothing here draws.
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "report/data.hpp"

namespace cmbench::report {

struct Chart {
  std::string anchor;   // the figure's id: what the taxonomy's cells link to
  std::string title;
  std::string caption;  // what is plotted and how to read it
  nlohmann::json spec;  // a Vega-Lite specification
};

// "wl-prodcons-time", "wl-prodcons-scaling-capacity": the id of one of a
// workload's charts or sections. `what` is one of the report's own words
// (letters and "-"); the workload's name and `detail` (a parameter's name)
// come from the results file and pass through escape::fragment_id, so the id
// is safe in an attribute and in a URL whatever they hold.
std::string anchor(const std::string& workload, std::string_view what, const std::string& detail = "");

// Every chart the workload's data supports, in page order: time per
// operation, scaling curves, latency spectrum, CPU, context switches, memory.
std::vector<Chart> workload_charts(const ReportData& data, const WorkloadView& w);

}  // namespace cmbench::report
