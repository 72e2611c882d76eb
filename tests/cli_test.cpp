// The command line as a user meets it: help with defaults, the listing, and
// bad input refused with one line naming the flag, exit status 2, before
// anything runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

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
