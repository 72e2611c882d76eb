// The history store: what a run is, what is kept of it, migrations, and
// every kind of file that is not a cmbench history refused with one line
// and nothing written.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <random>

#include "harness/history/analysis.hpp"
#include "harness/history/input.hpp"
#include "harness/history/store.hpp"
#include "harness/results/input.hpp"
#include "history_support.hpp"

namespace {

using namespace cmbench::history;
using namespace cmbench::history::testing;

int64_t run_cells(Store& s) { return s.count("run_cell"); }

// Opening `path` as a history must fail with InputError whose one line
// contains `expected`, quickly, and leave the file as it was.
void expect_refused(const std::string& path, const std::string& expected, Store::Mode mode = Store::Mode::write) {
  struct stat before {};
  const bool existed = ::lstat(path.c_str(), &before) == 0;
  const std::string bytes = existed && S_ISREG(before.st_mode) ? slurp(path) : "";
  const auto start = std::chrono::steady_clock::now();
  try {
    Store s(path, mode);
    ADD_FAILURE() << path << " was accepted";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(expected), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << "more than one line: " << what;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  if (existed && S_ISREG(before.st_mode)) {
    EXPECT_EQ(slurp(path), bytes) << "the refused file was changed";
  }
  // No journal, WAL or temporary database was left beside it.
  for (const char* suffix : {"-wal", "-shm", "-journal"}) EXPECT_FALSE(std::filesystem::exists(path + suffix)) << suffix;
}

TEST(HistoryStore, KeepsEveryRepetitionAndEachRunsSummary) {
  TempDir dir;
  auto doc = results_doc("aaaa", "2026-01-01T00:00:00Z");
  add_cell(doc, "pingpong", "fiber", "rounds:10", {100, 110, 90});
  add_cell(doc, "pingpong", "thread", "rounds:10", {1000, 1200, 1100, 900});
  add_cell(doc, "spawn", "thread", "units:100000", {}, "limit");
  Store s(dir / "h.sqlite", Store::Mode::write);
  const auto r = s.add({doc}, {"a.json"}, "main");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].new_run);
  EXPECT_EQ(r[0].cells_added, 3u);
  EXPECT_EQ(s.count("run"), 1);
  EXPECT_EQ(run_cells(s), 3);
  // Per repetition: 7 ok repetitions x 8 numbers each (operations, wall_s,
  // ns_per_op, ops_per_s, cpu_ns_per_op, latency p50 and p99, memory peak;
  // latency_ns.count is not a metric of its own, memory_method is text).
  EXPECT_EQ(s.count("sample"), 7 * 8);
  const History h = s.load("");
  ASSERT_EQ(h.runs.size(), 1u);
  EXPECT_EQ(h.runs[0].branch, "main");
  const Series* fiber = nullptr;
  for (const auto& series : h.series)
    if (h.cells[series.cell].name == "pingpong/fiber/rounds:10" && series.metric == "ns_per_op") fiber = &series;
  ASSERT_NE(fiber, nullptr);
  ASSERT_EQ(fiber->points.size(), 1u);
  EXPECT_EQ(fiber->points[0].median, 100);
  EXPECT_EQ(fiber->points[0].lo, 90);
  EXPECT_EQ(fiber->points[0].hi, 110);
  EXPECT_EQ(fiber->points[0].n, 3);
  for (const auto& series : h.series) EXPECT_NE(h.cells[series.cell].model, "spawn") << "a limit cell has no values";
}

TEST(HistoryStore, TheSameRunTwiceIsOneRun) {
  TempDir dir;
  auto doc = results_doc("aaaa", "2026-01-01T00:00:00Z");
  add_cell(doc, "ring", "uv", "", {5, 6, 7});
  Store s(dir / "h.sqlite", Store::Mode::write);
  s.add({doc}, {"a.json"}, "");
  const int64_t samples = s.count("sample");
  // The same file again, and the same run re-serialised and with its cells'
  // warnings changed (a content hash would take it for another run).
  auto again = doc;
  again["cells"][0]["warnings"] = {"edited"};
  const auto r = s.add({doc, again}, {"a.json", "a-copy.json"}, "");
  EXPECT_FALSE(r[0].new_run);
  EXPECT_FALSE(r[1].new_run);
  EXPECT_EQ(r[0].cells_added, 0u);
  EXPECT_EQ(s.count("run"), 1);
  EXPECT_EQ(s.count("sample"), samples);
}

