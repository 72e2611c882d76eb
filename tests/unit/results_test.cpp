// The results file: written atomically, read back equal, and every kind of
// bad file refused with a one-line error.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "harness/driver/matrix.hpp"
#include "harness/registry/registry.hpp"
#include "harness/results/context.hpp"
#include "harness/results/schema.hpp"
#include "harness/results/results.hpp"

namespace cmbench {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("cmbench-test-" + std::to_string(getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

RepetitionResult fake_rep(double ns_per_op) {
  RepetitionResult r;
  r.outcome = Outcome::ok;
  r.metrics = {{"wall_s", ns_per_op * 1e-4}, {"ns_per_op", ns_per_op}, {"ops_per_s", 1e9 / ns_per_op},
               {"memory_peak_bytes", 1 << 20},
               {"latency_ns", {{"p50", 100}, {"p90", 200}, {"p99", 300}, {"p999", 400}, {"max", 500}}}};
  return r;
}

// The one cell these tests finish: counter/thread at 2 units, by lock.
std::vector<Cell> counter_lock_cells() {
  Selection sel;
  sel.filter = "^counter/thread/units:2/.*mode:lock";
  return expand(sel);
}

TEST(Results, WrittenAndReadBack) {
  TempDir dir;
  auto cells = counter_lock_cells();
  ASSERT_EQ(cells.size(), 1u);
  CellResult r;
  r.cell = &cells[0];
  for (double v : {100.0, 101.0, 99.0}) r.reps.push_back(fake_rep(v));
  finish_cell(r, "Release");
  EXPECT_EQ(r.outcome, Outcome::ok);
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_DOUBLE_EQ(r.aggregates["ns_per_op"]["median"].get<double>(), 100.0);
  EXPECT_DOUBLE_EQ(r.aggregates["latency_p99_ns"]["median"].get<double>(), 300.0);

  nlohmann::json doc = {{"schema", kSchemaName}, {"schema_version", kSchemaVersion},
                        {"context", nlohmann::json::object()}, {"cells", nlohmann::json::array({to_json(r)})}};
  std::string path = (dir.path / "sub" / "run.json").string();
  write_json_atomic(path, doc);
  for (const auto& e : fs::directory_iterator(dir.path / "sub"))
    EXPECT_EQ(e.path().filename(), "run.json") << "left behind: " << e.path();
  auto back = load_results(path);
  EXPECT_EQ(back, doc);
  EXPECT_EQ(back["cells"][0]["params"]["mode"], "lock");
}

TEST(Results, WarningsForUnstableDebugAndSlowFirst) {
  auto cells = counter_lock_cells();
  CellResult r;
  r.cell = &cells[0];
  for (double v : {300.0, 100.0, 130.0, 90.0}) r.reps.push_back(fake_rep(v));
  finish_cell(r, "Debug");
  ASSERT_EQ(r.warnings.size(), 3u);
  EXPECT_NE(r.warnings[0].find("Debug"), std::string::npos);
  EXPECT_NE(r.warnings[1].find("unstable"), std::string::npos);
  EXPECT_NE(r.warnings[2].find("first repetition"), std::string::npos);
}

// The unstable warning says how much the CPU's own speed (ref_loop_ns)
// varied over the same repetitions, where the cell measured it.
TEST(Results, TheUnstableWarningGivesTheCpusOwnSpeed) {
  auto cells = counter_lock_cells();
  CellResult r;
  r.cell = &cells[0];
  for (double v : {100.0, 120.0, 80.0}) {
    r.reps.push_back(fake_rep(v));
    r.reps.back().metrics["ref_loop_ns"] = 1.5e6 * v / 100;  // the machine: as much as the cell
  }
  finish_cell(r, "Release");
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0],
            "unstable: time per operation varies by 20.0% (CV) over 3 repetitions (the CPU's own speed by 20.0%), "
            "above 5%");
  EXPECT_TRUE(r.aggregates.contains("ref_loop_ns"));
  // A cell on several threads: the cores' round trip (ref_cross_cpu_ns) too.
  CellResult m;
  m.cell = &cells[0];
  for (double v : {100.0, 120.0, 80.0}) {
    m.reps.push_back(fake_rep(v));
    m.reps.back().metrics["ref_loop_ns"] = 1.5e6;
    m.reps.back().metrics["ref_cross_cpu_ns"] = v;  // 20% too
  }
  finish_cell(m, "Release");
  ASSERT_EQ(m.warnings.size(), 1u);
  EXPECT_EQ(m.warnings[0],
            "unstable: time per operation varies by 20.0% (CV) over 3 repetitions (the CPU's own speed by 0.0%, the "
            "cores' round trip by 20.0%), above 5%");
}

// When one repetition makes the spread (the rest within 5%), the warning
// says which and by how much; a spread of all of them gets no such clause.
TEST(Results, TheUnstableWarningNamesTheOneRepetitionThatMakesIt) {
  auto cells = counter_lock_cells();
  auto warning = [&](std::initializer_list<double> values) {
    CellResult r;
    r.cell = &cells[0];
    for (double v : values) r.reps.push_back(fake_rep(v));
    finish_cell(r, "Release");
    return r.warnings.empty() ? std::string() : r.warnings[0];
  };
  EXPECT_EQ(warning({100, 102, 130, 99, 100}),
            "unstable: time per operation varies by 12.6% (CV) over 5 repetitions, above 5%; 1.3% without "
            "repetition 3 (+30% from the median)");
  EXPECT_EQ(warning({100, 120, 80, 110, 90}),
            "unstable: time per operation varies by 15.8% (CV) over 5 repetitions, above 5%");
  // Three repetitions leave two: not enough to say.
  EXPECT_EQ(warning({100, 101, 140}), "unstable: time per operation varies by 20.1% (CV) over 3 repetitions, above 5%");
}

TEST(Results, ACellIsNotOkWhenAnyRepetitionIsNot) {
  auto cells = counter_lock_cells();
  CellResult r;
  r.cell = &cells[0];
  r.reps.push_back(fake_rep(100));
  RepetitionResult bad;
  bad.outcome = Outcome::timeout;
  bad.message = "killed";
  r.reps.push_back(bad);
  finish_cell(r, "Release");
  EXPECT_EQ(r.outcome, Outcome::timeout);
  EXPECT_TRUE(r.aggregates.empty()) << "no numbers from a cell that was not ok";
}

// A repetition whose timed region took `wall` seconds and `cpu` seconds of CPU.
RepetitionResult timed_rep(double wall, double cpu) {
  RepetitionResult r = fake_rep(wall * 1e4);
  r.metrics["wall_s"] = wall;
  r.metrics["cpu_user_s"] = cpu * 0.9;
  r.metrics["cpu_sys_s"] = cpu * 0.1;
  return r;
}

std::vector<std::string> lost_time_warnings(const std::vector<RepetitionResult>& reps) {
  static auto cells = counter_lock_cells();
  CellResult r;
  r.cell = &cells[0];
  r.reps = reps;
  finish_cell(r, "Release");
  std::vector<std::string> lost;
  for (const auto& w : r.warnings)
    if (w.find("stopped") != std::string::npos) lost.push_back(w);
  return lost;
}

TEST(Results, ARepetitionThatLostWallTimeWithoutCpuTimeIsFlagged) {
  // Three seconds of wall time where the others took one, with the same CPU
  // time: stopped or starved, whether the cell is CPU-bound (cpu ~ wall) or
  // blocks by design (cpu << wall, as sleepers).
  for (double cpu : {0.95, 0.02}) {
    auto lost = lost_time_warnings({timed_rep(1.0, cpu), timed_rep(3.0, cpu), timed_rep(1.02, cpu)});
    ASSERT_EQ(lost.size(), 1u) << cpu;
    EXPECT_NE(lost[0].find("repetition 2 took 3.0x the other repetitions' wall time with 1.0x their CPU time"),
              std::string::npos)
        << lost[0];
  }
  // A repetition that is slower because it did more work (its CPU grew with
  // its wall time: contention, two threads spinning) is not flagged here.
  EXPECT_TRUE(lost_time_warnings({timed_rep(1.0, 0.9), timed_rep(3.0, 2.8), timed_rep(1.0, 0.9)}).empty());
  // Ordinary noise is not flagged.
  EXPECT_TRUE(lost_time_warnings({timed_rep(1.0, 0.9), timed_rep(1.3, 0.9), timed_rep(1.1, 0.95)}).empty());
  // A stop seen by the runner is flagged whatever the times say.
  auto stopped = timed_rep(1.0, 0.9);
  stopped.stopped_s = 0.5;
  stopped.elapsed_s = 1.6;
  auto lost = lost_time_warnings({timed_rep(1.0, 0.9), stopped});
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_NE(lost[0].find("repetition 2 was stopped (SIGSTOP or SIGTSTP) for 0.50 s of its 1.60 s"),
            std::string::npos)
      << lost[0];
}

std::string load_error(const std::string& path) {
  try {
    load_results(path);
  } catch (const std::invalid_argument& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos);
    return msg;
  }
  ADD_FAILURE() << "expected an error";
  return {};
}

