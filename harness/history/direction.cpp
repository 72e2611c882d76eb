#include "harness/history/direction.hpp"

#include "harness/results/metrics.hpp"

namespace cmbench::history {

std::optional<Direction> metric_direction(const std::string& metric) {
  const metrics::Metric* m = metrics::find(metric);
  if (!m || !m->judged) return std::nullopt;
  switch (m->direction) {
    case metrics::lower_is_better: return Direction::lower_is_better;
    case metrics::higher_is_better: return Direction::higher_is_better;
    case metrics::none: break;
  }
  return std::nullopt;
}

std::set<std::string> metrics_with_direction() {
  std::set<std::string> out;
  for (const auto& m : metrics::all())
    if (metric_direction(m.name)) out.insert(m.name);
  return out;
}

}  // namespace cmbench::history