TEST(HistoryStore, AResumedRunGainsTheCellsItLacked) {
  TempDir dir;
  auto partial = results_doc("aaaa", "2026-01-01T00:00:00Z");
  add_cell(partial, "ring", "uv", "", {5, 6, 7});
  auto whole = partial;
  add_cell(whole, "ring", "fiber", "", {3, 3, 3});
  Store s(dir / "h.sqlite", Store::Mode::write);
  s.add({partial}, {"a.json"}, "");
  const auto r = s.add({whole}, {"a.json"}, "");
  EXPECT_FALSE(r[0].new_run);
  EXPECT_EQ(r[0].cells_added, 1u);
  EXPECT_EQ(r[0].cells_present, 1u);
  EXPECT_EQ(s.count("run"), 1);
  EXPECT_EQ(run_cells(s), 2);
}

TEST(HistoryStore, AMachineIsADimensionOfEverySeries) {
  TempDir dir;
  MachineSpec other{"Other CPU", 4, "Linux 6.1.0 x86_64"};
  auto a = results_doc("aaaa", "2026-01-01T00:00:00Z");
  auto b = results_doc("aaaa", "2026-01-01T00:00:00Z", other);
  auto c = results_doc("bbbb", "2026-01-02T00:00:00Z");
  add_cell(a, "ring", "uv", "", {5});
  add_cell(b, "ring", "uv", "", {9});
  add_cell(c, "ring", "uv", "", {6});
  Store s(dir / "h.sqlite", Store::Mode::write);
  s.add({a, b, c}, {"a", "b", "c"}, "");
  EXPECT_EQ(s.count("machine"), 2);
  EXPECT_EQ(s.count("run"), 3);
  const History h = s.load("", {"ns_per_op"});
  ASSERT_EQ(h.series.size(), 2u);
  for (const auto& series : h.series) {
    for (const auto& p : series.points) EXPECT_EQ(h.runs[p.run].machine_id, h.machines[series.machine].id);
    EXPECT_EQ(series.points.size(), h.machines[series.machine].cpu_model == "Other CPU" ? 1u : 2u);
  }
}

TEST(HistoryStore, AMergedFileIsOneRunAndKeepsEachCellsMachine) {
  // `cmbench merge --allow-mixed` keeps each cell's own context.
  TempDir dir;
  auto merged = results_doc("aaaa", "2026-01-01T00:00:00Z");
  merged["merged_from"] = json::array({{{"file", "s1.json"}}, {{"file", "s2.json"}}});
  add_cell(merged, "ring", "uv", "", {5});
  add_cell(merged, "ring", "fiber", "", {3});
  merged["cells"][0]["context"] = results_doc("aaaa", "2026-01-01T00:00:00Z")["context"];
  merged["cells"][1]["context"] = results_doc("aaaa", "2026-01-01T00:00:07Z", {"Other CPU", 4, "Linux"})["context"];
  Store s(dir / "h.sqlite", Store::Mode::write);
  s.add({merged}, {"all.json"}, "");
  EXPECT_EQ(s.count("run"), 1);
  EXPECT_EQ(s.count("machine"), 2);
  const History h = s.load("", {"ns_per_op"});
  ASSERT_EQ(h.series.size(), 2u);
  EXPECT_NE(h.series[0].machine, h.series[1].machine);
}

TEST(HistoryStore, ABadFileAmongGoodOnesStoresNothing) {
  TempDir dir;
  auto good = results_doc("aaaa", "2026-01-01T00:00:00Z");
  add_cell(good, "ring", "uv", "", {5});
  auto no_commit = results_doc("", "2026-01-02T00:00:00Z");
  no_commit["context"]["git_commit"] = nullptr;
  auto bad_cell = results_doc("cccc", "2026-01-03T00:00:00Z");
  bad_cell["cells"].push_back({{"name", 42}});
  auto bad_rep = results_doc("dddd", "2026-01-03T00:00:00Z");
  add_cell(bad_rep, "ring", "uv", "", {5});
  bad_rep["cells"][0]["repetitions"] = "many";
  Store s(dir / "h.sqlite", Store::Mode::write);
  for (const auto& [bad, word] : std::vector<std::pair<json, std::string>>{
           {no_commit, "git_commit"}, {bad_cell, "name"}, {bad_rep, "repetitions"}}) {
    try {
      s.add({good, bad}, {"good.json", "bad.json"}, "");
      ADD_FAILURE() << "accepted a file with a bad " << word;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(word), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos) << e.what();
    }
    EXPECT_EQ(s.count("run"), 0) << word;
    EXPECT_EQ(s.count("sample"), 0) << word;
  }
}

