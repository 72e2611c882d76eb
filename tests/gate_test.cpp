// The regression gate end to end, with the real binary: compare's exit
// statuses, A/B of a binary against itself (no false alarm) and against a
// copy slowed down in one model (exactly that model's cells flagged),
// sharded runs merged back, and the Google Benchmark export.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "harness/sandbox/pin.hpp"
#include "harness_support.hpp"
#include "harness/registry/registry.hpp"
#include "harness/results/results.hpp"

namespace cmbench {
namespace {

using testing::run_cmbench;

// Sanitized builds run the cells many times slower: the A/B tests are about
// timing and run in the Release build only.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/cmbench-gate-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

size_t lines(const std::string& s) { return std::count(s.begin(), s.end(), '\n'); }

// A small run to compare: two counter cells, a few repetitions.
void small_run(const std::string& out, int reps = 5) {
  auto r = run_cmbench(fmt::format(
      "run --preset quick --workloads counter --models thread,fiber --filter 'units:2/.*mode:atomic' "
      "--repetitions {} --out {}",
      reps, out));
  ASSERT_EQ(r.status, 0) << r.err;
}

TEST(Gate, CompareRefusesBadInputWithOneLineAndExitTwo) {
  TempDir t;
  const std::string good = t.path + "/good.json";
  small_run(good, 3);
  {
    std::ofstream(t.path + "/junk.json") << "{\"schema\": \"cmbench-res";
    std::ofstream(t.path + "/other.json") << "{\"schema\": \"something-else\", \"cells\": []}";
    std::ofstream(t.path + "/newer.json")
        << "{\"schema\": \"cmbench-results\", \"schema_version\": 99, \"cells\": []}";
    // A whole results file (the good run's context and command) without a cell.
    auto empty = load_results(good);
    empty["cells"] = nlohmann::json::array();
    std::ofstream(t.path + "/empty.json") << empty.dump();
  }
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"compare " + good + " " + t.path + "/missing.json", "cannot open"},
      {"compare " + t.path + "/junk.json " + good, "not JSON"},
      {"compare " + good + " " + t.path + "/other.json", "not a cmbench results file"},
      {"compare " + good + " " + t.path + "/newer.json", "schema_version 99 is newer"},
      {"compare " + good + " " + t.path + "/empty.json", "no cell in common"},
      {"compare " + good + " " + good + " --threshold fast", "--threshold: 'fast' is not a percentage"},
      {"compare " + good + " " + good + " --correction bonferroni", "--correction"},
      {"compare " + good + " " + good + " --metrics speed", "--metrics: unknown metric 'speed'"},
      {"ab --base /nonexistent/cmbench --head " + std::string(testing::binary()), "--base"},
  };
  for (const auto& [args, says] : bad) {
    auto r = run_cmbench(args);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.err;
    EXPECT_EQ(lines(r.err), 1u) << args << ": " << r.err;
    EXPECT_NE(r.err.find(says), std::string::npos) << args << ": " << r.err;
  }
  // A file compared with itself: identical repetitions, nothing changed.
  auto same = run_cmbench("compare " + good + " " + good + " --format json");
  EXPECT_EQ(same.status, 0) << same.err;
  auto j = nlohmann::json::parse(same.out);
  EXPECT_EQ(j["regressed"], 0);
  EXPECT_EQ(j["cells"].size(), 2u);
}

TEST(Gate, MarkdownIsAJobSummary) {
  TempDir t;
  small_run(t.path + "/a.json");
  small_run(t.path + "/b.json");
  auto r = run_cmbench("compare " + t.path + "/a.json " + t.path + "/b.json --format md");
  ASSERT_LE(r.status, 1) << r.err;
  EXPECT_NE(r.out.find("## cmbench: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| cell | metric | base | head | change | 95% CI | p (adj) | verdict |"),
            std::string::npos);
  EXPECT_NE(r.out.find("counter/fiber/"), std::string::npos);
}

// Runs `cmbench ab` of the binary against `head` and returns its comparison,
// checking that `compare` of the two files it wrote says the same.
nlohmann::json ab(const std::string& head, const std::string& flags, const std::string& dir, int want,
                  const std::string& base = testing::binary()) {
  auto r = run_cmbench(fmt::format("ab --base {} --head {} --out {} {}", base, head, dir, flags));
  EXPECT_EQ(r.status, want) << r.out << r.err;
  auto again = run_cmbench(fmt::format("compare {0}/base.json {0}/head.json", dir));
  EXPECT_EQ(again.status, want) << again.out << again.err;
  return read_json(dir + "/compare.json");
}

