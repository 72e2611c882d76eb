// The command line as a user meets it: help with defaults, the listing, and
// bad input refused with one line naming the flag, exit status 2, before
// anything runs.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "harness/driver/run.hpp"
#include "harness_support.hpp"

namespace cmbench {
namespace {

using testing::run_cmbench;

size_t lines(const std::string& s) { return std::count(s.begin(), s.end(), '\n'); }

void expect_bad_input(const std::string& args, const std::string& says) {
  auto r = run_cmbench(args + " --out /tmp/cmbench-cli-must-not-exist.json");
  EXPECT_EQ(r.status, 2) << args << "\n" << r.err;
  EXPECT_EQ(lines(r.err), 1u) << args << ": " << r.err;
  EXPECT_NE(r.err.find(says), std::string::npos) << args << ": " << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(access("/tmp/cmbench-cli-must-not-exist.json", F_OK), 0) << "nothing ran for " << args;
}

TEST(Cli, BadInputIsOneLineNamingTheFlag) {
  expect_bad_input("run --models thraed", "--models: unknown model 'thraed'; accepted: process, thread, uv, fiber");
  expect_bad_input("run --workloads prodcon", "--workloads: unknown workload 'prodcon'; accepted: prodcons, counter");
  expect_bad_input("run --param capacity=-1", "parameter 'capacity': '-1' is not accepted; accepted: 0..1048576");
  expect_bad_input("run --param mode=mutex", "accepted: lock | atomic | message");
  expect_bad_input("run --param nosuch=1", "no selected workload or model has a parameter 'nosuch'");
  expect_bad_input("run --preset fastest", "--preset: unknown preset 'fastest'; accepted: default, quick, full");
  expect_bad_input("run --repetitions -5", "--repetitions");
  expect_bad_input("run --timeout abc", "--timeout");
  expect_bad_input("run --frobnicate", "--frobnicate");
  expect_bad_input("launch", "launch");
}

TEST(Cli, ABadSampleClockIsRefusedBeforeAnyCellRuns) {
  for (const char* cmd : {"run --workloads pingpong --out /tmp/cmbench-cli-must-not-exist.json",
                          "ab --base " CMBENCH_BINARY " --head " CMBENCH_BINARY " --workloads pingpong"}) {
    auto r = run_cmbench(cmd, "CMBENCH_SAMPLE_CLOCK=hpet");
    EXPECT_EQ(r.status, 2) << cmd << "\n" << r.err;
    EXPECT_EQ(lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find("CMBENCH_SAMPLE_CLOCK: 'hpet' is not a sample clock (accepted: tsc, clock)"),
              std::string::npos)
        << r.err;
  }
  EXPECT_NE(access("/tmp/cmbench-cli-must-not-exist.json", F_OK), 0);
}

TEST(Cli, AResumedFileWithFieldsOfTheWrongTypeIsRefusedInOneLine) {
  const std::string path = "/tmp/cmbench-cli-resume-" + std::to_string(getpid()) + ".json";
  for (const char* body :
       {R"({"schema": "cmbench-results", "schema_version": 1, "cells": [], "options": {"selection": {"preset": 7}}})",
        R"({"schema": "cmbench-results", "schema_version": 1, "cells": [3], "options": {"selection": {}}})"}) {
    std::ofstream(path) << body;
    auto r = run_cmbench("run --resume " + path);
    EXPECT_EQ(r.status, 2) << body << "\n" << r.err;
    EXPECT_EQ(lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find("--resume"), std::string::npos) << r.err;
    std::ifstream in(path);
    std::string kept((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(kept, body) << "the file must not be overwritten";
  }
  std::remove(path.c_str());
}

TEST(Cli, UnwritableOutIsRefusedBeforeRunning) {
  auto r = run_cmbench("run --out /proc/cmbench/no/x.json");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--out"), std::string::npos) << r.err;
}

TEST(Cli, HelpShowsEveryFlagWithItsDefault) {
  auto r = run_cmbench("run --help");
  EXPECT_EQ(r.status, 0);
  for (const char* s : {"--preset", "default", "--models", "--workloads", "--param", "--filter",
                        "--repetitions", "--warmup", "--timeout", "120", "--out"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s;
  EXPECT_EQ(r.out.find("result-fd"), std::string::npos) << "the internal command stays hidden";
}

TEST(Cli, ListCellsPrintsTheCellsOfTheSelectionAndRunsNothing) {
  auto r = run_cmbench(
      "run --list-cells --preset quick --workloads counter --models thread --out "
      "/tmp/cmbench-cli-must-not-exist.json");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  // Two unit counts times three modes.
  EXPECT_EQ(r.out,
            "counter/thread/units:2/increments:20000/mode:lock\n"
            "counter/thread/units:2/increments:20000/mode:atomic\n"
            "counter/thread/units:2/increments:20000/mode:message\n"
            "counter/thread/units:64/increments:625/mode:lock\n"
            "counter/thread/units:64/increments:625/mode:atomic\n"
            "counter/thread/units:64/increments:625/mode:message\n");
  EXPECT_NE(access("/tmp/cmbench-cli-must-not-exist.json", F_OK), 0) << "nothing ran";
  auto filtered = run_cmbench("run --list-cells --filter ^pingpong/go/");
  EXPECT_EQ(filtered.status, 0) << filtered.err;
  EXPECT_EQ(filtered.out, "pingpong/go/rounds:50000/gomaxprocs:1\npingpong/go/rounds:50000/gomaxprocs:0\n");
}

TEST(Cli, ListNamesEveryModelWorkloadAndParameter) {
  auto r = run_cmbench("list");
  EXPECT_EQ(r.status, 0);
  for (const char* s : {"process", "thread", "uv", "fiber", "prodcons", "counter", "capacity",
                        "stack_size", "lock | atomic | message", "quick"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s;
}

}  // namespace
}  // namespace cmbench

// --- inputs and outputs that are not what they should be ----------------------
namespace cmbench {
namespace {

namespace fs = std::filesystem;

// A folder of its own for one test, removed at the end.
struct Scratch {
  fs::path dir;
  explicit Scratch(const std::string& name)
      : dir(fs::temp_directory_path() / fmt::format("cmbench-cli-{}-{}", name, getpid())) {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~Scratch() { fs::remove_all(dir); }
  std::string operator/(const std::string& name) const { return (dir / name).string(); }
};

// No command may block on what it reads: every one runs under `timeout`,
// and a command killed by it fails the expectation below (status -1 or 137).
constexpr const char* kBounded = "timeout -s KILL 20";

// A small valid results file, measured once for the tests that read one.
// Its folder goes when the test process exits.
const std::string& valid_results() {
  static const Scratch folder("valid");
  static const std::string path = [] {
    const std::string p = folder / "valid.json";
    auto r = run_cmbench("run --workloads counter --models uv,thread --param units=2 --param increments=200 "
                         "--repetitions 2 --warmup 0 --out " + p);
    EXPECT_EQ(r.status, 0) << r.err;
    return p;
  }();
  return path;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// Every command that reads a results file, with `input` as the file: it must
// refuse it in one line, exit 2, without blocking or crashing. Returns the
// number of commands tried.
int expect_every_reader_refuses(const std::string& input, const std::string& says, const Scratch& s) {
  const std::string valid = valid_results();
  const std::vector<std::string> commands = {
      "compare " + valid + " " + input,
      "compare " + input + " " + valid,
      "merge " + valid + " " + input + " --out " + s / "merged.json",
      "export " + input + " --out " + s / "exported.json",
      "report " + input + " --out " + s / "report",
      "run --resume " + input,
  };
  for (const auto& cmd : commands) {
    auto r = run_cmbench(cmd, kBounded);
    EXPECT_EQ(r.status, 2) << cmd << "\n" << r.err;
    EXPECT_EQ(lines(r.err), 1u) << cmd << ": " << r.err;
    EXPECT_NE(r.err.find(says), std::string::npos) << cmd << ": " << r.err;
    EXPECT_FALSE(fs::exists(s / "merged.json") || fs::exists(s / "exported.json") || fs::exists(s / "report"))
        << cmd << " wrote something";
  }
  return static_cast<int>(commands.size());
}

TEST(Inputs, FilesThatAreNotRegularFilesAreRefusedWithoutBlocking) {
  Scratch s("special");
  ASSERT_EQ(mkfifo((s / "fifo").c_str(), 0600), 0);
  fs::create_directory(s / "folder");
  fs::create_symlink(s / "loop-b", s / "loop-a");
  fs::create_symlink(s / "loop-a", s / "loop-b");
  int tried = 0;
  tried += expect_every_reader_refuses(s / "fifo", "a FIFO (named pipe), not a results file", s);
  tried += expect_every_reader_refuses("/dev/zero", "a character device, not a results file", s);
  tried += expect_every_reader_refuses("/dev/null", "a character device, not a results file", s);
  tried += expect_every_reader_refuses(s / "folder", "a directory, not a results file", s);
  tried += expect_every_reader_refuses(s / "loop-a", "a symbolic link loop", s);
  tried += expect_every_reader_refuses(s / "missing.json", "No such file or directory", s);
  // A file too large to be a results file is refused by its size, unread.
  {
    std::ofstream big(s / "big.json");
  }
  fs::resize_file(s / "big.json", uintmax_t{300} << 20);  // sparse: no disk used
  tried += expect_every_reader_refuses(s / "big.json", "more than a results file may have", s);
  RecordProperty("inputs_tried", tried);
}

// Corrupt results files, one class of damage each: every reader refuses
// them in one line, exit 2.
TEST(Inputs, CorruptResultsFilesAreRefusedInOneLine) {
  Scratch s("corrupt");
  const nlohmann::json good = read_json(valid_results());
  ASSERT_GE(good["cells"].size(), 2u);
  struct Damage {
    const char* name;
    std::function<void(nlohmann::json&)> apply;
    const char* says;
  };
  const std::vector<Damage> damages = {
      {"name-is-a-number", [](auto& d) { d["cells"][0]["name"] = 7; }, "cells[0].name: an integer where a string is expected"},
      {"repetitions-is-a-number", [](auto& d) { d["cells"][0]["repetitions"] = 5; }, "cells[0].repetitions: an integer where an array is expected"},
      {"no-context", [](auto& d) { d.erase("context"); }, "no \"context\""},
      {"context-is-a-string", [](auto& d) { d["context"] = "x"; }, "context: a string where an object is expected"},
      {"cells-hold-a-number", [](auto& d) { d["cells"][1] = 3; }, "cells[1]: an integer where an object is expected"},
      {"unknown-outcome", [](auto& d) { d["cells"][0]["outcome"] = "exploded"; }, "is not an outcome"},
      {"negative-time", [](auto& d) { d["cells"][0]["repetitions"][0]["metrics"]["ns_per_op"] = -5; }, "ns_per_op: -5 is not accepted: a positive number"},
      {"zero-time", [](auto& d) { d["cells"][0]["repetitions"][0]["metrics"]["ns_per_op"] = 0; }, "ns_per_op: 0 is not accepted: a positive number"},
      {"huge-time", [](auto& d) { d["cells"][0]["repetitions"][0]["metrics"]["wall_s"] = 1e308; }, "wall_s: 1e+308 is not accepted"},
      {"negative-cpu", [](auto& d) { d["cells"][0]["repetitions"][0]["metrics"]["cpu_user_s"] = -0.5; }, "cpu_user_s: -0.5 is not accepted: a number of 0 or more"},
      {"negative-median", [](auto& d) { d["cells"][0]["aggregates"]["ns_per_op"]["median"] = -1.0; }, "aggregates.ns_per_op.median: -1.0 is not accepted"},
      {"zero-repetition-count", [](auto& d) { d["cells"][0]["aggregates"]["ns_per_op"]["n"] = 0; }, "aggregates.ns_per_op.n: 0 is not accepted"},
      {"median-above-max", [](auto& d) { d["cells"][0]["aggregates"]["ns_per_op"]["median"] = 1e17; }, "min <= median <= max does not hold"},
      {"ok-without-repetitions", [](auto& d) { d["cells"][0]["repetitions"] = nlohmann::json::array(); }, "an ok cell without a measured repetition"},
      {"zero-repetitions-option", [](auto& d) { d["options"]["repetitions"] = 0; }, "options.repetitions: 0 is not accepted"},
      {"nan-timeout-stored", [](auto& d) { d["options"]["selection"]["timeout_s"] = "nan"; }, "options.selection.timeout_s: a string where a number is expected"},
      {"huge-shard-stored", [](auto& d) { d["options"]["selection"]["shard"] = "2/18446744073709551617"; }, "options.selection.shard"},
      {"errno-is-a-string", [](auto& d) { d["cells"][0]["errno"] = "EIO"; }, "cells[0].errno: a string where an integer is expected"},
      {"warnings-hold-a-number", [](auto& d) { d["cells"][0]["warnings"] = {1}; }, "cells[0].warnings[0]"},
  };
  int tried = 0;
  for (const auto& d : damages) {
    nlohmann::json doc = good;
    d.apply(doc);
    const std::string path = s / (std::string(d.name) + ".json");
    write_text(path, doc.dump());
    SCOPED_TRACE(d.name);
    tried += expect_every_reader_refuses(path, d.says, s);
  }
  // Nested 100,000 levels deep in a cell's notes: refused before parsing
  // (a copy or the report would overflow the stack; merge once used 7.9 GB).
  {
    nlohmann::json doc = good;
    doc["cells"][0]["notes"]["deep"] = "@@DEEP@@";
    std::string text = doc.dump();
    text.replace(text.find("\"@@DEEP@@\""), 10, std::string(100'000, '[') + std::string(100'000, ']'));
    write_text(s / "deep.json", text);
    tried += expect_every_reader_refuses(s / "deep.json", "nested more than 64 levels deep", s);
  }
  // Not JSON at all, and JSON of another kind.
  write_text(s / "truncated.json", good.dump().substr(0, 200));
  tried += expect_every_reader_refuses(s / "truncated.json", "not JSON", s);
  write_text(s / "array.json", "[1, 2, 3]");
  tried += expect_every_reader_refuses(s / "array.json", "not a cmbench results file", s);
  write_text(s / "empty.json", "");
  tried += expect_every_reader_refuses(s / "empty.json", "not JSON", s);
  RecordProperty("inputs_tried", tried);
  std::printf("%d corrupt inputs tried against every reader\n", tried);
}

// Numbers the flags take: each refused in one line naming the flag.
TEST(Cli, UnvalidatedNumbersAreRefused) {
  expect_bad_input("run --timeout nan", "--timeout: 'nan' is not accepted; accepted: seconds from 0.1 to 86400");
  expect_bad_input("run --timeout inf", "--timeout: 'inf' is not accepted");
  expect_bad_input("run --timeout 0", "--timeout");
  expect_bad_input("run --timeout -3", "--timeout");
  expect_bad_input("run --repetitions 0", "--repetitions: '0' is not accepted; accepted: 1 to 1000, or -1");
  expect_bad_input("run --shard 2/18446744073709551617", "--shard: '2/18446744073709551617' is not accepted");
  expect_bad_input("run --shard 0/4", "--shard: '0/4' is not accepted");
  expect_bad_input("run --shard 5/4", "--shard: '5/4' is not accepted");
  expect_bad_input("run --shard -1/4", "--shard");
  expect_bad_input("run --shard 1/-4", "--shard");
  expect_bad_input("run --param units=1 --param units=2",
                   "--param: 'units' is given twice (units=1 and units=2); give one list instead: --param units=v1,v2");
  expect_bad_input("ab --base " CMBENCH_BINARY " --head " CMBENCH_BINARY " --repetitions 0", "--repetitions");
  expect_bad_input("ab --base " CMBENCH_BINARY " --head " CMBENCH_BINARY " --timeout nan", "--timeout");
  expect_bad_input("ab --base " CMBENCH_BINARY " --head " CMBENCH_BINARY " --param rounds=1 --param rounds=2",
                   "--param: 'rounds' is given twice");
}

// --min-time: a cell whose one pass of its workload times less runs several
// passes per repetition, each verified, calibrated once from its warm-up;
// its operations and latency samples add up, its parameters stay. The go
// model's program runs the passes itself. (A pass of this cell times tens
// of microseconds: even a loaded machine calibrates it to more than one.)
TEST(MinTime, AShortCellRunsEnoughPassesAndStaysTheSameCell) {
  Scratch s("min-time");
  const std::string sel = "run --workloads counter --models fiber,go --param units=2 --param increments=2000 "
                          "--param mode=atomic --repetitions 2 ";
  auto once = run_cmbench(sel + "--min-time 0 --out " + (s / "once.json"));
  ASSERT_EQ(once.status, 0) << once.err;
  auto calibrated = run_cmbench(sel + "--min-time 0.05 --out " + (s / "calibrated.json"));
  ASSERT_EQ(calibrated.status, 0) << calibrated.err;
  const auto a = read_json(s / "once.json");
  const auto b = read_json(s / "calibrated.json");
  ASSERT_EQ(a["cells"].size(), 2u);
  ASSERT_EQ(b["cells"].size(), 2u);
  EXPECT_EQ(b["options"]["min_time_s"], 0.05);
  for (size_t i = 0; i < 2; ++i) {
    const auto& one = a["cells"][i];
    const auto& many = b["cells"][i];
    EXPECT_EQ(one["name"], many["name"]);
    EXPECT_EQ(one["passes"], 1);
    EXPECT_GT(many["passes"].get<int>(), 1) << many["name"];
    for (const auto& rep : many["repetitions"]) {
      EXPECT_EQ(rep["outcome"], "ok");
      const auto& m = rep["metrics"];
      EXPECT_EQ(m["passes"], many["passes"]);
      // 2 units x 2000 increments per pass.
      EXPECT_EQ(m["operations"].get<uint64_t>(), 4000u * m["passes"].get<uint64_t>()) << many["name"];
    }
  }
  expect_bad_input("run --min-time -3", "--min-time: '-3' is not accepted; accepted: seconds from 0 to 60");
  expect_bad_input("run --min-time nan", "--min-time");
}

// A cell whose figure is N fresh units (spawn) runs its passes each in a
// fresh cell process, added up into the repetition: its units stay fresh,
// its memory per unit is one process's N. run and ab alike.
TEST(MinTime, SpawnRunsItsPassesInFreshProcesses) {
  Scratch s("min-time-fresh");
  const std::string sel = "--workloads spawn --models fiber,go --param units=10 --param threads=1 "
                          "--param gomaxprocs=1 --repetitions 2 ";
  auto r = run_cmbench("run " + sel + "--min-time 0.05 --out " + (s / "many.json"));
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  auto ab = run_cmbench(std::string("ab --base ") + CMBENCH_BINARY + " --head " + CMBENCH_BINARY + " " + sel +
                        "--min-time 0.05 --out " + (s / "ab"));
  ASSERT_EQ(ab.status, 0) << ab.err << ab.out;
  auto once = run_cmbench("run " + sel + "--min-time 0 --out " + (s / "once.json"));
  ASSERT_EQ(once.status, 0) << once.err << once.out;
  for (const std::string file : {"many.json", "ab/base.json", "ab/head.json"}) {
    const auto doc = read_json(s / file);
    ASSERT_EQ(doc["cells"].size(), 2u) << file;
    for (const auto& cell : doc["cells"]) {
      EXPECT_EQ(cell["outcome"], "ok") << file << " " << cell["name"];
      const int passes = cell["passes"].get<int>();
      EXPECT_GT(passes, 1) << file << " " << cell["name"];
      EXPECT_LE(passes, kMaxProcessPasses);
      for (const auto& rep : cell["repetitions"]) {
        const auto& m = rep["metrics"];
        EXPECT_EQ(m["passes"], passes);
        EXPECT_EQ(m["operations"].get<uint64_t>(), 10u * static_cast<uint64_t>(passes)) << cell["name"];
        EXPECT_NEAR(m["ns_per_op"].get<double>() * m["operations"].get<double>(), m["wall_s"].get<double>() * 1e9,
                    1.0);
        // One process's ten units, not ten times the passes.
        EXPECT_EQ(m["memory_units"], 10u) << cell["name"];
      }
    }
  }
  const auto one = read_json(s / "once.json");  // named: a range-for over a temporary's member outlives it
  for (const auto& cell : one["cells"]) EXPECT_EQ(cell["passes"], 1) << cell["name"];
}

// ab honours --min-time as run does, and both sides run the passes the
// cell's first warm-up calibrated: a repetition of each does the same work.
// Before, every ab repetition was one pass, whatever the preset's min-time.
TEST(MinTime, ABRunsTheSamePassesOnBothSides) {
  Scratch s("min-time-ab");
  const std::string sel = std::string("ab --base ") + CMBENCH_BINARY + " --head " + CMBENCH_BINARY +
                          " --workloads counter --models fiber --param units=2 --param increments=2000 "
                          "--param mode=atomic --repetitions 2 ";
  auto r = run_cmbench(sel + "--min-time 0.05 --out " + (s / "many"));
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  auto once = run_cmbench(sel + "--min-time 0 --out " + (s / "once"));
  ASSERT_EQ(once.status, 0) << once.err << once.out;
  int passes = 0;
  for (const char* side : {"base", "head"}) {
    const auto doc = read_json(s / ("many/" + std::string(side) + ".json"));
    EXPECT_EQ(doc["options"]["min_time_s"], 0.05);
    ASSERT_EQ(doc["cells"].size(), 1u);
    const auto& cell = doc["cells"][0];
    EXPECT_GT(cell["passes"].get<int>(), 1) << side;
    if (passes == 0) passes = cell["passes"].get<int>();
    EXPECT_EQ(cell["passes"], passes) << side << ": both sides run the same passes";
    for (const auto& rep : cell["repetitions"]) {
      EXPECT_EQ(rep["metrics"]["passes"], passes) << side;
      EXPECT_EQ(rep["metrics"]["operations"].get<uint64_t>(), 4000u * static_cast<uint64_t>(passes)) << side;
    }
    EXPECT_EQ(read_json(s / ("once/" + std::string(side) + ".json"))["cells"][0]["passes"], 1) << side;
  }
  expect_bad_input(std::string("ab --base ") + CMBENCH_BINARY + " --head " + CMBENCH_BINARY + " --min-time -3",
                   "--min-time: '-3' is not accepted; accepted: seconds from 0 to 60");
}

// --interleave (the default): every cell's warm-up first, then one
// repetition of each cell a round; --no-interleave: each cell's repetitions
// back to back. The file lists the cells in the matrix's order either way.
TEST(Interleave, RepetitionsRunInRoundsAndTheFileKeepsTheMatrixOrder) {
  Scratch s("interleave");
  const std::string sel = "run --workloads counter,pingpong --models fiber,uv --param units=2 "
                          "--param increments=500 --param rounds=500 --param mode=atomic "
                          "--repetitions 3 --min-time 0 ";
  auto listed = run_cmbench(sel + "--list-cells");
  ASSERT_EQ(listed.status, 0) << listed.err;
  for (const bool interleave : {false, true}) {
    const std::string file = s / (interleave ? "rounds.json" : "cells.json");
    auto r = run_cmbench(sel + (interleave ? "" : "--no-interleave ") + "--out " + file);
    ASSERT_EQ(r.status, 0) << r.err << r.out;
    const auto doc = read_json(file);
    std::string names;
    // Each repetition's (start, round, cell); the warm-ups' starts.
    std::vector<std::tuple<double, int, size_t>> starts;
    double last_warmup = 0;
    for (size_t i = 0; i < doc["cells"].size(); ++i) {
      const auto& c = doc["cells"][i];
      names += c["name"].get<std::string>() + "\n";
      ASSERT_EQ(c["repetitions"].size(), 3u) << c["name"];
      for (const auto& w : c["warmup"]) last_warmup = std::max(last_warmup, w["started_s"].get<double>());
      for (int k = 0; k < 3; ++k) starts.emplace_back(c["repetitions"][k]["started_s"].get<double>(), k, i);
    }
    EXPECT_EQ(names, listed.out);
    ASSERT_GE(doc["cells"].size(), 4u);
    std::sort(starts.begin(), starts.end());
    bool rounds = true, runs = true;  // rounds: round k before k+1; runs: a cell's repetitions together
    for (size_t k = 1; k < starts.size(); ++k) {
      rounds &= std::get<1>(starts[k - 1]) <= std::get<1>(starts[k]);
      if (std::get<2>(starts[k - 1]) != std::get<2>(starts[k])) runs &= std::get<1>(starts[k]) == 0;
    }
    if (interleave) {
      EXPECT_TRUE(rounds) << "each round's repetitions before the next round's";
      EXPECT_LT(last_warmup, std::get<0>(starts.front())) << "every warm-up before the rounds";
      EXPECT_EQ(doc["options"]["interleave"]["order"], "random rounds");
      EXPECT_TRUE(doc["options"]["interleave"]["seed"].is_number_unsigned());
      EXPECT_EQ(doc["options"]["selection"]["interleave"], true);
    } else {
      EXPECT_TRUE(runs) << "each cell's repetitions back to back";
      EXPECT_TRUE(doc["options"]["interleave"].is_null());
    }
  }
}

// Boost.Fiber's work_stealing can be set up once per process, so a
// boost-fiber cell on two threads runs one pass per repetition whatever
// --min-time asks. Before, its second pass failed ("work_stealing can be set
// up once per process"): the scaling preset's prodcons rows at 2 and 4
// threads did, while one pass of them was shorter than the minimum time.
TEST(MinTime, ACellThatCanSetUpItsWorkersOnceRunsOnePass) {
  Scratch s("min-time-once");
  auto r = run_cmbench("run --workloads counter --models boost-fiber --param units=2 --param increments=2000 "
                       "--param mode=atomic --param threads=1,2 --repetitions 2 --min-time 0.05 --out " +
                       (s / "out.json"));
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  const auto doc = read_json(s / "out.json");
  ASSERT_EQ(doc["cells"].size(), 2u);
  for (const auto& cell : doc["cells"]) {
    EXPECT_EQ(cell["outcome"], "ok") << cell["name"];
    const bool several = cell["params"]["threads"] != "1";
    if (several)
      EXPECT_EQ(cell["passes"], 1) << cell["name"];
    else
      EXPECT_GT(cell["passes"].get<int>(), 1) << cell["name"];
  }
}

// --pin auto (the default) pins the one-thread cells and records where;
// --pin off pins none; the choice is kept for --resume.
TEST(Pin, OneThreadCellsArePinnedAndSaySo) {
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  if (CPU_COUNT(&set) < 2) GTEST_SKIP() << "this process may run on one CPU only";
  Scratch s("pin");
  const std::string sel = "run --workloads counter --models uv,fiber,thread,go --param units=2 --param increments=2000 "
                          "--param mode=atomic --param threads=1,0 --param gomaxprocs=1,0 --repetitions 1 --warmup 0 "
                          "--out ";
  for (const std::string pin : {"", "off"}) {
    const std::string out = s / ("out" + pin + ".json");
    auto r = run_cmbench(sel + out + (pin.empty() ? "" : " --pin " + pin));
    ASSERT_EQ(r.status, 0) << r.err << r.out;
    const auto doc = read_json(out);
    ASSERT_EQ(doc["cells"].size(), 6u);  // uv, fiber x2, thread, go x2
    for (const auto& cell : doc["cells"]) {
      EXPECT_EQ(cell["outcome"], "ok") << cell["name"];
      const bool one_thread = cell["model"] == "uv" || (cell["model"] == "fiber" && cell["params"]["threads"] == "1") ||
                              (cell["model"] == "go" && cell["params"]["gomaxprocs"] == "1");
      if (pin.empty() && one_thread)
        EXPECT_EQ(cell.value("pinned", false), true) << cell["name"];
      else
        EXPECT_FALSE(cell.contains("pinned")) << cell["name"];
    }
    EXPECT_EQ(doc["options"]["selection"]["pin"], pin.empty() ? "auto" : pin);
  }
  // Threads that hand the work on one at a time run on one CPU; those that
  // can run side by side (a buffer of one) do not.
  const std::string out = s / "handoff.json";
  auto r = run_cmbench("run --workloads pingpong,prodcons --models thread --param rounds=200 --param messages=200 "
                       "--param producers=1 --param consumers=1 --param capacity=0,1 --repetitions 1 --warmup 0 --out " +
                       out);
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  const auto doc = read_json(out);
  ASSERT_EQ(doc["cells"].size(), 3u);
  for (const auto& cell : doc["cells"]) {
    const bool hands_off = cell["workload"] == "pingpong" || cell["params"]["capacity"] == "0";
    EXPECT_EQ(cell.value("pinned", false), hands_off) << cell["name"];
  }
  // A one-thread server is pinned and its load generator runs on the other
  // CPUs, which the cell notes; a thread server is not pinned, and the
  // kernel places its generator.
  const std::string echo = s / "echo.json";
  r = run_cmbench("run --workloads echo --models uv,go,thread --param connections=2 --param requests=100 "
                  "--param loop=closed --param gomaxprocs=1 --repetitions 1 --warmup 0 --out " + echo);
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  const auto echo_doc = read_json(echo);
  ASSERT_EQ(echo_doc["cells"].size(), 3u);
  for (const auto& cell : echo_doc["cells"]) {
    EXPECT_EQ(cell["outcome"], "ok") << cell["name"];
    const bool one_thread = cell["model"] != "thread";
    EXPECT_EQ(cell.value("pinned", false), one_thread) << cell["name"];
    const auto& notes = cell["notes"];
    EXPECT_EQ(notes.contains("load_generator_cpus"), one_thread) << cell["name"] << " " << notes.dump();
  }
  expect_bad_input("run --pin sometimes", "--pin");
}

// --out: only a regular file or a new path; a device, a FIFO, a folder or a
// symbolic link is refused and left as it was.
TEST(Outputs, SpecialFilesAndLinksAreRefusedAndLeftAlone) {
  Scratch s("out");
  ASSERT_EQ(mkfifo((s / "fifo").c_str(), 0600), 0);
  fs::create_directory(s / "folder");
  write_text(s / "target.json", "keep me");
  fs::create_symlink(s / "target.json", s / "link.json");
  const std::string valid = valid_results();
  struct Case {
    std::string path, says;
  };
  const std::vector<Case> cases = {{"/dev/full", "a character device, not a regular file"},
                                   {"/dev/null", "a character device, not a regular file"},
                                   {s / "fifo", "a FIFO (named pipe), not a regular file"},
                                   {s / "folder", "a directory, not a regular file"},
                                   {s / "link.json", "a symbolic link to " + s / "target.json"}};
  int tried = 0;
  for (const auto& c : cases) {
    for (const std::string& cmd : {"run --workloads counter --models uv --param increments=100 --repetitions 1 --warmup 0 --out " + c.path,
                                  "merge " + valid + " --out " + c.path,
                                  "export " + valid + " --out " + c.path}) {
      auto r = run_cmbench(cmd, kBounded);
      ++tried;
      EXPECT_EQ(r.status, 2) << cmd << "\n" << r.err;
      EXPECT_EQ(lines(r.err), 1u) << cmd << ": " << r.err;
      EXPECT_NE(r.err.find(c.says), std::string::npos) << cmd << ": " << r.err;
    }
  }
  struct stat st {};
  ASSERT_EQ(stat("/dev/full", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode)) << "/dev/full was replaced";
  ASSERT_EQ(lstat((s / "link.json").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode)) << "the link was replaced";
  std::ifstream in(s / "target.json");
  std::string kept((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(kept, "keep me");
  for (const auto& e : fs::directory_iterator(s.dir))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << e.path() << " left behind";
  RecordProperty("outputs_tried", tried);
}

}  // namespace
}  // namespace cmbench

namespace cmbench {
namespace {

namespace fs = std::filesystem;

// Starts `cmbench <args>` in the background (in `cwd` when given), its
// output to /dev/null; `limit_fn` runs in the child before the exec.
template <typename F>
pid_t spawn_cmbench(const std::vector<std::string>& args, const std::vector<std::string>& env, F limit_fn,
                    const std::string& cwd = "") {
  pid_t pid = fork();
  if (pid == 0) {
    for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    limit_fn();
    std::vector<char*> argv = {const_cast<char*>(CMBENCH_BINARY)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(CMBENCH_BINARY, argv.data());
    _exit(127);
  }
  return pid;
}

int exit_status(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::vector<std::string> leftovers(const fs::path& dir) {
  std::vector<std::string> left;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.find(".tmp") != std::string::npos || name.ends_with(".lock")) left.push_back(e.path().string());
  }
  return left;
}

const std::vector<std::string> kSmallMatrix = {
    "run", "--workloads", "counter", "--models", "uv,thread,fiber", "--param", "units=1,2",
    "--param", "increments=100", "--repetitions", "1", "--warmup", "0"};

TEST(Outputs, ASecondWriterOfTheSameFileIsRefused) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("cmbench-writers-{}", getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string out = (dir / "r.json").string();
  // The first run hangs in its cell until it is stopped.
  auto args = kSmallMatrix;
  args.insert(args.end(), {"--timeout", "60", "--out", out});
  pid_t first = spawn_cmbench(args, {"CMBENCH_FAULT=hang"}, [] {});
  for (int i = 0; i < 500 && !fs::exists(out + ".lock"); ++i) usleep(10'000);
  ASSERT_TRUE(fs::exists(out + ".lock"));
  auto second = run_cmbench(fmt::format("run --workloads counter --models uv --param increments=100 "
                                        "--repetitions 1 --warmup 0 --out {}", out));
  EXPECT_EQ(second.status, 2) << second.err;
  EXPECT_EQ(lines(second.err), 1u) << second.err;
  EXPECT_NE(second.err.find(fmt::format("another cmbench (pid {}) is writing this results file", first)),
            std::string::npos)
      << second.err;
  // merge and export refuse to write it as well.
  auto merge = run_cmbench(fmt::format("merge {} --out {}", valid_results(), out));
  EXPECT_EQ(merge.status, 2) << merge.err;
  EXPECT_NE(merge.err.find("is writing this results file"), std::string::npos) << merge.err;
  kill(first, SIGTERM);
  EXPECT_EQ(exit_status(first), 130);
  auto doc = nlohmann::json::parse(std::ifstream(out));
  EXPECT_EQ(doc["schema"], "cmbench-results");
  EXPECT_TRUE(leftovers(dir).empty()) << leftovers(dir)[0];
  fs::remove_all(dir);
}

TEST(Outputs, RunsStartedInTheSameSecondGetFilesOfTheirOwn) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("cmbench-default-out-{}", getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::vector<pid_t> runs;
  for (int i = 0; i < 3; ++i) runs.push_back(spawn_cmbench(kSmallMatrix, {}, [] {}, dir.string()));
  for (pid_t p : runs) EXPECT_EQ(exit_status(p), 0);
  std::set<std::string> files;
  std::set<size_t> sizes;
  for (const auto& e : fs::directory_iterator(dir / "results" / "runs")) {
    files.insert(e.path().filename().string());
    auto doc = nlohmann::json::parse(std::ifstream(e.path()));
    EXPECT_TRUE(doc["complete"].get<bool>()) << e.path();
    sizes.insert(doc["cells"].size());
  }
  EXPECT_EQ(sizes.size(), 1u) << "every run has the whole matrix";
  EXPECT_EQ(files.size(), 3u) << "three runs, three files";
  EXPECT_TRUE(leftovers(dir).empty()) << leftovers(dir)[0];
  fs::remove_all(dir);
}

// A write that fails mid-run (here a file-size limit: EFBIG) stops the run:
// the file keeps its last complete version, the run says so and exits 3,
// and no temporary is left.
TEST(Outputs, AFailedWriteStopsTheRunAndKeepsTheLastGoodFile) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("cmbench-fsize-{}", getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  // The whole matrix's file, to size the limit: half of it.
  auto args = kSmallMatrix;
  args.insert(args.end(), {"--out", (dir / "full.json").string()});
  ASSERT_EQ(exit_status(spawn_cmbench(args, {}, [] {})), 0);
  const auto full = fs::file_size(dir / "full.json");
  const size_t all_cells = nlohmann::json::parse(std::ifstream(dir / "full.json"))["cells"].size();
  const std::string out = (dir / "r.json").string();
  args = kSmallMatrix;
  args.insert(args.end(), {"--out", out});
  const std::string err = (dir / "err.txt").string();
  pid_t run = spawn_cmbench(args, {}, [&] {
    int fd = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    rlimit lim{full / 2, full / 2};
    setrlimit(RLIMIT_FSIZE, &lim);
  });
  EXPECT_EQ(exit_status(run), 3);
  std::ifstream e(err);
  const std::string said((std::istreambuf_iterator<char>(e)), std::istreambuf_iterator<char>());
  EXPECT_NE(said.find("cannot write the results file"), std::string::npos) << said;
  EXPECT_NE(said.find(std::strerror(EFBIG)), std::string::npos) << said;
  auto doc = nlohmann::json::parse(std::ifstream(out));  // the last good file
  EXPECT_FALSE(doc["complete"].get<bool>());
  EXPECT_GT(doc["cells"].size(), 0u);
  EXPECT_LT(doc["cells"].size(), all_cells);
  EXPECT_TRUE(leftovers(dir).empty()) << leftovers(dir)[0];
  fs::remove_all(dir);
}

// The same with a real full disk, where one can be made: a 48 KiB tmpfs in
// a mount namespace of the test's own (root, or a user namespace).
TEST(Outputs, AFullDiskStopsTheRunAndKeepsTheLastGoodFile) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("cmbench-enospc-{}", getpid());
  fs::remove_all(dir);
  fs::create_directories(dir / "disk");
  const std::string copy = (dir / "copy.json").string(), err = (dir / "err.txt").string(),
                    status_file = (dir / "status").string();
  pid_t helper = fork();
  if (helper == 0) {
    if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        mount("tmpfs", (dir / "disk").c_str(), "tmpfs", 0, "size=48k") != 0)
      _exit(77);
    auto args = kSmallMatrix;
    args[6] = "units=1,2,3,4";
    args.insert(args.end(), {"--out", (dir / "disk" / "r.json").string()});
    pid_t run = spawn_cmbench(args, {}, [&] {
      int fd = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 2);
    });
    const int st = exit_status(run);
    write_text(status_file, std::to_string(st));
    // The tmpfs ends with this namespace: keep what is on it, and what else is there.
    fs::copy_file(dir / "disk" / "r.json", copy);
    for (const auto& e : fs::directory_iterator(dir / "disk"))
      if (e.path().filename() != "r.json") write_text((dir / "left.txt").string(), e.path().string());
    _exit(0);
  }
  int hs = 0;
  waitpid(helper, &hs, 0);
  if (WIFEXITED(hs) && WEXITSTATUS(hs) == 77) {
    fs::remove_all(dir);
    GTEST_SKIP() << "cannot mount a tmpfs here (needs CAP_SYS_ADMIN); the file-size test covers the path";
  }
  std::ifstream st(status_file);
  int status = -1;
  st >> status;
  EXPECT_EQ(status, 3);
  std::ifstream e(err);
  const std::string said((std::istreambuf_iterator<char>(e)), std::istreambuf_iterator<char>());
  EXPECT_NE(said.find(std::strerror(ENOSPC)), std::string::npos) << said;
  auto doc = nlohmann::json::parse(std::ifstream(copy));
  EXPECT_FALSE(doc["complete"].get<bool>());
  EXPECT_LT(doc["cells"].size(), 12u);
  EXPECT_FALSE(fs::exists(dir / "left.txt")) << "left on the disk: " << std::ifstream(dir / "left.txt").rdbuf();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cmbench