TEST(HistoryStore, MigratesAVersion1Database) {
  TempDir dir;
  const std::string path = dir / "v1.sqlite";
  Store::create_at_version(path, 1);
  {
    // A version-1 database as a version-1 cmbench left it: samples, no
    // per-run summaries.
    sql::Database db(path, SQLITE_OPEN_READWRITE);
    EXPECT_EQ(db.scalar_int("PRAGMA user_version"), 1);
    EXPECT_EQ(db.scalar_int("SELECT count(*) FROM sqlite_schema WHERE name = 'point'"), 0);
    db.exec(R"sql(
INSERT INTO machine VALUES (1, 'Test CPU', 2, 'Linux');
INSERT INTO run VALUES (1, 'aaaa', '2026-01-01T00:00:00Z', 'vm', 1, 'main', 0, 'Release', '0.1.0', '{}', 'a.json', 'now');
INSERT INTO cell VALUES (1, 'ring/uv', 'ring', 'uv', '{}');
INSERT INTO metric VALUES (1, 'ns_per_op');
INSERT INTO run_cell VALUES (1, 1, 1, 1, 'ok', '');
INSERT INTO sample VALUES (1, 1, 0, 30.0), (1, 1, 1, 10.0), (1, 1, 2, 20.0), (1, 1, 3, 50.0);
)sql");
  }
  Store s(path, Store::Mode::read);
  EXPECT_EQ(s.database().scalar_int("PRAGMA user_version"), kStoreVersion);
  const History h = s.load("");
  ASSERT_EQ(h.series.size(), 1u);
  ASSERT_EQ(h.series[0].points.size(), 1u);
  EXPECT_EQ(h.series[0].points[0].median, 25.0);
  EXPECT_EQ(h.series[0].points[0].lo, 10.0);
  EXPECT_EQ(h.series[0].points[0].hi, 50.0);
  EXPECT_EQ(h.series[0].points[0].n, 4);
  // And it takes new runs at the new version.
  auto doc = results_doc("bbbb", "2026-01-02T00:00:00Z", {"Test CPU", 2, "Linux"});
  add_cell(doc, "ring", "uv", "", {22});
  s.add({doc}, {"b.json"}, "main");
  EXPECT_EQ(s.load("", {"ns_per_op"}).series[0].points.size(), 2u);
}

TEST(HistoryStore, RefusesANewerSchema) {
  TempDir dir;
  const std::string path = dir / "new.sqlite";
  Store::create_at_version(path, kStoreVersion);
  sql::Database(path, SQLITE_OPEN_READWRITE).exec(fmt::format("PRAGMA user_version = {}", kStoreVersion + 1));
  expect_refused(path, "newer than this cmbench reads");
}

