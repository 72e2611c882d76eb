// The verdict rules of report/verdicts.cpp, each fed a run that supports its
// claim, one that refutes it and one that lacks the cells; and the figures
// they stand on (the idle fit, the core-scaling sweep).
#include <gtest/gtest.h>

#include <cmath>

#include "harness/results/context.hpp"
#include "report/analysis.hpp"
#include "report/verdicts.hpp"

namespace {

using namespace cmbench::report;
using nlohmann::json;

// A results file built cell by cell: every metric goes into the cell's
// aggregates (as a median over three repetitions that agree) and into its
// one repetition's metrics.
class RunBuilder {
 public:
  RunBuilder() {
    doc_ = {{"schema", "cmbench-results"}, {"schema_version", 1},     {"models", json::object()},
            {"cells", json::array()},      {"context", {{"cores_available", 2}}}};
  }
  // A model with CONTRACTS.md's traits; `process` gives it the trait that
  // tells processes from threads.
  RunBuilder& model(const std::string& name, bool kernel, const std::string& workers_param, bool process = false) {
    doc_["models"][name] = {{"kernel_scheduled", kernel},
                            {"unit_ceiling", kernel ? 32000 : 1000000},
                            {"workers_param", workers_param},
                            {"process_tree", process}};
    return *this;
  }
  RunBuilder& cell(const std::string& workload, const std::string& model, const json& params, const json& metrics,
                   const std::string& outcome = "ok", const std::string& message = "", const json& notes = json::object()) {
    std::string name = workload + "/" + model;
    for (const auto& [k, v] : params.items()) name += "/" + k + ":" + v.get<std::string>();
    json agg = json::object(), reps = json::object();
    if (outcome == "ok")
      for (const auto& [k, v] : metrics.items()) {
        agg[k] = {{"median", v}, {"min", v}, {"max", v}, {"n", 3}, {"cv", 0}};
        reps[k] = v;
      }
    doc_["cells"].push_back({{"name", name},
                             {"workload", workload},
                             {"model", model},
                             {"params", params},
                             {"operation", "operation"},
                             {"outcome", outcome},
                             {"message", message},
                             {"notes", notes},
                             {"aggregates", agg},
                             {"repetitions", json::array({{{"outcome", outcome}, {"metrics", reps}}})}});
    return *this;
  }
  RunBuilder& cores(int n) {
    doc_["context"]["cores_available"] = n;
    return *this;
  }
  RunBuilder& free_page_reporting(bool on) {
    doc_["context"]["free_page_reporting"] = {{"on", on}, {"page_reporting_order", on ? 9 : 11}, {"max_order", 10}};
    return *this;
  }
  RunBuilder& cpuidle(const std::string& driver) {
    doc_["context"]["cpuidle"] = driver;
    return *this;
  }
  // Marks the workload's cells of kernel-scheduled models as run pinned.
  RunBuilder& pinned(const std::string& workload) {
    for (auto& c : doc_["cells"])
      if (c["workload"] == workload && (c["model"] == "process" || c["model"] == "thread")) c["pinned"] = true;
    return *this;
  }
  ReportData data() const { return build_report_data({Run{"run.json", "", 0, doc_}}, "/nonexistent"); }

