// `cmbench history` and `cmbench export --format bmf` run as a user (or CI)
// runs them: two writers at once, files that are not regular files, exit
// statuses, the page and the export.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <random>

#include "harness/history/sqlite.hpp"
#include "harness_support.hpp"
#include "history_support.hpp"

extern char** environ;

namespace {

using namespace cmbench::history::testing;
using cmbench::testing::run_cmbench;

int64_t count(const std::string& db, const std::string& table) {
  cmbench::history::sql::Database d(db, SQLITE_OPEN_READONLY);
  return d.scalar_int("SELECT count(*) FROM " + table);
}

// A results file big enough that adding it takes a while: `cells` cells of
// 15 repetitions.
json big_doc(const std::string& commit, const std::string& date, int cells) {
  auto doc = results_doc(commit, date);
  std::mt19937_64 rng(cells);
  for (int c = 0; c < cells; ++c) {
    std::vector<double> reps;
    for (int r = 0; r < 15; ++r) reps.push_back(100 + static_cast<double>(rng() % 100) / 10);
    add_cell(doc, "prodcons", "fiber", fmt::format("capacity:{}", c), reps);
  }
  return doc;
}

pid_t spawn_cmbench(const std::vector<std::string>& args) {
  std::vector<std::string> all = {cmbench::testing::binary()};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

int wait_status(pid_t pid) {
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(HistoryCli, TwoWritersAtOnceBothSucceed) {
  TempDir dir;
  const auto a = dir.write("a.json", big_doc(std::string(40, 'a'), "2026-01-01T00:00:00Z", 300));
  const auto b = dir.write("b.json", big_doc(std::string(40, 'b'), "2026-01-02T00:00:00Z", 300));
  for (int round = 0; round < 4; ++round) {
    // Even rounds start without a database: both create it at once.
    const std::string db = dir / fmt::format("h{}.sqlite", round / 2);
    const pid_t p1 = spawn_cmbench({"history", "add", a, "--db", db});
    const pid_t p2 = spawn_cmbench({"history", "add", round % 2 ? a : b, "--db", db});
    EXPECT_EQ(wait_status(p1), 0) << "round " << round;
    EXPECT_EQ(wait_status(p2), 0) << "round " << round;
    // Round 0 adds a and b; round 1 adds a twice more, which is still the
    // same run: two runs either way.
    EXPECT_EQ(count(db, "run"), 2) << "round " << round;
    EXPECT_EQ(count(db, "run_cell"), 600) << "round " << round;
  }
  // Nothing but the database and its WAL files was left in the folder.
  for (const auto& e : std::filesystem::directory_iterator(std::filesystem::path(dir / "")))
    EXPECT_EQ(e.path().string().find(".new-"), std::string::npos) << e.path();
}

TEST(HistoryCli, BadInputIsOneLineAndExitTwo) {
  TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  std::filesystem::create_directory(dir / "dir");
  auto good = results_doc(std::string(40, 'a'), "2026-01-01T00:00:00Z");
  add_cell(good, "ring", "uv", "", {5, 6});
  const auto ok = dir.write("ok.json", good);
  const std::string db = dir / "h.sqlite";
  struct Case {
    std::string args, expected;
  };
  const std::vector<Case> cases = {
      {"history add " + (dir / "fifo") + " --db " + db, "a FIFO (named pipe), not a results file"},
      {"history add " + ok + " " + (dir / "dir") + " --db " + db, "a directory, not a results file"},
      {"history add /dev/zero --db " + db, "a character device, not a results file"},
      {"history add " + dir.write("not.json", std::string("{")) + " --db " + db, "not JSON"},
      {"history add " + ok + " --db " + (dir / "fifo"), "is a FIFO"},
      {"history add " + ok + " --db " + dir.write("e.sqlite", std::string()), "an empty file"},
      {"history report --out " + (dir / "r") + " --db " + (dir / "absent.sqlite"), "no history database there"},
      {"history check --db " + ok, "not a SQLite database"},
      {"history check --db " + db + " --permutations 10", "--permutations 10 cannot reach --significance 0.01"},
      {"history check --db " + db + " --min-segment 1", "--min-segment 1 is not accepted"},
      {"export " + (dir / "fifo") + " --format bmf", "a FIFO (named pipe), not a results file"},
      {"export " + (dir / "dir") + " --format gbench", "a directory, not a results file"},
      {"history frobnicate", "unknown command 'frobnicate'; accepted: add, report, check"},
  };
  for (const auto& c : cases) {
    const auto start = std::chrono::steady_clock::now();
    const auto r = run_cmbench(c.args);
    EXPECT_EQ(r.status, 2) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.expected), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << c.args << "\n" << r.err;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10)) << c.args;
  }
  // None of the refused adds created the database.
  EXPECT_FALSE(std::filesystem::exists(db));
  EXPECT_FALSE(std::filesystem::exists(dir / "r"));
}

// A commit id whose first characters differ from run to run.
std::string commit_of(int run) {
  std::string c;
  for (int i = 0; i < 20; ++i) c += fmt::format("{:02x}", run + 1);
  return c;
}

