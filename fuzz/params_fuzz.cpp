// libFuzzer target: the parameter parser, as `cmbench run` meets it.
// The input is lines: models (comma-separated), workloads, then --param
// values ("key=v1,v2"). Every value is checked against every parameter of
// every workload and model (parse_int, check_value), and the whole selection
// is expanded into a matrix (expand). Each must accept or refuse with
// std::invalid_argument and a one-line message; an accepted value's
// canonical form must be accepted again, unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "harness/driver/matrix.hpp"
#include "harness/cell/params.hpp"
#include "harness/registry/registry.hpp"

namespace {

std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == sep) {
      out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  out.push_back(std::move(cur));
  return out;
}

void one_line(const std::exception& e) {
  const std::string_view what = e.what();
  if (what.empty() || what.find('\n') != std::string_view::npos) std::abort();
}

void check_every_definition(const std::string& value) {
  using namespace cmbench;
  (void)parse_int(value);
  auto check = [&](const ParamDef& def) {
    std::string canonical;
    if (check_value(def, value, &canonical)) return;  // refused, with a message
    std::string again;
    if (check_value(def, canonical, &again) || again != canonical) std::abort();
  };
  for (const auto* w : all_workloads())
    for (const auto& d : w->params) check(d);
  for (const auto* m : all_models())
    for (const auto& d : m->params) check(d);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cmbench;
  if (size > 512) return 0;  // a command line, not a file
  const std::vector<std::string> lines = split({reinterpret_cast<const char*>(data), size}, '\n');
  Selection sel;
  sel.preset = "quick";
  if (lines.size() > 0 && !lines[0].empty()) sel.models = split(lines[0], ',');
  if (lines.size() > 1 && !lines[1].empty()) sel.workloads = split(lines[1], ',');
  // Lists multiply into a matrix: keep it to what a fuzzer can expand
  // thousands of times a second (cmbench itself has no such bound).
  size_t cells = 1;
  for (size_t i = 2; i < lines.size(); ++i) {
    sel.params.push_back(lines[i]);
    const auto eq = lines[i].find('=');
    const std::string values = eq == std::string::npos ? lines[i] : lines[i].substr(eq + 1);
    const auto list = split(values, ',');
    cells *= list.size();
    for (const auto& v : list) check_every_definition(v);
    // make_params with this one key=value for every entry's definitions.
    if (eq != std::string::npos) {
      for (const auto& e : all_entries()) {
        try {
          (void)make_params(cell_param_defs(e), {{lines[i].substr(0, eq), list.front()}});
        } catch (const std::invalid_argument& err) {
          one_line(err);
        }
      }
    }
  }
  if (cells > 4096) return 0;
  try {
    (void)expand(sel);
  } catch (const std::invalid_argument& e) {
    one_line(e);
  }
  return 0;
}