 private:
  json doc_;
};

Verdict verdict_of(const ReportData& d, const std::string& id) {
  auto all = compute_verdicts(d, d.runs.front(), {});
  for (const auto& v : all.verdicts)
    if (v.id == id) return v;
  ADD_FAILURE() << "no verdict " << id;
  return {};
}

bool advises(const ReportData& d, const std::string& model, bool pick, const std::string& words) {
  for (const auto& a : compute_verdicts(d, d.runs.front(), {}).advice)
    if (a.model == model && a.pick == pick && a.when.find(words) != std::string::npos) return true;
  return false;
}

#define EXPECT_FINDING(d, id, expected)                                             \
  do {                                                                              \
    auto v_ = verdict_of(d, id);                                                    \
    EXPECT_EQ(finding_text(v_.finding), finding_text(expected)) << v_.evidence;     \
  } while (0)

RunBuilder kinds() {
  RunBuilder b;
  b.model("process", true, "", true).model("thread", true, "").model("fiber", false, "threads").model("uv", false, "");
  return b;
}

// spawn's time and memory per unit and pingpong's round trip, per model.
RunBuilder costs(double process_ns, double thread_ns, double fiber_ns, double process_mem, double thread_mem,
                 double fiber_mem, double process_rt, double thread_rt, double fiber_rt) {
  RunBuilder b = kinds();
  json n = {{"units", "1000"}};
  b.cell("spawn", "process", n, {{"ns_per_op", process_ns}, {"memory_per_unit_bytes", process_mem}})
      .cell("spawn", "thread", n, {{"ns_per_op", thread_ns}, {"memory_per_unit_bytes", thread_mem}})
      .cell("spawn", "fiber", n, {{"ns_per_op", fiber_ns}, {"memory_per_unit_bytes", fiber_mem}})
      .cell("pingpong", "process", {{"rounds", "1000"}}, {{"latency_p50_ns", process_rt}})
      .cell("pingpong", "thread", {{"rounds", "1000"}}, {{"latency_p50_ns", thread_rt}})
      .cell("pingpong", "fiber", {{"rounds", "1000"}}, {{"latency_p50_ns", fiber_rt}});
  return b;
}

TEST(Verdicts, ProcessesCostTheMost) {
  EXPECT_FINDING(costs(100e3, 10e3, 300, 150e3, 12e3, 4e3, 6000, 5000, 100).data(), "processes", Finding::supports);
  EXPECT_FINDING(costs(1e3, 10e3, 300, 1e3, 12e3, 4e3, 60, 5000, 100).data(), "processes", Finding::refutes);
  // Heaviest to create, but a round trip cheaper than a thread's.
  EXPECT_FINDING(costs(100e3, 10e3, 300, 150e3, 12e3, 4e3, 4000, 5000, 100).data(), "processes", Finding::qualifies);
  EXPECT_FINDING(kinds().data(), "processes", Finding::not_measured);
  EXPECT_TRUE(advises(costs(100e3, 10e3, 300, 150e3, 12e3, 4e3, 6000, 5000, 100).data(), "process", false, "many units"));
}

TEST(Verdicts, ThreadsCostLessButStillMuch) {
  EXPECT_FINDING(costs(100e3, 10e3, 300, 150e3, 12e3, 1e3, 6000, 5000, 100).data(), "threads", Finding::supports);
  // Dearer than processes everywhere.
  EXPECT_FINDING(costs(1e3, 10e3, 300, 1e3, 12e3, 1e3, 600, 5000, 100).data(), "threads", Finding::refutes);
  // Cheaper than processes, and never four times a fiber.
  EXPECT_FINDING(costs(100e3, 1e3, 300, 150e3, 2e3, 1e3, 6000, 200, 100).data(), "threads", Finding::refutes);
  EXPECT_FINDING(kinds().data(), "threads", Finding::not_measured);
}

// Where idle vCPUs halt at once, the kernel-scheduled round trips are mostly
// the hypervisor's: the two verdicts that stand on them say so, the same
// finding otherwise.
// On a VM that hands freed memory back to its host, spawn's times are partly
// the host's page faults: the verdicts that stand on them say so, and only
// while reporting is on.
TEST(Verdicts, SpawnTimesOnAVmThatHandsFreedMemoryBackCarryACaveat) {
  const auto plain = costs(100e3, 10e3, 300, 150e3, 12e3, 1e3, 6000, 5000, 100);
  auto on = plain;
  on.free_page_reporting(true);
  auto off = plain;
  off.free_page_reporting(false);
  const json context = {{"free_page_reporting", {{"on", true}, {"page_reporting_order", 9}, {"max_order", 10}}}};
  for (const char* id : {"processes", "threads"}) {
    const auto a = verdict_of(plain.data(), id), b = verdict_of(on.data(), id), c = verdict_of(off.data(), id);
    EXPECT_EQ(b.finding, a.finding) << id;
    EXPECT_EQ(b.evidence, a.evidence + " " + cmbench::host_reclaim_note(context)) << id;
    EXPECT_EQ(c.evidence, a.evidence) << id;
  }
}

TEST(Verdicts, RoundTripsOnAVmWhoseIdleCpusHaltAtOnceCarryACaveat) {
  const auto plain = costs(100e3, 10e3, 300, 150e3, 12e3, 1e3, 6000, 5000, 100);
  auto halting = plain;
  halting.cpuidle("haltpoll, guest_halt_poll_ns=0");
  auto polling = plain;
  polling.cpuidle("haltpoll, guest_halt_poll_ns=200000");
  for (const char* id : {"processes", "threads"}) {
    const auto a = verdict_of(plain.data(), id), b = verdict_of(halting.data(), id), c = verdict_of(polling.data(), id);
    EXPECT_EQ(b.finding, a.finding) << id;
    EXPECT_EQ(b.evidence, a.evidence + " " + cmbench::kHaltAtOnceNote) << id;
    EXPECT_EQ(c.evidence, a.evidence) << id;
  }
  // Without a round trip in the run, nothing to caveat.
  auto spawn_only = kinds().cpuidle("haltpoll, guest_halt_poll_ns=0");
  spawn_only.cell("spawn", "process", {{"units", "1000"}}, {{"ns_per_op", 100e3}})
      .cell("spawn", "thread", {{"units", "1000"}}, {{"ns_per_op", 10e3}})
      .cell("spawn", "fiber", {{"units", "1000"}}, {{"ns_per_op", 300}});
  EXPECT_EQ(verdict_of(spawn_only.data(), "threads").evidence.find("hypervisor"), std::string::npos);
  // Round trips with both units on one CPU (run --pin auto) are the kernel's
  // switch, on any VM: they say so, and carry no hypervisor caveat.
  auto pinned = halting;
  pinned.pinned("pingpong");
  for (const char* id : {"processes", "threads"}) {
    const auto a = verdict_of(plain.data(), id), p = verdict_of(pinned.data(), id);
    EXPECT_EQ(p.finding, a.finding) << id;
    EXPECT_EQ(p.evidence.find("hypervisor"), std::string::npos) << id;
    EXPECT_NE(p.evidence.find("both units on one CPU"), std::string::npos) << p.evidence;
  }
}

RunBuilder idle(double uv_slope, double thread_slope) {
  RunBuilder b = kinds();
  for (int c : {1000, 10000, 50000}) {
    json p = {{"connections", std::to_string(c)}};
    b.cell("idle", "uv", p, {{"memory_parked_bytes", 4e6 + uv_slope * c}, {"ns_per_op", 1}});
    if (c < 50000)
      b.cell("idle", "thread", p, {{"memory_parked_bytes", 4e6 + thread_slope * c}, {"ns_per_op", 1}});
    else
      b.cell("idle", "thread", p, {}, "limit", "pthread_create: Resource temporarily unavailable");
  }
  return b;
}

void set_lines(ReportData& d, int uv, int others) {
  for (auto& w : d.workloads)
    for (auto& [m, loc] : w.lines_of_code) loc = m == "uv" ? uv : others;
}

TEST(Verdicts, CallbacksNeedLittleMemoryButMoreCode) {
  auto d = idle(200, 20000).data();
  set_lines(d, 150, 100);
  EXPECT_FINDING(d, "callbacks", Finding::supports);
  EXPECT_TRUE(advises(d, "uv", true, "idle connections"));
  EXPECT_TRUE(advises(d, "uv", false, "straight-line code"));
  auto heavy = idle(15000, 20000).data();
  set_lines(heavy, 80, 100);
  EXPECT_FINDING(heavy, "callbacks", Finding::refutes);
  // Little memory, but no more code than the others.
  auto terse = idle(200, 20000).data();
  set_lines(terse, 100, 100);
  EXPECT_FINDING(terse, "callbacks", Finding::qualifies);
  EXPECT_FINDING(kinds().data(), "callbacks", Finding::not_measured);
}

RunBuilder spawn(const std::string& fiber_top, bool fiber_limit, bool thread_limit) {
  RunBuilder b = kinds();
  b.cell("spawn", "fiber", {{"units", "1000"}}, {{"ns_per_op", 300}});
  if (fiber_limit)
    b.cell("spawn", "fiber", {{"units", fiber_top}}, {}, "limit", "mmap: Cannot allocate memory");
  else
    b.cell("spawn", "fiber", {{"units", fiber_top}}, {{"ns_per_op", 300}});
  b.cell("spawn", "thread", {{"units", "1000"}}, {{"ns_per_op", 10000}});
  if (thread_limit)
    b.cell("spawn", "thread", {{"units", "100000"}}, {}, "limit", "pthread_create: Resource temporarily unavailable",
           {{"reached", 32051}});
  else
    b.cell("spawn", "thread", {{"units", "100000"}}, {{"ns_per_op", 10000}});
  return b;
}

TEST(Verdicts, MillionsFitWhereThreadsStop) {
  EXPECT_FINDING(spawn("1000000", false, true).data(), "lightweight", Finding::supports);
  EXPECT_TRUE(advises(spawn("1000000", false, true).data(), "thread", false, "32,051"));
  EXPECT_TRUE(advises(spawn("1000000", false, true).data(), "fiber", true, "1,000,000"));
  // The fiber ran out at 10,000: below where threads stop.
  EXPECT_FINDING(spawn("10000", true, true).data(), "lightweight", Finding::refutes);
  // The run went to 1,000,000 for neither.
  EXPECT_FINDING(spawn("100000", false, false).data(), "lightweight", Finding::refutes);
  EXPECT_FINDING(spawn("300000", false, true).data(), "lightweight", Finding::qualifies);
  EXPECT_FINDING(kinds().data(), "lightweight", Finding::not_measured);
}

RunBuilder blocking(double go_p99, double fiber_p99) {
  RunBuilder b = kinds();
  b.model("go", false, "gomaxprocs");
  json p = {{"blockers", "2"}, {"delay_us", "1000"}, {"offload", "inline"}};
  b.cell("blocking", "go", p, {{"latency_p99_ns", go_p99}, {"ns_per_op", 1}})
      .cell("blocking", "fiber", p, {{"latency_p99_ns", fiber_p99}, {"ns_per_op", 1}})
      .cell("blocking", "thread", p, {{"latency_p99_ns", 20e3}, {"ns_per_op", 1}});
  // The pooled cells do not count: the claim is about blocking inline.
  json pool = {{"blockers", "2"}, {"delay_us", "1000"}, {"offload", "pool"}};
  b.cell("blocking", "fiber", pool, {{"latency_p99_ns", 10e3}, {"ns_per_op", 1}});
  return b;
}

TEST(Verdicts, GoroutinesYieldOnBlockingCalls) {
  EXPECT_FINDING(blocking(20e3, 30e3).data(), "yield", Finding::supports);
  EXPECT_FINDING(blocking(20e3, 1.1e6).data(), "yield", Finding::qualifies);
  EXPECT_TRUE(advises(blocking(20e3, 1.1e6).data(), "fiber", false, "offload"));
  EXPECT_FINDING(blocking(0.9e6, 1.1e6).data(), "yield", Finding::refutes);
  EXPECT_FINDING(kinds().data(), "yield", Finding::not_measured);
}

RunBuilder fairness(double fiber_max_ms, double thread_max_ms) {
  RunBuilder b = kinds();
  json p = {{"hogs", "2"}, {"work_ms", "50"}, {"yield", "never"}};
  b.cell("fairness", "fiber", p, {{"bystander_max_latency_ns", fiber_max_ms * 1e6}, {"jain_index", 0.5}, {"ns_per_op", 1}})
      .cell("fairness", "thread", p, {{"bystander_max_latency_ns", thread_max_ms * 1e6}, {"jain_index", 0.99}, {"ns_per_op", 1}})
      // Hogs that yield every slice do not count.
      .cell("fairness", "fiber", {{"hogs", "2"}, {"work_ms", "50"}, {"yield", "slice"}},
            {{"bystander_max_latency_ns", 1e6}, {"ns_per_op", 1}});
  return b;
}

TEST(Verdicts, CooperativeSchedulingStarvesOthers) {
  EXPECT_FINDING(fairness(50, 4).data(), "starve", Finding::supports);
  EXPECT_FINDING(fairness(2, 4).data(), "starve", Finding::refutes);
  EXPECT_FINDING(fairness(50, 40).data(), "starve", Finding::qualifies);
  EXPECT_FINDING(kinds().data(), "starve", Finding::not_measured);
}

RunBuilder counter(double message_ns) {
  RunBuilder b = kinds();
  for (const auto& [mode, ns] : {std::pair<std::string, double>{"lock", 30}, {"atomic", 8}, {"message", message_ns}})
    b.cell("counter", "thread", {{"units", "2"}, {"mode", mode}}, {{"ns_per_op", ns}});
  return b;
}

TEST(Verdicts, SharingByCommunicatingCostsLittleMore) {
  EXPECT_FINDING(counter(50).data(), "communicate", Finding::supports);
  EXPECT_FINDING(counter(400).data(), "communicate", Finding::refutes);
  EXPECT_FINDING(counter(130).data(), "communicate", Finding::qualifies);
  EXPECT_FINDING(kinds().data(), "communicate", Finding::not_measured);
}

RunBuilder sweep(double ops_at_2, int cores) {
  RunBuilder b = kinds();
  b.cores(cores);
  for (const auto& [threads, ops] : {std::pair<std::string, double>{"1", 1e6}, {"2", ops_at_2}, {"4", 0.5e6}})
    b.cell("prodcons", "fiber", {{"producers", "4"}, {"threads", threads}}, {{"ops_per_s", ops}, {"ns_per_op", 1e9 / ops}});
  return b;
}

TEST(Verdicts, LightweightThreadsDoNotDependOnCores) {
  EXPECT_FINDING(sweep(1.05e6, 2).data(), "cores", Finding::supports);
  EXPECT_FINDING(sweep(1.9e6, 2).data(), "cores", Finding::refutes);
  EXPECT_TRUE(advises(sweep(1.9e6, 2).data(), "fiber", true, "cores to use"));
  // With one core, two and four workers only measure oversubscription.
  auto one = verdict_of(sweep(1.9e6, 1).data(), "cores");
  EXPECT_EQ(one.finding, Finding::not_measured);
  EXPECT_NE(one.evidence.find("oversubscription"), std::string::npos) << one.evidence;
  EXPECT_FINDING(kinds().data(), "cores", Finding::not_measured);
}

TEST(Verdicts, AreOnePerClaimInTheNotesOrder) {
  auto all = compute_verdicts(kinds().data(), kinds().data().runs.front(), {});
  std::vector<std::string> ids;
  for (const auto& v : all.verdicts) ids.push_back(v.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"processes", "threads", "callbacks", "lightweight", "yield", "starve",
                                           "communicate", "cores"}));
  for (const auto& v : all.verdicts) EXPECT_EQ(finding_text(v.finding), "not measured in this run");
}

