#pragma once
// The Vega-Lite specifications of a workload's charts, built as JSON with
// their data inlined. Vega-Lite draws them in the page; nothing here draws.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "report/data.hpp"

namespace cmbench::report {

struct Chart {
  std::string anchor;   // the figure's id: what the taxonomy's cells link to
  std::string title;
  std::string caption;  // what is plotted and how to read it
  nlohmann::json spec;  // a Vega-Lite specification
};

// "wl-prodcons-time": the id of one of a workload's charts or sections.
std::string anchor(const std::string& workload, const std::string& what);

// Every chart the workload's data supports, in page order: time per
// operation, scaling curves, latency spectrum, CPU, context switches, memory.
std::vector<Chart> workload_charts(const ReportData& data, const WorkloadView& w);

}  // namespace cmbench::report