TEST(Results, CarryEveryModelsTraitsAndEveryWorkloadsUnitsParameter) {
  // The report selects models by these (report/analysis.cpp), never by name.
  auto doc = new_results_doc(collect_context(), {"cmbench", "run"}, nlohmann::json::object());
  for (const auto* m : all_models()) {
    SCOPED_TRACE(m->name);
    const auto& j = doc["models"][m->name];
    EXPECT_EQ(j["kernel_scheduled"], m->kernel_scheduled);
    EXPECT_EQ(j["process_tree"], m->process_tree);
    EXPECT_EQ(j["unit_ceiling"], m->unit_ceiling);
    EXPECT_EQ(j["unit_budget"], m->unit_budget);
    EXPECT_EQ(j["workers_param"], m->workers_param);
  }
  for (const auto* w : all_workloads()) EXPECT_EQ(doc["workloads"][w->name]["units_param"], w->units_param);
  ASSERT_TRUE(doc["context"]["cores"].is_number_integer());
  EXPECT_GT(doc["context"]["cores"].get<int>(), 0);
  // A kernel-scheduled model holds fewer units than the others (the kernel's
  // limits), and only the M:N runtimes have a workers parameter.
  EXPECT_TRUE(doc["models"]["thread"]["kernel_scheduled"].get<bool>());
  EXPECT_FALSE(doc["models"]["thread"]["process_tree"].get<bool>());
  EXPECT_TRUE(doc["models"]["process"]["process_tree"].get<bool>());
  EXPECT_LT(doc["models"]["process"]["unit_ceiling"].get<int64_t>(),
            doc["models"]["fiber"]["unit_ceiling"].get<int64_t>());
  EXPECT_EQ(doc["models"]["fiber"]["workers_param"], "threads");
  EXPECT_EQ(doc["models"]["go"]["workers_param"], "gomaxprocs");
  EXPECT_EQ(doc["models"]["uv"]["workers_param"], "");
  EXPECT_EQ(doc["workloads"]["prodcons"]["units_param"], "producers");
  // The schema accepts them as written, and names a trait of the wrong type.
  EXPECT_NO_THROW(validate_results(doc, "new.json"));
  auto bad = doc;
  bad["models"]["thread"]["kernel_scheduled"] = "yes";
  try {
    validate_results(bad, "bad.json");
    ADD_FAILURE() << "a kernel_scheduled that is not a boolean was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("models.thread.kernel_scheduled"), std::string::npos) << e.what();
  }
  bad = doc;
  bad["workloads"]["prodcons"]["units_param"] = 3;
  EXPECT_THROW(validate_results(bad, "bad.json"), std::invalid_argument);
  // The free page reporting record, when there is one, has its fields' types.
  bad = doc;
  bad["context"]["free_page_reporting"] = {{"on", true}, {"page_reporting_order", 9}, {"max_order", 10}};
  EXPECT_NO_THROW(validate_results(bad, "ok.json"));
  bad["context"]["free_page_reporting"]["on"] = "yes";
  try {
    validate_results(bad, "bad.json");
    ADD_FAILURE() << "a free_page_reporting.on that is not a boolean was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("context.free_page_reporting.on"), std::string::npos) << e.what();
  }
  bad["context"]["free_page_reporting"] = {{"on", true}, {"page_reporting_order", "9"}};
  EXPECT_THROW(validate_results(bad, "bad.json"), std::invalid_argument);
}

