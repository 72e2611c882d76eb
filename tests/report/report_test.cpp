// `cmbench report` run as a user runs it, on the committed fixtures: the
// Markdown must carry the fixtures' exact numbers and ratios, the HTML must
// be whole (no external script), and bad input must leave nothing behind.
// The fixtures' numbers are round on purpose, so every expected string below
// can be checked by hand: prodcons thread capacity:1024 takes 200 ns per
// message against the fiber's 50 ns, hence "×4.00", and 1e9 / 200 ns is the
// thread's best throughput, "5.00 M/s".
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness_support.hpp"
#include "report/data.hpp"

namespace {

namespace fs = std::filesystem;
using cmbench::testing::run_cmbench;

const std::string kFixtures = CMBENCH_REPORT_FIXTURES;
const std::string kFixture = kFixtures + "/fixture.json";
const std::string kFixture2 = kFixtures + "/fixture2.json";

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A fresh folder per test, removed after it.
class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cmbench-report-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path out() const { return dir_ / "out"; }

  // Writes a report and returns report.md.
  std::string report(const std::string& inputs) {
    auto r = run_cmbench(fmt_args(inputs));
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(fs::exists(out() / "report.html"));
    return slurp(out() / "report.md");
  }

  std::string fmt_args(const std::string& inputs) const { return "report " + inputs + " --out " + out().string(); }

  fs::path write(const std::string& name, const std::string& text) const {
    std::ofstream(dir_ / name) << text;
    return dir_ / name;
  }