TEST(FitLine, RecoversALineAndItsFit) {
  auto f = fit_line({1000, 10000, 50000}, {4e6 + 200 * 1000, 4e6 + 200 * 10000, 4e6 + 200 * 50000});
  ASSERT_TRUE(f);
  EXPECT_NEAR(f->slope, 200, 1e-9);
  EXPECT_NEAR(f->intercept, 4e6, 1e-3);
  EXPECT_NEAR(f->r2, 1, 1e-12);
  auto noisy = fit_line({1, 2, 3, 4}, {1, 3, 2, 4});
  ASSERT_TRUE(noisy);
  EXPECT_NEAR(noisy->slope, 0.8, 1e-12);
  EXPECT_NEAR(noisy->r2, 0.64, 1e-12);
  EXPECT_FALSE(fit_line({5, 5}, {1, 2}));
  EXPECT_FALSE(fit_line({5}, {1}));
}

TEST(IdleFits, FitEachModelAndKeepItsLimit) {
  auto d = idle(200, 20000).data();
  auto fits = idle_fits(*d.workload("idle"), d.runs.front());
  ASSERT_EQ(fits.size(), 2u);
  for (const auto& f : fits) {
    ASSERT_TRUE(f.slope) << f.model;
    EXPECT_NEAR(*f.slope, f.model == "uv" ? 200 : 20000, 1e-6);
    EXPECT_NEAR(*f.r2, 1, 1e-9);
  }
  const auto& thread = fits[0].model == "thread" ? fits[0] : fits[1];
  ASSERT_TRUE(thread.limit_at);
  EXPECT_EQ(*thread.limit_at, 50000);
  EXPECT_EQ(thread.points.size(), 2u);
}

