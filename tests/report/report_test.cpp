// `cmbench report` run as a user runs it, on the committed fixtures: the
// Markdown must carry the fixtures' exact numbers and ratios, the HTML must
// be whole (no external script), and bad input must leave nothing behind.
// The fixtures' numbers are round on purpose, so every expected string below
// can be checked by hand: prodcons thread capacity:1024 takes 200 ns per
// message against the fiber's 50 ns, hence "×4.00", and 1e9 / 200 ns is the
// thread's best throughput, "5.00 M/s".
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>

#include "harness_support.hpp"
#include "report/data.hpp"

namespace {

namespace fs = std::filesystem;
using cmbench::testing::run_cmbench;

const std::string kFixtures = CMBENCH_REPORT_FIXTURES;
const std::string kFixture = kFixtures + "/fixture.json";
const std::string kFixture2 = kFixtures + "/fixture2.json";
// Every text field carries markup, script and Markdown (make_hostile.py).
const std::string kHostile = kFixtures + "/hostile.json";

size_t count_of(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

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

// Every string of hostile.json carries a payload, except the few that must
// stay as they are for the file to be read as a run (make_hostile.py says
// which): a field added to the fixtures without a payload fails here.
TEST(HostileFixture, EveryTextFieldCarriesAPayload) {
  std::ifstream in(kHostile);
  auto doc = nlohmann::json::parse(in);
  std::vector<std::string> bare;
  std::function<void(const nlohmann::json&, const std::string&)> walk = [&](const nlohmann::json& j,
                                                                          const std::string& where) {
    auto hostile = [](const std::string& s) { return s.find("<script>alert(") != std::string::npos; };
    if (j.is_object()) {
      const bool metric_names = where.ends_with("/aggregates") || where.ends_with("/metrics");
      for (const auto& [k, v] : j.items()) {
        const bool free_key = where.ends_with("/params") || where.ends_with("/notes") ||
                              where.ends_with("/libraries") || where.ends_with("/kernel_limits") || where == "/models";
        if (free_key && !hostile(k) && !where.starts_with("/cells/pingpong") && !where.starts_with("/cells/spawn"))
          bare.push_back(where + " key " + k);
        if (!metric_names) walk(v, where + "/" + k);
      }
    } else if (j.is_array()) {
      for (size_t i = 0; i < j.size(); ++i) {
        std::string at = where + "/" + std::to_string(i);
        // Name a cell by its workload, so the two kept workloads can be told apart.
        if (where == "/cells" && j[i].contains("workload") && !hostile(j[i]["workload"].get<std::string>()))
          at = "/cells/" + j[i]["workload"].get<std::string>();
        walk(j[i], at);
      }
    } else if (j.is_string()) {
      const auto& s = j.get_ref<const std::string&>();
      // An outcome is one of six words, which the results file's validator
      // holds it to.
      const bool outcome = where.ends_with("/outcome");
      const bool kept = where == "/schema" || outcome || std::regex_match(s, std::regex("[0-9.]+")) ||
                        ((where.starts_with("/cells/pingpong") || where.starts_with("/cells/spawn")) &&
                         where.ends_with("/workload"));
      if (!kept && !hostile(s)) bare.push_back(where + " = " + s);
    }
  };
  walk(doc, "");
  EXPECT_TRUE(bare.empty()) << ::testing::PrintToString(bare);
}

// Hostile strings in every field reach report.html only as text: no element,
// attribute or script of theirs, ids and links only of safe characters, and
// the charts' JSON unable to end its element. The browser test opens the
// same page and checks that nothing ran.
TEST_F(ReportTest, HostileStringsStayTextInHtml) {
  // The file's own name is hostile too: the page shows its path.
  fs::path file = dir_ / "\"'><img src=x onerror=alert('path')>|x.json";
  fs::copy_file(kHostile, file);
  report(cmbench::report::shell_command(nlohmann::json::array({file.string()})));
  auto html = slurp(out() / "report.html");
  // The three libraries, the charts' JSON and the loop that embeds them.
  EXPECT_EQ(count_of(html, "<script"), 5u);
  // Outside those scripts (the chart library's code holds "<img" in a
  // string of its own), no element of the file's.
  std::string markup;
  for (size_t at = 0; at < html.size();) {
    auto open = html.find("<script", at);
    markup += html.substr(at, open == std::string::npos ? std::string::npos : open - at);
    if (open == std::string::npos) break;
    auto close = html.find("</script>", open);
    ASSERT_NE(close, std::string::npos);
    at = close + 9;
  }
  EXPECT_EQ(count_of(markup, "<img"), 0u);
  EXPECT_EQ(count_of(markup, "<b "), 0u);
  EXPECT_EQ(count_of(markup, "<!--"), 0u);
  std::smatch m;
  for (auto it = html.cbegin(); std::regex_search(it, html.cend(), m, std::regex(R"re(\s(id|href)="([^"]*)")re"));
       it = m.suffix().first) {
    std::string value = m[2];
    if (m[1] == "href") {
      ASSERT_TRUE(value.starts_with("#")) << value;
      value = value.substr(1);
    }
    EXPECT_TRUE(std::regex_match(value, std::regex("[A-Za-z0-9_-]+"))) << m[0];
  }
  auto specs_at = html.find("<script type=\"application/json\" id=\"cmbench-specs\">");
  ASSERT_NE(specs_at, std::string::npos);
  auto specs_begin = html.find('>', specs_at) + 1;
  auto specs = html.substr(specs_begin, html.find("</script>", specs_begin) - specs_begin);
  EXPECT_EQ(specs.find('<'), std::string::npos);
  EXPECT_EQ(specs.find("\xE2\x80\xA8"), std::string::npos);
  EXPECT_TRUE(nlohmann::json::accept(specs));
  // Each field did reach the page, as text.
  for (const char* tag : {"path", "workload", "model", "cell-name", "operation", "param-key", "param-value", "note-key",
                          "note-value", "warning", "message", "command", "context-host", "context-cpu_model",
                          "context-kernel", "context-compiler", "context-cxx_flags", "context-build_type",
                          "context-cmbench_version", "context-git_commit", "context-date", "context-governor", "context-cpuidle",
                          "library-name", "library-version", "limit-name", "limit-value", "preset", "taxonomy-unit",
                          "taxonomy-scheduled_by"})
    EXPECT_CONTAINS(markup, std::string(tag) == "path" ? "onerror=alert(&#39;path&#39;)&gt;|x.json"
                                                       : fmt::format("&lt;b id=&quot;injected-{}&quot;&gt;", tag));
}

// The same file in report.md: every table row has its header's number of
// columns, and no value's character keeps a Markdown meaning.
TEST_F(ReportTest, HostileStringsStayTextInMarkdown) {
  auto md = report(kHostile);
  std::stringstream lines(md);
  size_t columns = 0;
  int rows = 0;
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("|")) {
      columns = 0;
      continue;
    }
    size_t pipes = 0;
    for (size_t i = 0; i < line.size(); ++i)
      if (line[i] == '|' && (i == 0 || line[i - 1] != '\\')) ++pipes;
    if (columns == 0) columns = pipes;
    EXPECT_EQ(pipes, columns) << line;
    ++rows;
  }
  EXPECT_GT(rows, 10);
  // Outside code spans, every character with a Markdown meaning is escaped;
  // "<br>" between a taxonomy cell's lines is the report's own.
  // (An escaped backtick opens no code span: dropped before the spans are.)
  std::string text = std::regex_replace(md, std::regex("\\\\`"), "");
  text = std::regex_replace(text, std::regex("(`+) .*? \\1|(`+)[^`].*?\\2"), "");
  // The verdicts' links to report.html are the report's own.
  text = std::regex_replace(text, std::regex("\\[chart\\]\\(report\\.html#[A-Za-z0-9_-]+\\)"), "");
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (std::string_view("<>[]*~&`#").find(ch) == std::string_view::npos) continue;
    if (ch == '<' && text.compare(i, 4, "<br>") == 0) {
      i += 3;
      continue;
    }
    // "**" is the report's own bold (an escaped value's is "\*\*"), "#" its
    // own headings at the start of a line.
    if (ch == '*' && i + 1 < text.size() && text[i + 1] == '*' && (i == 0 || text[i - 1] != '\\')) {
      ++i;
      continue;
    }
    if (ch == '#' && (i == 0 || text[i - 1] == '\n' || text[i - 1] == '#')) continue;
    EXPECT_TRUE(i > 0 && text[i - 1] == '\\') << "unescaped " << ch << " in: " << text.substr(i > 40 ? i - 40 : 0, 80);
  }
  for (const char* tag : {"workload", "model", "cell-name", "operation", "param-key", "param-value",
                          "message", "command", "context-host", "taxonomy-scheduled_by"})
    EXPECT_CONTAINS(md, fmt::format("id=\"injected-{}\"", tag));
}

// wide.json is a default-sized run of every model with the new workloads
// (make_wide.py): the verdicts come out of the rules with its numbers, the
// idle fit gives each model's bytes per connection, and a sweep over 1, 2, 4
// and 8 workers on a 2-core machine gets core-scaling charts that say the 4
// and 8 are oversubscription.
TEST_F(ReportTest, VerdictsAndFitsOfAWholeRun) {
  auto md = report(kFixtures + "/wide.json");
  EXPECT_CONTAINS(md, "| Processes are the heaviest model: the kernel manages every one of them. | **supports** | process 24.00 us");
  EXPECT_CONTAINS(md, "| Coroutines and fibers are cheap: millions fit where threads and processes stop near 10,000. | **supports** |");
  EXPECT_CONTAINS(md, "go p99 40.00 us against 1.00 ms calls; process");
  EXPECT_CONTAINS(md, "skynet boost-fiber: ×1.00 on 2 workers");
  EXPECT_CONTAINS(md, "- **go**: pick it when you need a million units alive at once: it held 1,000,000;");
  EXPECT_CONTAINS(md, "| uv | 300 B | 5.7 MiB | 1.000 | 1,000, 10,000, 50,000 | none |");
  EXPECT_CONTAINS(md, "| thread | 20.0 KiB | 5.3 MiB | 1.000 | 1,000, 10,000 | at 50,000: pthread_create");
  auto html = slurp(out() / "report.html");
  for (const char* id : {"verdicts", "advice", "wl-idle-memory-fit", "wl-skynet-cores", "wl-skynet-cores-efficiency"})
    EXPECT_CONTAINS(html, std::string("id=\"") + id + "\"");
  EXPECT_CONTAINS(html, "This machine has 2 cores (the red line): points beyond it are hollow, and measure oversubscription");
}

// A file without the claims' cells says so for each claim, and the older
// files (no model traits) still make a report.
TEST_F(ReportTest, VerdictsNotMeasuredWithoutTheCells) {
  auto md = report(kFixture);
  EXPECT_CONTAINS(md, "| Lightweight threads do not depend on the number of CPU cores: throughput stays the same whatever "
                      "number of worker threads runs them. | **not measured in this run** |");
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
