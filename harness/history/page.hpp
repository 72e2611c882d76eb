#pragma once
// history.html: one self-contained page (the chart library inlined, the data
// as JSON) with the change points on top, newest first, and per cell the
// trend of a chosen metric over commits, every machine's series side by
// side, each run's spread as a bar and the change points marked.
//
// The page's template and its escaping live here alone, small, so that they
// can move to the report's template files and its one escaping function when
// those exist. Every value from the database reaches the page only inside the
// JSON block and is put into the document by the page's script as text
// (textContent, Vega's own text marks), never as markup.
#include <string>
#include <vector>

#include "harness/history/analysis.hpp"
#include "report/render.hpp"

namespace cmbench::history {

std::string history_page(const History& h, const std::vector<Change>& changes, const DetectorOptions& options,
                         const report::Assets& assets);

}  // namespace cmbench::history