TEST(Gate, ABPinsTheCellsRunPins) {
  // `ab` measures what `run` records: the cells `run --pin auto` pins (go at
  // gomaxprocs:1 here) are pinned in both, and the others (fiber on every
  // thread) in neither. Unpinned, go's memory peak took one of two levels
  // per process, and the gate flagged it once.
  TempDir t;
  const std::string sel =
      "--models go,fiber --workloads pingpong --param gomaxprocs=1 --param threads=0 --param rounds=2000 "
      "--repetitions 1 --warmup 0";
  auto a = run_cmbench(fmt::format("ab --base {0} --head {0} --out {1}/ab {2}", testing::binary(), t.path, sel));
  ASSERT_EQ(a.status, 0) << a.out << a.err;
  auto r = run_cmbench(fmt::format("run --out {}/run.json {}", t.path, sel));
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  std::map<std::string, bool> by_run;
  const auto run_doc = read_json(t.path + "/run.json");
  for (const auto& c : run_doc["cells"]) by_run[c["name"].get<std::string>()] = c.value("pinned", false);
  const bool pins = can_pin();
  for (const char* side : {"base", "head"}) {
    const auto doc = read_json(fmt::format("{}/ab/{}.json", t.path, side));
    ASSERT_EQ(doc["cells"].size(), 2u);
    for (const auto& c : doc["cells"]) {
      const std::string name = c["name"];
      ASSERT_TRUE(by_run.count(name)) << name;
      EXPECT_EQ(c.value("pinned", false), by_run[name]) << side << " " << name;
      EXPECT_EQ(c.value("pinned", false), pins && name.find("/go/") != std::string::npos) << side << " " << name;
    }
  }
}

TEST(Gate, ABOfABinaryAgainstItselfFlagsNothing) {
  if (kSanitized) GTEST_SKIP() << "timing test: Release build only";
  TempDir t;
  auto c = ab(testing::binary(), "--preset ci", t.path + "/ab", 0);
  EXPECT_EQ(c["regressed"], 0) << c.dump(1);
  // Every model and every workload is in the ci preset.
  std::set<std::string> models, workloads;
  for (const auto& cell : c["cells"]) {
    std::string name = cell["name"];
    workloads.insert(name.substr(0, name.find('/')));
    models.insert(name.substr(name.find('/') + 1, name.find('/', name.find('/') + 1) - name.find('/') - 1));
    EXPECT_EQ(cell["base_outcome"], "ok") << name;
  }
  std::set<std::string> registered_models, registered_workloads;
  for (const auto* m : all_models()) registered_models.insert(m->name);
  for (const auto* w : all_workloads()) registered_workloads.insert(w->name);
  EXPECT_EQ(models, registered_models);
  EXPECT_EQ(workloads, registered_workloads);
}

TEST(Gate, AnInjectedSlowdownInOneModelIsFlaggedInExactlyItsCells) {
  if (kSanitized) GTEST_SKIP() << "timing test: Release build only";
  TempDir t;
  // The head binary is the same binary with every fiber cell's timed
  // region 10 us longer per operation (CMBENCH_FAULT=slow:<ns>@<model>).
  // Both sides start through the same kind of script, so that the fault is
  // all that differs: with the head alone behind `sh -c exec`, the pinned
  // process cells ran 3-6% slower on its side (prodcons/process 1x1
  // capacity 0: 1.033 [1.018, 1.048] with no fault at all, 1.062 once,
  // which the gate flagged; 1.002 with the binary on both sides).
  auto script = [&](const std::string& name, const std::string& env) {
    const std::string path = t.path + "/" + name;
    std::ofstream(path) << "#!/bin/sh\n" << env << "exec " << testing::binary() << " \"$@\"\n";
    chmod(path.c_str(), 0755);
    return path;
  };
  const std::string plain = script("cmbench", ""), slow = script("slow-cmbench", "CMBENCH_FAULT=slow:10000@/fiber ");
  // One pass per repetition (--min-time 0): the passes the base calibrates
  // would make every head repetition of pingpong ten times longer, and which
  // cells are flagged does not depend on them.
  auto c = ab(slow, "--preset ci --workloads prodcons,pingpong,ring,echo --min-time 0", t.path + "/ab", 1, plain);
  size_t fiber = 0;
  for (const auto& cell : c["cells"]) {
    const std::string name = cell["name"];
    const bool is_fiber = name.find("/fiber/") != std::string::npos;
    fiber += is_fiber;
    EXPECT_EQ(cell["change"], is_fiber ? "regressed" : "unchanged") << name << "\n" << cell.dump(1);
  }
  EXPECT_EQ(fiber, 5u);  // prodcons x2, pingpong, ring, echo
}

