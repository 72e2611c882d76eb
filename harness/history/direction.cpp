#include "harness/history/direction.hpp"

#include <map>

namespace cmbench::history {

namespace {

const std::map<std::string, Direction>& table() {
  using enum Direction;
  // Per-operation costs, latencies and memory: lower is better. Rates and
  // fairness: higher is better. The names after memory_per_unit_bytes are
  // the extra metrics the new workloads record (Probe::metric).
  static const std::map<std::string, Direction> names = {
      {"ns_per_op", lower_is_better},
      {"cpu_ns_per_op", lower_is_better},
      {"ctx_per_op", lower_is_better},
      {"ops_per_s", higher_is_better},
      {"latency_p50_ns", lower_is_better},
      {"latency_p90_ns", lower_is_better},
      {"latency_p99_ns", lower_is_better},
      {"latency_p999_ns", lower_is_better},
      {"latency_max_ns", lower_is_better},
      {"memory_peak_bytes", lower_is_better},
      {"memory_per_unit_bytes", lower_is_better},
      {"blocking_calls_per_s", higher_is_better},
      {"bystander_round_trips_per_s", higher_is_better},
      {"bystander_max_latency_ns", lower_is_better},
      {"jain_index", higher_is_better},
      // Fewer OS threads for the same blocking calls is better, as the
      // report's metric table has it (report/analysis.cpp).
      {"os_threads_peak", lower_is_better},
      // Exact counts of `run --count instructions` (Valgrind).
      {"instructions", lower_is_better},
      {"instructions_per_op", lower_is_better},
      {"d1_misses", lower_is_better},
      {"d1_misses_per_op", lower_is_better},
      {"ll_misses", lower_is_better},
      {"ll_misses_per_op", lower_is_better},
  };
  return names;
}

}  // namespace

std::optional<Direction> metric_direction(const std::string& metric) {
  auto it = table().find(metric);
  if (it == table().end()) return std::nullopt;
  return it->second;
}

std::set<std::string> metrics_with_direction() {
  std::set<std::string> out;
  for (const auto& [name, direction] : table()) out.insert(name);
  return out;
}

}  // namespace cmbench::history