  // Bad input: one line on stderr that names the file, exit 2, no folder.
  void expect_refused(const std::string& inputs, const std::string& expected_in_error) {
    auto r = run_cmbench(fmt_args(inputs));
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_NE(r.err.find(expected_in_error), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(fs::exists(out())) << "a refused report wrote " << out();
  }

  fs::path dir_;
};

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE((haystack).find(needle), std::string::npos) << "missing: " << (needle) << "\nin:\n" << (haystack)

TEST_F(ReportTest, TaxonomyCarriesTheMeasuredNumbers) {
  auto md = report(kFixture);
  // Throughput, CPU user / sys and context switches come from the model's
  // fastest prodcons cell (capacity:1024): 0.003 s user and 0.001 s sys
  // over 20000 messages are 150 ns and 50 ns per message.
  EXPECT_CONTAINS(md, "| thread | the kernel, preemptively | not run | not run | not run | 5.00 M/s | 150 ns / 50 ns | 0.01 |");
  EXPECT_CONTAINS(md, "| fiber | the runtime in user space, cooperatively | not run | not run | not run | 20.00 M/s | 50 ns / 0 ns | 0 |");
  // Models the file describes but never ran are rows of "not run".
  EXPECT_CONTAINS(md, "| process | the kernel, preemptively | not run | not run | not run | not run | not run | not run |");
  EXPECT_CONTAINS(md, "| uv | the event loop, run to completion | not run | not run | not run | not run | not run | not run |");
}

TEST_F(ReportTest, WorkloadTablesCarryMediansSpreadsAndRatios) {
  auto md = report(kFixture);
  EXPECT_CONTAINS(md, "- **vm · 1111111 · 2026-11-26 13:06**: `build/release/cmbench run --preset quick --models thread,fiber`");
  EXPECT_CONTAINS(md, "## prodcons: time per message");
  EXPECT_CONTAINS(md, "fixed: `producers:1 consumers:1 messages:20000 payload:0`");
  EXPECT_CONTAINS(md, "| configuration | thread | fiber |");
  // The unstable cell carries its mark; the fiber's own parameter
  // (stack_size) is not a configuration of the workload.
  EXPECT_CONTAINS(md, "| capacity:0 | 6.00 us (5.00 us – 9.00 us) ×75.0 ⚠ | 80 ns (78 ns – 84 ns) ×1.00 |");
  EXPECT_CONTAINS(md, "| capacity:1 | 5.00 us (4.80 us – 5.20 us) ×83.3 | 60 ns (59 ns – 63 ns) ×1.00 |");
  EXPECT_CONTAINS(md, "| capacity:1024 | 200 ns (180 ns – 260 ns) ×4.00 | 50 ns (48 ns – 55 ns) ×1.00 |");
  EXPECT_CONTAINS(md, "## counter: time per increment");
  EXPECT_CONTAINS(md, "| mode:lock | 30 ns (27 ns – 59 ns) ×7.50 | 4 ns (3.5 ns – 4.2 ns) ×1.00 |");
  EXPECT_CONTAINS(md, "| mode:atomic | 8 ns (6 ns – 9 ns) ×4.00 | 2 ns (2 ns – 3 ns) ×1.00 |");
  // A cell that was not ok shows its outcome, and is listed with its message.
  EXPECT_CONTAINS(md, "| mode:message | 130 ns (100 ns – 560 ns) ×1.00 | timeout |");
  EXPECT_CONTAINS(md, "- `counter/fiber/units:2/increments:20000/mode:message/stack_size:16384`: timeout: killed by the watchdog after 120 s");
}

TEST_F(ReportTest, LinesOfCodeAreReadFromTheSourceTree) {
  auto md = report(kFixture);
  for (const char* w : {"prodcons", "counter"}) {
    auto lines = [&](const char* model) {
      auto n = cmbench::report::count_code_lines(std::string(CMBENCH_SOURCE_DIR) + "/workloads/" + w + "/" + model + ".cpp");
      return n ? std::to_string(*n) : std::string("n/a");
    };
    EXPECT_CONTAINS(md, "| lines of code | " + lines("thread") + " | " + lines("fiber") + " |");
  }
}

TEST_F(ReportTest, SeveralFilesAreLabelledAndKeptApart) {
  auto md = report(kFixture + " " + kFixture2);
  EXPECT_CONTAINS(md, "- [1] **vm · 1111111 · 2026-11-26 13:06**");
  EXPECT_CONTAINS(md, "- [2] **ci-runner · 2222222 · 2026-11-27 08:30**");
  EXPECT_CONTAINS(md, "| [1] 5.00 M/s<br>[2] 10.00 M/s |");
  EXPECT_CONTAINS(md, "| file | configuration | thread | fiber |");
  EXPECT_CONTAINS(md, "| [1] | capacity:1024 | 200 ns (180 ns – 260 ns) ×4.00 | 50 ns (48 ns – 55 ns) ×1.00 |");
  EXPECT_CONTAINS(md, "| [2] | capacity:1024 | 100 ns (90 ns – 110 ns) ×4.00 | 25 ns (24 ns – 26 ns) ×1.00 |");
  // The second file ran no counter cell, and does not describe uv.
  EXPECT_EQ(md.find("| [2] | mode:"), std::string::npos) << md;
  // What every file lacks is said once.
  EXPECT_CONTAINS(md, "| uv | the event loop, run to completion | not run | not run | not run | not run | not run | not run |");
}

TEST_F(ReportTest, TaxonomyReadsPingpongAndSpawnWhenTheyAppear) {
  auto md = report(kFixture + " " + kFixture2);
  // fixture2 has a pingpong and a spawn: the switch cost is pingpong's
  // latency p50; memory per unit is spawn's at the largest N that was ok;
  // the largest N comes with the limit the thread model hit and its error.
  EXPECT_CONTAINS(md,
                  "| thread | the kernel, preemptively | [1] not run<br>[2] 4.80 us | [1] not run<br>[2] 12.0 KiB | "
                  "[1] not run<br>[2] 32,051 (limit at N=100,000: pthread_create: Resource temporarily unavailable "
                  "(11) after 32051 of 100000 units) |");
  EXPECT_CONTAINS(md,
                  "| fiber | the runtime in user space, cooperatively | [1] not run<br>[2] 100 ns | [1] not run<br>[2] "
                  "1.9 KiB | [1] not run<br>[2] 100,000 |");
  auto html = slurp(out() / "report.html");
  EXPECT_CONTAINS(html, "<a href=\"#wl-pingpong-latency\"");
  EXPECT_CONTAINS(html, "<a href=\"#wl-spawn-memory-per-unit\"");
}

TEST_F(ReportTest, HtmlIsOneSelfContainedPage) {
  report(kFixture + " " + kFixture2);
  auto html = slurp(out() / "report.html");
  // The library is inlined, never loaded.
  EXPECT_EQ(html.find("<script src"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("sourceMappingURL"), std::string::npos);
  EXPECT_CONTAINS(html, "vegaEmbed");
  // The taxonomy's numbers link to their charts, which exist.
  EXPECT_CONTAINS(html, "<a href=\"#wl-prodcons-time\"");
  EXPECT_CONTAINS(html, "<a href=\"#wl-prodcons-cpu\"");
  EXPECT_CONTAINS(html, "<a href=\"#wl-prodcons-ctx\"");
  for (const char* id : {"wl-prodcons-time", "wl-prodcons-scaling-capacity", "wl-prodcons-latency", "wl-prodcons-cpu",
                         "wl-prodcons-ctx", "wl-prodcons-memory", "wl-counter-time", "wl-counter-notok"})
    EXPECT_CONTAINS(html, std::string("id=\"") + id + "\"");
  // Context, command, failures and warnings.
  EXPECT_CONTAINS(html, "Test CPU @ 2.0GHz");
  EXPECT_CONTAINS(html, "build/release/cmbench run --preset quick --models thread,fiber --workloads prodcons");
  EXPECT_CONTAINS(html, "killed by the watchdog after 120 s");
  EXPECT_CONTAINS(html, "unstable: time per operation varies by 30.0% (CV)");
}

TEST_F(ReportTest, RefusesAMissingFile) { expect_refused((dir_ / "nope.json").string(), "nope.json: cannot open"); }

TEST_F(ReportTest, RefusesAFileThatIsNotJson) {
  expect_refused(write("bad.json", "{\"schema\": \"cmbench-res").string(), "bad.json: not JSON");
}

TEST_F(ReportTest, RefusesAnotherSchema) {
  expect_refused(write("other.json", R"({"schema": "something-else", "cells": []})").string(),
                 "other.json: not a cmbench results file");
}

TEST_F(ReportTest, RefusesANewerSchemaVersion) {
  expect_refused(write("newer.json", R"({"schema": "cmbench-results", "schema_version": 99, "cells": []})").string(),
                 "newer.json: schema_version 99 is newer");
}

TEST_F(ReportTest, OneBadFileAmongGoodOnesWritesNothing) {
  expect_refused(kFixture + " " + (dir_ / "missing.json").string(), "missing.json: cannot open");
}

TEST(CountCodeLines, CountsCodeNotCommentsOrBlankLines) {
  char tmpl[] = "/tmp/cmbench-loc-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string path = dir + "/x.cpp";
  std::ofstream(path) << "// a comment\n"
                         "#include <string>\n"          // 1
                         "\n"
                         "/* a block\n"
                         "   comment */\n"
                         "int a = 1;  // trailing\n"    // 2
                         "/* c */ int b = 2;\n"         // 3
                         "const char* s = \"// not a comment\";\n"  // 4
                         "const char* r = R\"x(\n"      // 5
                         "/* inside a raw string */\n"  // 6
                         ")x\";\n"                      // 7
                         "int c = 1'000; /*\n"          // 8
                         "*/\n"
                         "   \t\n";
  EXPECT_EQ(cmbench::report::count_code_lines(path), 8);
  EXPECT_EQ(cmbench::report::count_code_lines(dir + "/absent.cpp"), std::nullopt);
  fs::remove_all(dir);
}

TEST(ShellCommand, QuotesWhatAShellWouldSplit) {
  EXPECT_EQ(cmbench::report::shell_command(nlohmann::json::array({"cmbench", "run", "--filter", "a b", "it's"})),
            "cmbench run --filter 'a b' 'it'\\''s'");
}

}  // namespace
