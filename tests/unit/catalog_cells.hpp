#pragma once
// Every workload of the registry run in-process on one model at its smoke
// sizes (tests/smoke_cells.hpp), started, stopped and verified: the shared
// body of a model's unit tests (boost_fiber_test, coro_test). A test file
// instantiates the suite once for its model, one test per workload:
//   INSTANTIATE_TEST_SUITE_P(CoroWorkloads, CatalogCells,
//                            ::testing::ValuesIn(catalog_cells::entries_of("coro")),
//                            catalog_cells::test_name);
// It links cmbench_harness (the registry and the matrix's expansion).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "tests/smoke_cells.hpp"

namespace cmbench {
namespace catalog_cells {

// The implementations of `model`, in the registry's order.
inline std::vector<const Entry*> entries_of(const std::string& model) {
  std::vector<const Entry*> out;
  for (const auto& e : all_entries())
    if (e.model->name == model) out.push_back(&e);
  return out;
}

inline std::string test_name(const ::testing::TestParamInfo<const Entry*>& info) {
  return info.param->workload->name;
}

inline void run_cell(const Cell& cell) {
  SCOPED_TRACE(cell.name);
  const Impl& impl = *cell.entry->impl;
  if (impl.unsupported) {
    ASSERT_FALSE(impl.unsupported(cell.params));
  }
  Probe probe;
  impl.run(cell.params, probe);
  EXPECT_TRUE(probe.started());
  EXPECT_TRUE(probe.stopped());
  ASSERT_TRUE(probe.verified());
  EXPECT_TRUE(probe.verdict().ok) << probe.verdict().message;
}

// Every smoke cell of `workload` in `model`, one after the other.
inline void run_workload(const std::string& model, const std::string& workload) {
  size_t ran = 0;
  for (const auto& cell : testing::smoke_cells({model}))
    if (cell.entry->workload->name == workload) {
      run_cell(cell);
      ++ran;
    }
  EXPECT_GT(ran, 0u) << workload << " has no smoke cell in " << model;
}

}  // namespace catalog_cells

class CatalogCells : public ::testing::TestWithParam<const Entry*> {};

TEST_P(CatalogCells, AreOkAndVerified) {
  catalog_cells::run_workload(GetParam()->model->name, GetParam()->workload->name);
}

}  // namespace cmbench
