#include "report/report.hpp"

#include <fmt/format.h>

namespace cmbench {

int run_report(const std::vector<std::string>&, const std::string&) {
  fmt::print(stderr, "cmbench report: not built yet\n");
  return 2;
}

}  // namespace cmbench