// Only the one setting in which an idle vCPU halts without polling: another
// driver, guest polling, or no record at all says nothing about wake-ups.
TEST(Context, IdleCpusHaltAtOnceOnlyWithHaltpollAndNoGuestPolling) {
  EXPECT_TRUE(idle_cpus_halt_at_once({{"cpuidle", "haltpoll, guest_halt_poll_ns=0"}}));
  EXPECT_FALSE(idle_cpus_halt_at_once({{"cpuidle", "haltpoll, guest_halt_poll_ns=200000"}}));
  EXPECT_FALSE(idle_cpus_halt_at_once({{"cpuidle", "haltpoll"}}));
  EXPECT_FALSE(idle_cpus_halt_at_once({{"cpuidle", "intel_idle"}}));
  EXPECT_FALSE(idle_cpus_halt_at_once({{"cpuidle", nullptr}}));
  EXPECT_FALSE(idle_cpus_halt_at_once(nlohmann::json::object()));
  EXPECT_FALSE(idle_cpus_halt_at_once(nullptr));
}

// The machine's steadiness comes from the ok cells' speed loop over 3
// repetitions or more; the others, and files without the loop, say nothing.
TEST(Context, MachineSteadinessIsTheSpeedLoopsCvOverTheCellsThatMeasuredIt) {
  auto cell = [](const char* outcome, size_t reps, double loop_cv) {
    nlohmann::json c = {{"outcome", outcome}, {"repetitions", nlohmann::json::array()}};
    for (size_t i = 0; i < reps; ++i) c["repetitions"].push_back(nlohmann::json::object());
    c["aggregates"] = {{"ns_per_op", {{"cv", 0.5}}}};
    if (loop_cv >= 0) c["aggregates"]["ref_loop_ns"] = {{"cv", loop_cv}};
    return c;
  };
  nlohmann::json doc = {{"cells", nlohmann::json::array()}};
  EXPECT_FALSE(machine_steadiness(doc).has_value());
  EXPECT_FALSE(machine_steadiness(nullptr).has_value());
  // Not counted: a failed cell, 2 repetitions, no loop figures.
  doc["cells"].push_back(cell("failed", 5, 0.50));
  doc["cells"].push_back(cell("ok", 2, 0.50));
  doc["cells"].push_back(cell("ok", 5, -1));
  EXPECT_FALSE(machine_steadiness(doc).has_value());
  for (double cv : {0.010, 0.020, 0.025, 0.040, 0.050, 0.060, 0.011, 0.012, 0.013, 0.100})
    doc["cells"].push_back(cell("ok", 5, cv));
  const auto s = machine_steadiness(doc);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->cells, 10u);
  EXPECT_DOUBLE_EQ(s->median_cv, (0.020 + 0.025) / 2);
  EXPECT_DOUBLE_EQ(s->p90_cv, 0.060);  // the 9th of 10 in order
  EXPECT_EQ(s->above, 4u);             // 0.04, 0.05, 0.06, 0.1
  EXPECT_FALSE(machine_unsteady(*s));
  EXPECT_EQ(machine_steadiness_text(*s),
            "the speed loop's CV over a cell's repetitions: median 2.2%, 90th percentile 6.0%; above 3% in 4 of 10 "
            "cells");
  // Three more loud cells move the median above 3%: the note names the figures.
  doc["cells"].push_back(cell("ok", 3, 0.09));
  doc["cells"].push_back(cell("ok", 3, 0.08));
  doc["cells"].push_back(cell("ok", 3, 0.07));
  const auto loud = machine_steadiness(doc);
  ASSERT_TRUE(loud.has_value());
  EXPECT_TRUE(machine_unsteady(*loud));
  const std::string note = machine_steadiness_note(*loud);
  EXPECT_NE(note.find("a CV of 4.0% at the median cell, and above 3% in 7 of 13 cells"), std::string::npos) << note;
}

