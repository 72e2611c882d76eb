// The console table: a golden file of a wide results file (every model, a
// limit among the cells), and no line wider than 120 columns.
#include "harness/cli/table.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace cmbench {
namespace {

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

size_t widest_line(const std::string& text) {
  size_t widest = 0, start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    widest = std::max(widest, end - start);
    start = end + 1;
  }
  return widest;
}

TEST(Table, AWideRunFits120ColumnsAndMatchesItsGoldenFile) {
  const auto doc = nlohmann::json::parse(read(CMBENCH_TEST_DIR "/report/wide.json"));
  const std::string table = format_table(doc["cells"]);
  EXPECT_LE(widest_line(table), kTableColumns) << table;
  // The full names stay in the results file; the table groups by workload.
  const std::string golden_path = CMBENCH_TEST_DIR "/unit/table/wide.txt";
  if (std::getenv("CMBENCH_UPDATE_GOLDEN")) std::ofstream(golden_path) << table;
  EXPECT_EQ(table, read(golden_path)) << "regenerate with CMBENCH_UPDATE_GOLDEN=1 after checking the new table";
}

nlohmann::json cell(const std::string& name, const std::string& model, std::map<std::string, std::string> params,
                    const std::string& outcome = "ok", std::vector<std::string> warnings = {}) {
  nlohmann::json c = {{"name", name}, {"workload", name.substr(0, name.find('/'))}, {"model", model},
                      {"params", params}, {"outcome", outcome}, {"warnings", warnings}};
  if (outcome == "ok")
    c["aggregates"] = {{"ns_per_op", {{"median", 1000.0}, {"cv", 0.12}}}, {"ops_per_s", {{"median", 1e6}}}};
  else
    c["message"] = "Resource temporarily unavailable after 32,454 units";
  return c;
}

TEST(Table, FixedParametersOnceVaryingOnesInTheRowsNotesByKind) {
  const std::string unstable = "unstable: time per operation varies by 12.0% (CV) over 5 repetitions, above 5%";
  nlohmann::json cells = nlohmann::json::array({
      cell("prodcons/thread/producers:1/capacity:0", "thread", {{"producers", "1"}, {"capacity", "0"}}, "ok",
           {unstable}),
      cell("prodcons/thread/producers:4/capacity:0", "thread", {{"producers", "4"}, {"capacity", "0"}}),
      cell("prodcons/fiber/producers:4/capacity:0/stack_size:16384", "fiber",
           {{"producers", "4"}, {"capacity", "0"}, {"stack_size", "16384"}}, "ok", {unstable}),
      cell("spawn/thread/units:100000", "thread", {{"units", "100000"}}, "limit"),
  });
  const std::string table = format_table(cells);
  // The header names capacity (and the fiber's stack) once; rows the rest.
  EXPECT_NE(table.find("\nprodcons  (capacity:0 stack_size:16384)\n"), std::string::npos) << table;
  EXPECT_NE(table.find("\nthread producers:1 "), std::string::npos) << table;
  EXPECT_NE(table.find("\nfiber producers:4 "), std::string::npos) << table;
  EXPECT_EQ(table.find("thread producers:1 capacity"), std::string::npos) << table;
  // No latency measured: no latency column.
  EXPECT_EQ(table.find("lat p50"), std::string::npos) << table;
  EXPECT_NE(table.find("2 cells unstable (CV > 5%): prodcons/thread/producers:1 (12.0%), prodcons/fiber/producers:4 "
                       "(12.0%)\n"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("\nlimit    spawn/thread: Resource temporarily unavailable after 32,454 units\n"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("WARNING: some cells are unstable"), std::string::npos) << table;
  // With the CPU's own speed over the same repetitions, the note gives both.
  const std::string with_speed =
      "unstable: time per operation varies by 12.0% (CV) over 5 repetitions (the CPU's own speed by 0.4%), above 5%";
  const std::string t2 = format_table(nlohmann::json::array(
      {cell("prodcons/thread/producers:1/capacity:0", "thread", {{"producers", "1"}, {"capacity", "0"}}, "ok",
            {with_speed})}));
  EXPECT_NE(t2.find("1 cell unstable (CV > 5%): prodcons/thread (12.0%, CPU 0.4%)"),
            std::string::npos)
      << t2;
  // With one repetition making the spread, the note says so, and the
  // threshold is still the threshold.
  const std::string one = with_speed + "; 1.9% without repetition 2 (+30% from the median)";
  const std::string t3 = format_table(nlohmann::json::array(
      {cell("prodcons/thread/producers:1/capacity:0", "thread", {{"producers", "1"}, {"capacity", "0"}}, "ok", {one})}));
  EXPECT_NE(t3.find("1 cell unstable (CV > 5%): prodcons/thread (12.0%, CPU 0.4%, 1.9% without one)"),
            std::string::npos)
      << t3;
  // A cell on several threads has the cores' round trip beside the CPU.
  const std::string cores =
      "unstable: time per operation varies by 12.0% (CV) over 5 repetitions (the CPU's own speed by 0.4%, the "
      "cores' round trip by 40.2%), above 5%; 1.9% without repetition 2 (+30% from the median)";
  const std::string t4 = format_table(nlohmann::json::array(
      {cell("prodcons/thread/producers:4/capacity:1024", "thread", {{"producers", "4"}, {"capacity", "1024"}}, "ok",
            {cores})}));
  EXPECT_NE(t4.find("1 cell unstable (CV > 5%): prodcons/thread (12.0%, CPU 0.4%, cores 40.2%, 1.9% without one)"),
            std::string::npos)
      << t4;
}

TEST(Table, FoldKeepsWordsWhole) {
  EXPECT_EQ(fold("aa bb cc dd", 5, 2), "aa bb\n  cc\n  dd");
  EXPECT_EQ(fold("averyveryverylongname x", 5, 1), "averyveryverylongname\n x");
  EXPECT_EQ(fold("", 5, 1), "");
}

}  // namespace
}  // namespace cmbench
