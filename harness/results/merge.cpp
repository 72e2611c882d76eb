#include "harness/results/merge.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>
#include <set>
#include <stdexcept>

#include "harness/driver/matrix.hpp"
#include "harness/results/output.hpp"
#include "harness/results/results.hpp"

namespace cmbench {

namespace {

// What makes two files' numbers comparable: the same kind of machine and
// the same build. The host name is not among them: shards run on different
// runners of one type by design.
constexpr const char* kContextKeys[] = {"cpu_model",  "cores_available", "kernel",
                                        "build_type", "compiler",        "cxx_flags",
                                        "git_commit", "cmbench_version"};

}  // namespace

int run_merge(const std::vector<std::string>& files, const std::string& out, bool allow_mixed) {
  std::vector<nlohmann::json> docs;
  try {
    check_output_path(out, "--out");
    for (const auto& f : files) docs.push_back(load_results(f));
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "cmbench merge: {}\n", e.what());
    return 2;
  }
  const auto& first = docs.front()["context"];
  for (size_t i = 1; i < docs.size() && !allow_mixed; ++i) {
    const auto& c = docs[i]["context"];
    for (const char* key : kContextKeys)
        if (first.value(key, nlohmann::json()) != c.value(key, nlohmann::json())) {
          fmt::print(stderr,
                     "cmbench merge: {} and {} differ in {} ({} and {}); merge only files of one build "
                     "on one kind of machine, or pass --allow-mixed to keep each cell's own context\n",
                     files[0], files[i], key, first.value(key, nlohmann::json()).dump(),
                     c.value(key, nlohmann::json()).dump());
          return 2;
        }
  }

  nlohmann::json merged = docs.front();
  merged["cells"] = nlohmann::json::array();
  merged["merged_from"] = nlohmann::json::array();
  merged.erase("wall_s");
  merged.erase("resumed_by");
  std::map<std::string, std::string> owner;  // cell name -> file
  std::vector<nlohmann::json> cells;
  bool complete = true;
  std::set<std::string> shards;
  std::string shard_count;
  for (size_t i = 0; i < docs.size(); ++i) {
    const auto& d = docs[i];
    const auto sel = d.value("options", nlohmann::json::object()).value("selection", nlohmann::json::object());
    const std::string shard = sel.value("shard", "");
    merged["merged_from"].push_back({{"file", files[i]},
                                     {"host", d["context"].value("host", nlohmann::json())},
                                     {"shard", shard},
                                     {"complete", d.value("complete", false)},
                                     {"wall_s", d.value("wall_s", nlohmann::json())}});
    complete = complete && d.value("complete", false);
    if (!shard.empty()) {
      shards.insert(shard.substr(0, shard.find('/')));
      shard_count = shard.substr(shard.find('/') + 1);
    }
    for (auto cell : d["cells"]) {
      const std::string name = cell.value("name", "");
      if (auto [it, fresh] = owner.emplace(name, files[i]); !fresh) {
        fmt::print(stderr, "cmbench merge: cell {} is in both {} and {}; merge each slice once\n", name,
                   it->second, files[i]);
        return 2;
      }
      if (allow_mixed) cell["context"] = d["context"];
      cells.push_back(std::move(cell));
    }
  }
  // Shards of one matrix: say which slices are missing.
  if (!shard_count.empty()) {
    std::vector<std::string> missing;
    for (int k = 1; k <= std::atoi(shard_count.c_str()); ++k)
      if (!shards.count(std::to_string(k))) missing.push_back(fmt::format("{}/{}", k, shard_count));
    if (!missing.empty()) {
      complete = false;
      fmt::print(stderr, "cmbench merge: warning: shards {} are missing; the merged file is incomplete\n",
                 fmt::join(missing, ", "));
    }
  }
  // The matrix's own order, when this build can expand the selection the
  // slices came from; else the files' order.
  Selection sel;
  const auto s = merged["options"].value("selection", nlohmann::json::object());
  sel.preset = s.value("preset", "default");
  sel.models = s.value("models", std::vector<std::string>{});
  sel.workloads = s.value("workloads", std::vector<std::string>{});
  sel.params = s.value("params", std::vector<std::string>{});
  sel.filter = s.value("filter", "");
  std::map<std::string, size_t> order;
  try {
    size_t k = 0;
    for (const auto& c : expand(sel)) order.emplace(c.name, k++);
  } catch (const std::invalid_argument&) {
  }
  std::stable_sort(cells.begin(), cells.end(), [&](const nlohmann::json& a, const nlohmann::json& b) {
    auto rank = [&](const nlohmann::json& c) {
      auto it = order.find(c.value("name", ""));
      return it == order.end() ? order.size() : it->second;
    };
    return rank(a) < rank(b);
  });
  merged["cells"] = std::move(cells);
  if (merged["options"].contains("selection")) merged["options"]["selection"].erase("shard");
  merged["complete"] = complete;
  if (allow_mixed) merged["context"]["mixed"] = true;
  try {
    OutputLock lock(out, "--out");
    write_json_atomic(out, merged);
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "cmbench merge: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "cmbench merge: --out: cannot write {}: {}\n", out, e.what());
    return 3;
  }
  fmt::print("{} cells from {} files written to {}{}\n", merged["cells"].size(), files.size(), out,
             complete ? "" : " (incomplete)");
  return 0;
}

}  // namespace cmbench
