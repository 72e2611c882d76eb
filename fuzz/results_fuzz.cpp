// libFuzzer target: a results file's text, as every command that reads one
// (compare, merge, export, report, run --resume) reads it. parse_results —
// the depth limit and the schema validator (harness/results/schema.hpp) —
// must accept it or refuse it with std::invalid_argument and a one-line
// message; what it accepts, the readers must take without any other
// exception: the comparison, the Google Benchmark export, and the report
// (which may still refuse a cell with an exception: its "malformed cell",
// exit status 2) — never crash, hang or read out of bounds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "harness/results/gbench.hpp"
#include "harness/results/results.hpp"
#include "harness/stats/compare.hpp"
#include "report/render.hpp"
#include "report/templates.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cmbench;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  nlohmann::json doc;
  try {
    doc = parse_results(text, "fuzz.json");
  } catch (const std::invalid_argument& e) {
    // The command line prints this message as one line.
    const std::string_view what = e.what();
    if (what.empty() || what.find('\n') != std::string_view::npos) std::abort();
    return 0;
  }
  // What the schema accepted, compare and export take as it is: any
  // exception from them is a hole in the validator.
  {
    CompareOptions opt;
    Comparison c = compare_results(doc, doc, opt, "base.json", "head.json");
    (void)comparison_json(c);
    (void)to_gbench(doc);
  }
  try {
    std::vector<report::Run> runs;
    runs.push_back(report::Run{"fuzz.json", "", 0, std::move(doc)});
    // No source folder: the report's line counts read nothing.
    (void)report::render_report(std::move(runs), "/nonexistent", report::Assets{});
  } catch (const report::TemplateError&) {
    // A template that refuses a value is cmbench's defect, not bad input.
    std::abort();
  } catch (const std::exception&) {
    // Refused as bad input, as `cmbench report` does.
  }
  return 0;
}
