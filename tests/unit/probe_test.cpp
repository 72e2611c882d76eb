// Probe::metric: a workload's own metrics land in the metrics object beside
// the harness's, and cannot replace a figure the harness measures.
#include <gtest/gtest.h>

#include <stdexcept>

#include "harness/cell/probe.hpp"

namespace cmbench {
namespace {

TEST(ProbeMetric, IsWrittenBesideTheHarnessMetrics) {
  Probe probe;
  probe.start();
  probe.set_operations(10);
  probe.stop();
  probe.metric("jain_index", 0.5);
  probe.metric("jain_index", 0.75);  // a later value replaces the earlier one
  probe.metric("os_threads_peak", 5);
  const nlohmann::json m = probe.metrics();
  EXPECT_DOUBLE_EQ(m.at("jain_index").get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(m.at("os_threads_peak").get<double>(), 5);
  EXPECT_EQ(m.at("operations").get<uint64_t>(), 10u);
}

TEST(ProbeMetric, RefusesANameTheHarnessWrites) {
  Probe probe;
  for (const char* name : {"ns_per_op", "wall_s", "latency_ns", "memory_per_unit_bytes",
                           "memory_peak_bytes", ""})
    EXPECT_THROW(probe.metric(name, 1), std::invalid_argument) << name;
}

}  // namespace
}  // namespace cmbench