TEST(HistoryStore, RefusesWhatIsNotAHistory) {
  TempDir dir;
  expect_refused(dir.write("empty.sqlite", std::string()), "an empty file");
  std::string noise(4096, '\0');
  std::mt19937_64 rng(7);
  for (auto& ch : noise) ch = static_cast<char>(rng());
  expect_refused(dir.write("noise.sqlite", noise), "not a SQLite database");
  // SQLite's header, then noise: SQLite itself must find it damaged.
  std::string damaged = noise;
  damaged.replace(0, 16, std::string("SQLite format 3\0", 16));
  expect_refused(dir.write("damaged.sqlite", damaged), "not a cmbench history database");
  expect_refused(dir.write("results.json", results_doc("a", "b").dump()), "not a SQLite database");
  {
    const std::string other = dir / "other.sqlite";
    sql::Database db(other, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    db.exec("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers VALUES (1, 'x')");
  }
  expect_refused(dir / "other.sqlite", "another program");
  {
    // A history damaged by hand: one of its tables gone.
    const std::string path = dir / "damaged-history.sqlite";
    Store::create_at_version(path, kStoreVersion);
    sql::Database(path, SQLITE_OPEN_READWRITE).exec("DROP TABLE point");
  }
  expect_refused(dir / "damaged-history.sqlite", "table point is missing");
  expect_refused(dir / "absent.sqlite", "no history database there", Store::Mode::read);
  EXPECT_FALSE(std::filesystem::exists(dir / "absent.sqlite"));
}

TEST(HistoryStore, RefusesSpecialFilesWithoutBlocking) {
  TempDir dir;
  std::filesystem::create_directory(dir / "a-directory");
  expect_refused(dir / "a-directory", "is a directory");
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  expect_refused(dir / "fifo", "is a FIFO");
  expect_refused("/dev/null", "is a character device");
  ASSERT_EQ(::symlink((dir / "loop-b").c_str(), (dir / "loop-a").c_str()), 0);
  ASSERT_EQ(::symlink((dir / "loop-a").c_str(), (dir / "loop-b").c_str()), 0);
  expect_refused(dir / "loop-a", "symbolic link loop");
  ASSERT_EQ(::symlink((dir / "nowhere").c_str(), (dir / "dangling").c_str()), 0);
  expect_refused(dir / "dangling", "symbolic link to nothing");
  EXPECT_FALSE(std::filesystem::exists(dir / "nowhere"));
  // The same rules for a results file.
  for (const char* name : {"fifo", "a-directory", "loop-a"}) {
    const auto start = std::chrono::steady_clock::now();
    EXPECT_THROW(cmbench::read_input_file(dir / name, "a results file"), std::invalid_argument) << name;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  }
  EXPECT_THROW(cmbench::read_input_file("/dev/zero", "a results file"), std::invalid_argument);
}

TEST(HistoryCheck, ReportsTheChangeTheNewestRunCompletes) {
  // ns_per_op steps up 20% at run 12 of a cell; the check fails on the run
  // that completes the evidence and names the run where the step starts,
  // and does not fail again on the next run.
  TempDir dir;
  Store s(dir / "h.sqlite", Store::Mode::write);
  std::mt19937_64 rng(3);
  std::normal_distribution<double> noise(0, 0.5);
  DetectorOptions opt;
  int first_failure = -1, failures = 0;
  for (int run = 0; run < 24; ++run) {
    auto doc = results_doc(fmt::format("{:040x}", run + 1), fmt::format("2026-01-{:02}T00:00:00Z", run + 1));
    const double level = run >= 12 ? 120 : 100;
    add_cell(doc, "ring", "uv", "", {level + noise(rng), level + noise(rng), level + noise(rng)});
    add_cell(doc, "ring", "fiber", "", {50 + noise(rng), 50 + noise(rng), 50 + noise(rng)});
    s.add({doc}, {fmt::format("run{}.json", run)}, "main");
    const History h = s.load("", judged_metrics());
    const CheckResult r = check_newest(h, opt, 0.05);
    bool ns_regressed = false;
    for (const auto& c : r.regressions) {
      const Series& series = h.series[c.series];
      EXPECT_EQ(h.cells[series.cell].name, "ring/uv");
      if (series.metric != "ns_per_op") continue;
      ns_regressed = true;
      EXPECT_EQ(h.runs[series.points[c.point].run].commit, fmt::format("{:040x}", 13));
      EXPECT_NEAR(c.change(), 0.2, 0.02);
    }
    if (ns_regressed) {
      ++failures;
      if (first_failure < 0) first_failure = run;
      const std::string md = check_markdown(h, r, opt, 0.05);
      EXPECT_NE(md.find("ring/uv"), std::string::npos) << md;
      EXPECT_NE(md.find("regression"), std::string::npos) << md;
    }
  }
  std::printf("the 20%% step at run 12 failed the check first at run %d\n", first_failure);
  EXPECT_EQ(failures, 1);
  EXPECT_GE(first_failure, 12 + opt.min_segment - 1);
  EXPECT_LE(first_failure, 12 + opt.min_segment + 2);
}

}  // namespace
