#include "harness/driver/progress.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "harness/cli/table.hpp"
#include "harness/results/metrics.hpp"

namespace cmbench {

EtaEstimator::EtaEstimator(std::vector<CellSize> cells, double max_cell_s)
    : cells_(std::move(cells)), closed_(cells_.size(), false), max_cell_s_(max_cell_s) {}

void EtaEstimator::finished(size_t i, double seconds, bool ok) {
  closed_.at(i) = true;
  if (!ok) return;
  const CellSize& c = cells_[i];
  for (Cost* cost : {&by_pair_[{c.workload, c.model}], &by_workload_[c.workload], &by_model_[c.model], &all_}) {
    cost->seconds += seconds;
    cost->work += c.work;
  }
}

void EtaEstimator::skipped(size_t i) { closed_.at(i) = true; }

std::optional<double> EtaEstimator::cell_s(size_t i) const {
  const CellSize& c = cells_.at(i);
  auto rate = [](const auto& map, const auto& key) -> std::optional<double> {
    auto it = map.find(key);
    if (it == map.end() || it->second.work <= 0) return std::nullopt;
    return it->second.seconds / it->second.work;
  };
  std::optional<double> per_work = rate(by_pair_, std::pair{c.workload, c.model});
  if (!per_work) per_work = rate(by_workload_, c.workload);
  if (!per_work) per_work = rate(by_model_, c.model);
  if (!per_work && all_.work > 0) per_work = all_.seconds / all_.work;
  if (!per_work) return std::nullopt;
  return std::min(*per_work * c.work, max_cell_s_);
}

std::optional<double> EtaEstimator::remaining_s(size_t current, double current_elapsed_s) const {
  double left = 0;
  for (size_t i = 0; i < cells_.size(); ++i) {
    if (closed_[i]) continue;
    const auto s = cell_s(i);
    if (!s) return std::nullopt;
    // The running cell has done part of its work already; one that runs
    // over its estimate has, as far as is known, almost nothing left.
    left += i == current ? std::max(0.0, *s - current_elapsed_s) : *s;
  }
  return left;
}

std::string human_duration(double seconds) {
  const long s = std::lround(std::max(0.0, seconds));
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
}

std::string finished_line(const nlohmann::json& cell, size_t index, size_t count) {
  const size_t digits = std::to_string(count).size();
  const std::string outcome = cell.value("outcome", "failed");
  const std::string name = cell.value("name", "?");
  const std::string position = fmt::format("[{:>{}}/{}]", index + 1, digits, count);
  if (outcome != "ok")
    return fmt::format("{} {:<8} {:>9} {:>6}  {}: {}", position, outcome, "-", "-", name, cell.value("message", ""));
  const auto& a = cell.value("aggregates", nlohmann::json::object());
  const bool timed = a.contains(metrics::ns_per_op.name);
  return fmt::format("{} {:<8} {:>9} {:>6}  {}", position, outcome,
                     timed ? human_ns(a[metrics::ns_per_op.name].value("median", 0.0)) : "-",
                     timed ? fmt::format("{:.1f}%", a[metrics::ns_per_op.name].value("cv", 0.0) * 100) : "-", name);
}

std::string live_line(size_t index, size_t count, double elapsed_s, std::optional<double> left_s,
                      const std::string& name, const std::string& phase, size_t columns) {
  std::string line = fmt::format("[{}/{} {}{}] {} ({})", index + 1, count, human_duration(elapsed_s),
                                 left_s ? fmt::format(", ~{} left", human_duration(*left_s)) : std::string(), name, phase);
  // Cut by bytes; names are ASCII (parameter names and values, model names).
  if (columns > 0 && line.size() > columns) line.resize(columns);
  return line;
}

}  // namespace cmbench
