#pragma once
// Which way is worse for each metric the history judges: the metric
// table's direction (harness/results/metrics.hpp) of the rows it marks
// `judged`. A metric not judged is stored and exported but not judged: the
// totals (wall_s, cpu_user_s, ctx_voluntary, operations, ...) grow with the
// operation count, which calibration may change, so a step in them is not a
// regression.
#include <optional>
#include <set>
#include <string>

namespace cmbench::history {

enum class Direction { lower_is_better, higher_is_better };

std::optional<Direction> metric_direction(const std::string& metric);

// Every metric the table knows a direction for.
std::set<std::string> metrics_with_direction();

}  // namespace cmbench::history