TEST(HistoryCli, AddReportCheck) {
  TempDir dir;
  const std::string db = dir / "nested/h.sqlite";  // folders are created
  std::mt19937_64 rng(11);
  std::normal_distribution<double> noise(0, 0.01);
  std::vector<std::string> files;
  for (int run = 0; run < 20; ++run) {
    auto doc = results_doc(commit_of(run), fmt::format("2026-02-{:02}T00:00:00Z", run + 1));
    // pingpong/fiber gets 30% slower from run 10 on; ring/uv stays put.
    const double level = run >= 10 ? 130 : 100;
    std::vector<double> a, b;
    for (int r = 0; r < 5; ++r) {
      a.push_back(level * (1 + noise(rng)));
      b.push_back(40 * (1 + noise(rng)));
    }
    add_cell(doc, "pingpong", "fiber", "rounds:1000", a);
    add_cell(doc, "ring", "uv", "units:503", b);
    files.push_back(dir.write(fmt::format("run{}.json", run), doc));
  }
  // The first ten: no change, check passes.
  std::string first;
  for (int i = 0; i < 10; ++i) first += files[static_cast<size_t>(i)] + " ";
  auto r = run_cmbench("history add " + first + "--db " + db + " --branch main");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("stored as run 10"), std::string::npos) << r.out;
  r = run_cmbench("history check --db " + db);
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("**No regression**"), std::string::npos) << r.out;
  // Then one at a time, as CI adds them: the check fails once, when the
  // step has enough runs after it, and names the commit where it starts.
  int failed_at = -1;
  for (int i = 10; i < 20; ++i) {
    r = run_cmbench("history add " + files[static_cast<size_t>(i)] + " --db " + db + " --branch main");
    ASSERT_EQ(r.status, 0) << r.err;
    r = run_cmbench("history check --db " + db + " --branch main");
    ASSERT_NE(r.status, 2) << r.err;
    if (r.status == 1) {
      EXPECT_EQ(failed_at, -1) << "failed twice for one change:\n" << r.out;
      failed_at = i;
      EXPECT_NE(r.out.find(commit_of(10).substr(0, 10)), std::string::npos) << r.out;
      EXPECT_NE(r.out.find("pingpong/fiber/rounds:1000"), std::string::npos) << r.out;
      EXPECT_EQ(r.out.find("ring/uv"), std::string::npos) << r.out;
      EXPECT_NE(r.out.find("+30."), std::string::npos) << r.out;
    }
  }
  EXPECT_GE(failed_at, 12);
  EXPECT_LE(failed_at, 14);
  // Adding a file again changes nothing.
  r = run_cmbench("history add " + files[3] + " --db " + db);
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("already stored as run 4"), std::string::npos) << r.out;
  EXPECT_EQ(count(db, "run"), 20);
  // Another branch has no runs: nothing to judge.
  r = run_cmbench("history check --db " + db + " --branch other");
  EXPECT_EQ(r.status, 0) << r.err;

  r = run_cmbench("history report --db " + db + " --out " + (dir / "page"));
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string html = slurp(dir / "page/history.html");
  EXPECT_EQ(html.find("<script src"), std::string::npos);
  EXPECT_NE(html.find("vegaEmbed"), std::string::npos);
  EXPECT_NE(html.find("pingpong/fiber/rounds:1000"), std::string::npos);
  EXPECT_NE(r.out.find("change points"), std::string::npos) << r.out;
}

TEST(HistoryCli, HostileNamesStayText) {
  // A cell name is data: in the page it is JSON inside a script element,
  // where "</script>" cannot end the element.
  TempDir dir;
  auto doc = results_doc(std::string(40, 'a'), "2026-01-01T00:00:00Z");
  add_cell(doc, "ring", "uv", "x:</script><script>alert(1)</script>", {5});
  const auto f = dir.write("h.json", doc);
  ASSERT_EQ(run_cmbench("history add " + f + " --db " + (dir / "h.sqlite")).status, 0);
  ASSERT_EQ(run_cmbench("history report --db " + (dir / "h.sqlite") + " --out " + (dir / "p")).status, 0);
  const std::string html = slurp(dir / "p/history.html");
  EXPECT_EQ(html.find("<script>alert(1)"), std::string::npos);
  EXPECT_NE(html.find("\\u003c/script>\\u003cscript>alert(1)"), std::string::npos);
}

TEST(HistoryCli, ExportBmfCarriesEveryMeasureWithItsSpread) {
  TempDir dir;
  auto doc = results_doc(std::string(40, 'a'), "2026-01-01T00:00:00Z");
  add_cell(doc, "ring", "uv", "units:503", {30, 10, 20});
  add_cell(doc, "spawn", "thread", "units:100000", {}, "limit");
  const auto f = dir.write("r.json", doc);
  const auto r = run_cmbench("export " + f + " --format bmf");
  ASSERT_EQ(r.status, 0) << r.err;
  const json bmf = json::parse(r.out);
  ASSERT_EQ(bmf.size(), 1u) << bmf.dump(1);
  const json& cell = bmf.at("ring/uv/units:503");
  EXPECT_EQ(cell.at("ns_per_op"), json({{"value", 20.0}, {"lower_value", 10.0}, {"upper_value", 30.0}}));
  EXPECT_EQ(cell.at("latency_p99_ns").at("upper_value"), 150.0);
  EXPECT_DOUBLE_EQ(cell.at("ops_per_s").at("lower_value").get<double>(), 1e9 / 30);
  for (const char* m : {"operations", "wall_s", "cpu_ns_per_op", "latency_p50_ns", "memory_peak_bytes"})
    EXPECT_TRUE(cell.contains(m)) << m;
}

}  // namespace
