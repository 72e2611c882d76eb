#pragma once
// Figures derived from several cells at once, which the charts, the tables
// and the verdicts share: the models' traits as the results file states
// them, memory against idle connections fitted by least squares, and
// speedup and efficiency over a sweep of worker threads.
#include <optional>
#include <string>
#include <vector>

#include "report/data.hpp"

namespace cmbench::report {

// What the report says of a metric: its row of the metric table
// (harness/results/metrics.hpp), for the rows that have a report label.
struct MetricLabel {
  const char* name;   // as in a cell's aggregates
  const char* label;  // "bystanders' round trip, p99"
  const char* unit;   // the table's: "ns", "bytes", "1/s", "count", ...
  bool lower_is_better;
};
MetricLabel metric_label(const std::string& name);

// What a results file's `models` section says of a model (CONTRACTS.md's
// traits); a trait the file does not state is empty.
struct Traits {
  std::optional<bool> kernel_scheduled;
  std::optional<double> unit_ceiling;
  std::optional<std::string> workers_param;
};
Traits traits_of(const Run& run, const std::string& model);

// The machine's cores for this run: context.cores, else the CPUs the run
// could use (cores_available), else those online.
std::optional<int> cores_of(const Run& run);

// The median over a cell's ok repetitions of a metric that the aggregates
// may not carry (memory_parked_bytes); the aggregate when they do.
std::optional<double> rep_median(const CellView& c, const std::string& metric);

// A number parameter of a cell ("connections:10000" -> 10000).
std::optional<double> number_param(const CellView& c, const std::string& key);

// Memory held against idle connections, per model, from a run's `idle`
// cells: a least-squares line through (connections, memory with all of them
// parked), so the slope is the memory one more idle connection costs.
struct IdlePoint {
  double connections = 0, memory = 0;
};
struct IdleFit {
  std::string model;
  std::vector<IdlePoint> points;
  std::optional<double> slope, intercept, r2;  // with two connection counts or more
  std::optional<double> limit_at;              // the fewest connections that met a limit
  std::string limit_message;
};
std::vector<IdleFit> idle_fits(const WorkloadView& idle, const Run& run);

// A sweep of the number of worker threads for one model and configuration:
// the model's workers_param (fiber threads, go gomaxprocs), or for a
// kernel-scheduled model the workload's unit count. Throughput is
// operations per second; speedup and efficiency are against one worker. A
// sweep has one worker and at least two other counts.
struct ScalingPoint {
  double workers = 0, ops_per_s = 0, speedup = 0, efficiency = 0;
  bool oversubscribed = false;  // more workers than the machine's cores
};
struct ScalingSweep {
  std::string model, param, config;  // config: the rest of the workload's parameters
  std::vector<ScalingPoint> points;  // by workers, starting at 1
};
std::vector<ScalingSweep> core_scaling(const WorkloadView& w, const Run& run);

// The parameter that counts a kernel-scheduled model's units in workload
// `w`: the results file's workloads.<w>.units_param when it says, else the
// first of units, producers, workers that the cells carry.
std::optional<std::string> units_param(const WorkloadView& w, const Run& run);

}  // namespace cmbench::report
