#include "harness/results/bmf.hpp"

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "harness/results/results.hpp"
#include "harness/stats/stats.hpp"

namespace cmbench {

nlohmann::json to_bmf(const nlohmann::json& doc) {
  using nlohmann::json;
  json out = json::object();
  const auto cells = doc.find("cells");
  if (cells == doc.end() || !cells->is_array()) return out;
  for (const auto& cell : *cells) {
    if (!cell.is_object()) continue;
    const auto name = cell.find("name");
    const auto outcome = cell.find("outcome");
    if (name == cell.end() || !name->is_string() || name->get<std::string>().empty()) continue;
    if (outcome == cell.end() || *outcome != "ok") continue;
    const auto reps = cell.find("repetitions");
    if (reps == cell.end() || !reps->is_array()) continue;
    // Every metric of every ok repetition: the aggregated ones by their
    // flattened names (latency_ns.p99 -> latency_p99_ns), and any other
    // number the workload recorded under its own name.
    std::map<std::string, std::vector<double>> values;
    for (const auto& rep : *reps) {
      if (!rep.is_object()) continue;
      const auto o = rep.find("outcome");
      const auto m = rep.find("metrics");
      if (o == rep.end() || *o != "ok" || m == rep.end() || !m->is_object()) continue;
      std::map<std::string, double> seen;
      for (const auto& metric : aggregated_metrics())
        if (auto v = metric_value(*m, metric)) seen[metric] = *v;
      for (const auto& [key, value] : m->items())
        if (value.is_number() && !seen.count(key)) seen[key] = value.get<double>();
      for (const auto& [metric, v] : seen)
        if (std::isfinite(v)) values[metric].push_back(v);
    }
    if (values.empty()) continue;
    json measures = json::object();
    for (const auto& [metric, v] : values) {
      const Summary s = summarize(v);
      measures[metric] = {{"value", s.median}, {"lower_value", s.min}, {"upper_value", s.max}};
    }
    out[name->get<std::string>()] = std::move(measures);
  }
  return out;
}

}  // namespace cmbench