// Free page reporting is recorded only with a balloon that offers it (bit 5
// of the virtio features) and a kernel order to read; it is on only while
// that order is one the buddy allocator has.
TEST(Context, FreePageReportingNeedsTheBalloonFeatureAndAnOrderItCanReach) {
  const std::string with = "0110010100000000", without = "0110000100000000";
  EXPECT_EQ(describe_free_page_reporting(with, "9", 10),
            (nlohmann::json{{"on", true}, {"page_reporting_order", 9}, {"max_order", 10}}));
  EXPECT_EQ(describe_free_page_reporting(with, "10", 10)["on"], true);
  EXPECT_EQ(describe_free_page_reporting(with, "11", 10)["on"], false);
  EXPECT_TRUE(describe_free_page_reporting(without, "9", 10).is_null());
  EXPECT_TRUE(describe_free_page_reporting("0110", "9", 10).is_null());
  EXPECT_TRUE(describe_free_page_reporting("", "9", 10).is_null());
  EXPECT_TRUE(describe_free_page_reporting(with, "", 10).is_null());
  EXPECT_TRUE(describe_free_page_reporting(with, "9x", 10).is_null());
  EXPECT_TRUE(describe_free_page_reporting(with, "9", -1).is_null());

  const nlohmann::json on = {{"free_page_reporting", describe_free_page_reporting(with, "9", 10)}};
  const nlohmann::json off = {{"free_page_reporting", describe_free_page_reporting(with, "11", 10)}};
  EXPECT_TRUE(host_reclaims_free_memory(on));
  EXPECT_FALSE(host_reclaims_free_memory(off));
  EXPECT_FALSE(host_reclaims_free_memory({{"free_page_reporting", nullptr}}));
  EXPECT_FALSE(host_reclaims_free_memory(nlohmann::json::object()));
  EXPECT_FALSE(host_reclaims_free_memory(nullptr));
  // The note names the command that turns it off: one order above the largest.
  EXPECT_NE(host_reclaim_note(on).find("echo 11 > /sys/module/page_reporting/parameters/page_reporting_order"),
            std::string::npos);
  EXPECT_EQ(free_page_reporting_text(on), "on: the guest hands free blocks of order 9 and up back to its host");
  EXPECT_EQ(free_page_reporting_text(off), "off: page_reporting_order 11 is above the largest order, 10");
  EXPECT_EQ(free_page_reporting_text({{"free_page_reporting", nullptr}}), "none");
  EXPECT_EQ(free_page_reporting_text(nlohmann::json::object()), "not recorded");
  // A record edited by hand does not throw: a field of the wrong type reads
  // as off, or as -1.
  EXPECT_FALSE(host_reclaims_free_memory({{"free_page_reporting", {{"on", "yes"}}}}));
  EXPECT_EQ(free_page_reporting_text({{"free_page_reporting", {{"page_reporting_order", "9"}}}}),
            "off: page_reporting_order -1 is above the largest order, -1");
}

TEST(Results, BadFilesAreRefused) {
  TempDir dir;
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir.path / name) << text;
    return (dir.path / name).string();
  };
  EXPECT_NE(load_error((dir.path / "missing.json").string()).find("cannot open"), std::string::npos);
  EXPECT_NE(load_error(write("trunc.json", "{\"schema\": \"cmbench-res")).find("not JSON"),
            std::string::npos);
  EXPECT_NE(load_error(write("other.json", "{\"hello\": 1}")).find("not a cmbench results file"),
            std::string::npos);
  EXPECT_NE(load_error(write("newer.json", "{\"schema\": \"cmbench-results\", \"schema_version\": 99, \"cells\": []}"))
                .find("newer than this cmbench reads"),
            std::string::npos);
  EXPECT_NE(load_error(write("nocells.json", "{\"schema\": \"cmbench-results\", \"schema_version\": 1}"))
                .find("no \"cells\""),
            std::string::npos);
}

}  // namespace
}  // namespace cmbench
