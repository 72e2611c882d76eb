#pragma once
// Results documents made up for the history's tests: the fields a results
// file has (results/README.md), with values chosen by the test.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace cmbench::history::testing {

using nlohmann::json;

struct MachineSpec {
  std::string cpu = "Test CPU @ 2.0GHz";
  int cores = 2;
  std::string kernel = "Linux 6.1.0 x86_64";
};

inline json results_doc(const std::string& commit, const std::string& date, const MachineSpec& m = {},
                        const std::string& host = "vm") {
  return {{"schema", "cmbench-results"},
          {"schema_version", 1},
          {"complete", true},
          {"command", {"cmbench", "run"}},
          {"options", json::object()},
          {"context",
           {{"date", date},
            {"host", host},
            {"cpu_model", m.cpu},
            {"cores_online", m.cores},
            {"cores_available", m.cores},
            {"kernel", m.kernel},
            {"build_type", "Release"},
            {"cmbench_version", "0.1.0"},
            {"git_commit", commit},
            {"git_dirty", false}}},
          {"cells", json::array()}};
}

// One repetition's metrics for a time per operation of `ns`.
inline json rep_metrics(double ns) {
  return {{"operations", 1000},
          {"wall_s", ns * 1000 / 1e9},
          {"ns_per_op", ns},
          {"ops_per_s", 1e9 / ns},
          {"cpu_ns_per_op", ns * 0.9},
          {"latency_ns", {{"p50", ns * 2}, {"p99", ns * 5}, {"count", 1000}}},
          {"memory_peak_bytes", 4194304},
          {"memory_method", "VmHWM"}};
}

inline void add_cell(json& doc, const std::string& workload, const std::string& model, const std::string& params,
                     const std::vector<double>& ns_reps, const std::string& outcome = "ok") {
  json cell = {{"name", workload + "/" + model + (params.empty() ? "" : "/" + params)},
               {"workload", workload},
               {"model", model},
               {"params", json::object()},
               {"outcome", outcome},
               {"warnings", json::array()},
               {"notes", json::object()},
               {"warmup", json::array()},
               {"repetitions", json::array()},
               {"aggregates", json::object()}};
  for (double ns : ns_reps) cell["repetitions"].push_back({{"outcome", "ok"}, {"metrics", rep_metrics(ns)}});
  if (outcome != "ok") {
    cell["message"] = "it broke";
    cell["repetitions"] = json::array({{{"outcome", outcome}, {"message", "it broke"}}});
  }
  doc["cells"].push_back(std::move(cell));
}

// A fresh folder per test, removed after it.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/cmbench-history-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name, std::ios::binary) << text;
    return (path_ / name).string();
  }
  std::string write(const std::string& name, const json& doc) const { return write(name, doc.dump(1)); }

 private:
  std::filesystem::path path_;
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace cmbench::history::testing