TEST(CoreScaling, SpeedupAndEfficiencyAgainstOneWorker) {
  auto d = sweep(1.5e6, 2).data();
  auto sweeps = core_scaling(*d.workload("prodcons"), d.runs.front());
  ASSERT_EQ(sweeps.size(), 1u);
  const auto& s = sweeps[0];
  EXPECT_EQ(s.model, "fiber");
  EXPECT_EQ(s.param, "threads");
  ASSERT_EQ(s.points.size(), 3u);
  EXPECT_DOUBLE_EQ(s.points[1].speedup, 1.5);
  EXPECT_DOUBLE_EQ(s.points[1].efficiency, 0.75);
  EXPECT_FALSE(s.points[1].oversubscribed);
  EXPECT_TRUE(s.points[2].oversubscribed);
}

TEST(CoreScaling, AKernelModelSweepsItsUnitCount) {
  RunBuilder b = kinds();
  for (const auto& [n, ops] : {std::pair<std::string, double>{"1", 1e5}, {"2", 1.8e5}, {"4", 1.7e5}})
    b.cell("prodcons", "thread", {{"producers", n}, {"consumers", n}, {"capacity", "1024"}}, {{"ops_per_s", ops}, {"ns_per_op", 1e9 / ops}});
  auto d = b.data();
  auto sweeps = core_scaling(*d.workload("prodcons"), d.runs.front());
  ASSERT_EQ(sweeps.size(), 1u);
  EXPECT_EQ(sweeps[0].param, "producers");
  EXPECT_DOUBLE_EQ(sweeps[0].points[1].speedup, 1.8);
}

}  // namespace