TEST(Gate, ShardsMergeBackIntoTheWholeMatrix) {
  TempDir t;
  const std::string sel = "--preset quick --workloads counter,pingpong --repetitions 1 --warmup 0";
  std::vector<std::string> files;
  std::set<std::string> seen;
  size_t total = 0;
  for (int i = 1; i <= 3; ++i) {
    files.push_back(fmt::format("{}/s{}.json", t.path, i));
    auto r = run_cmbench(fmt::format("run {} --shard {}/3 --out {}", sel, i, files.back()));
    ASSERT_EQ(r.status, 0) << r.err;
    const auto shard = read_json(files.back());
    for (const auto& c : shard["cells"]) {
      EXPECT_TRUE(seen.insert(c["name"]).second) << "in two shards: " << c["name"];
      ++total;
    }
  }
  // The whole matrix, unsharded: the same cells in the same order.
  auto whole = run_cmbench(fmt::format("run {} --out {}/w.json", sel, t.path));
  ASSERT_EQ(whole.status, 0) << whole.err;
  auto r = run_cmbench(fmt::format("merge {0} {1} {2} --out {3}/all.json", files[0], files[1], files[2], t.path));
  ASSERT_EQ(r.status, 0) << r.err;
  auto all = read_json(t.path + "/all.json");
  EXPECT_TRUE(all["complete"].get<bool>());
  EXPECT_EQ(all["merged_from"].size(), 3u);
  const auto w = read_json(t.path + "/w.json");
  ASSERT_EQ(all["cells"].size(), w["cells"].size());
  EXPECT_EQ(total, w["cells"].size());
  for (size_t i = 0; i < total; ++i) EXPECT_EQ(all["cells"][i]["name"], w["cells"][i]["name"]) << i;
  // The merged file is a results file like any other.
  EXPECT_EQ(run_cmbench(fmt::format("compare {0}/all.json {0}/all.json", t.path)).status, 0);

  // A missing slice makes an incomplete file; a slice twice is refused.
  r = run_cmbench(fmt::format("merge {} {} --out {}/part.json", files[0], files[1], t.path));
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.err.find("shards 3/3 are missing"), std::string::npos) << r.err;
  EXPECT_FALSE(read_json(t.path + "/part.json")["complete"].get<bool>());
  r = run_cmbench(fmt::format("merge {0} {0} --out {1}/dup.json", files[0], t.path));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("is in both"), std::string::npos) << r.err;

  // Another build's file is refused unless --allow-mixed, which keeps each
  // cell's own context.
  auto other = read_json(files[2]);
  other["context"]["cxx_flags"] = "-O0";
  write_json_atomic(files[2], other);
  r = run_cmbench(fmt::format("merge {} {} {} --out {}/mixed.json", files[0], files[1], files[2], t.path));
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("differ in cxx_flags"), std::string::npos) << r.err;
  EXPECT_NE(access((t.path + "/mixed.json").c_str(), F_OK), 0);
  r = run_cmbench(fmt::format("merge {} {} {} --allow-mixed --out {}/mixed.json", files[0], files[1],
                              files[2], t.path));
  ASSERT_EQ(r.status, 0) << r.err;
  const auto mixed = read_json(t.path + "/mixed.json");
  for (const auto& c : mixed["cells"]) EXPECT_TRUE(c.contains("context"));

  for (const char* bad : {"0/3", "4/3", "1/0", "a/b", "1-3", "2"}) {
    auto b = run_cmbench(fmt::format("run {} --shard {} --out {}/bad.json", sel, bad, t.path));
    EXPECT_EQ(b.status, 2) << bad;
    EXPECT_NE(b.err.find("--shard"), std::string::npos) << b.err;
  }
}

TEST(Gate, RunWritesGoogleBenchmarkJsonBesideItsResults) {
  TempDir t;
  auto r = run_cmbench("run --preset quick --workloads pingpong --repetitions 2 --format gbench --out " +
                       t.path + "/r.json");
  ASSERT_EQ(r.status, 0) << r.err;
  auto g = read_json(t.path + "/r.gbench.json");
  ASSERT_TRUE(g.contains("context"));
  ASSERT_TRUE(g["benchmarks"].is_array());
  size_t iterations = 0;
  for (const auto& b : g["benchmarks"]) iterations += b["run_type"] == "iteration";
  // One entry per repetition of every cell: each model's one-thread cell,
  // and the all-core rows of the M:N models.
  const auto cells = read_json(t.path + "/r.json")["cells"];
  std::set<std::string> models;
  for (const auto& c : cells) models.insert(c["model"].get<std::string>());
  EXPECT_EQ(models.size(), all_models().size());
  EXPECT_EQ(iterations, 2 * cells.size());
  // export writes the same from a results file.
  auto e = run_cmbench("export " + t.path + "/r.json --format gbench");
  ASSERT_EQ(e.status, 0) << e.err;
  EXPECT_EQ(nlohmann::json::parse(e.out)["benchmarks"], g["benchmarks"]);
}

}  // namespace
}  // namespace cmbench
