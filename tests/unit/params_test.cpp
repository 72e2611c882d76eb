// Parameter parsing and matrix expansion, including every kind of bad input:
// each must be a one-line error that names the flag or field and what it
// accepts.
#include <gtest/gtest.h>

#include "harness/driver/matrix.hpp"
#include "harness/cell/params.hpp"
#include "harness/registry/registry.hpp"

namespace cmbench {
namespace {

TEST(ParseInt, SizesAsUsersWriteThem) {
  EXPECT_EQ(parse_int("1000"), 1000);
  EXPECT_EQ(parse_int("10k"), 10'000);
  EXPECT_EQ(parse_int("1M"), 1'000'000);
  EXPECT_EQ(parse_int("2G"), 2'000'000'000);
  EXPECT_EQ(parse_int("64Ki"), 65'536);
  EXPECT_EQ(parse_int("1Mi"), 1'048'576);
  EXPECT_EQ(parse_int("1_000_000"), 1'000'000);
  EXPECT_FALSE(parse_int(""));
  EXPECT_FALSE(parse_int("-5"));
  EXPECT_FALSE(parse_int("12x"));
  EXPECT_FALSE(parse_int("k"));
  EXPECT_FALSE(parse_int("1.5"));
  EXPECT_FALSE(parse_int("99999999999999999999"));
}

TEST(CheckValue, RangeAllowedAndChoices) {
  auto range = ParamDef::integer("producers", "", 1, 1, 1024);
  std::string canon;
  EXPECT_FALSE(check_value(range, "4", &canon));
  EXPECT_EQ(canon, "4");
  EXPECT_FALSE(check_value(range, "1k", &canon));
  EXPECT_EQ(canon, "1000");
  auto err = check_value(range, "0");
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("'producers'"), std::string::npos);
  EXPECT_NE(err->find("1..1024"), std::string::npos);
  EXPECT_TRUE(check_value(range, "2000"));
  EXPECT_TRUE(check_value(range, "four"));

  auto allowed = ParamDef::integer("payload", "", 0, 0, 1024, {0, 64, 1024});
  EXPECT_FALSE(check_value(allowed, "64"));
  err = check_value(allowed, "65");
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("one of 0, 64, 1024"), std::string::npos);

  auto choice = ParamDef::choice("mode", "", "lock", {"lock", "atomic", "message"});
  EXPECT_FALSE(check_value(choice, "atomic"));
  err = check_value(choice, "Atomic");
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("lock | atomic | message"), std::string::npos);
}

TEST(MakeParams, DefaultsUnknownNamesAndBadValues) {
  const auto& defs = find_workload("prodcons")->params;
  Params p = make_params(defs, {{"producers", "4"}});
  EXPECT_EQ(p.u("producers"), 4u);
  EXPECT_EQ(p.u("consumers"), 1u);
  EXPECT_EQ(p.u("capacity"), 1024u);
  EXPECT_THROW(make_params(defs, {{"producer", "4"}}), std::invalid_argument);
  EXPECT_THROW(make_params(defs, {{"capacity", "-1"}}), std::invalid_argument);
  try {
    make_params(defs, {{"producer", "4"}});
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("accepted: producers, consumers"), std::string::npos);
  }
}

Selection sel(void (*f)(Selection&)) {
  Selection s;
  f(s);
  return s;
}

std::string expand_error(Selection sel) {
  try {
    expand(sel);
  } catch (const std::invalid_argument& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
    return msg;
  }
  ADD_FAILURE() << "expected an error";
  return {};
}

TEST(Expand, DefaultMatrixHasTheIssuesCells) {
  Selection foundation;
  foundation.workloads = {"prodcons", "counter"};
  auto cells = expand(foundation);
  // prodcons: 2 shapes x 3 capacities; counter: 2 unit counts x 3 modes; x
  // every model; and prodcons's all-core rows: 1x1 capacity 1024, 4x4
  // capacity 0 and 1024, for fiber (threads 0) and go (gomaxprocs 0).
  EXPECT_EQ(cells.size(), (6u + 6u) * all_models().size() + 3u * 2u);
  std::set<std::string> names;
  for (const auto& c : cells) names.insert(c.name);
  EXPECT_EQ(names.size(), cells.size()) << "cell names are unique";
  EXPECT_TRUE(names.count(
      "prodcons/fiber/producers:4/consumers:4/capacity:0/messages:50000/payload:0/stack_size:16384/threads:1"));
  EXPECT_TRUE(names.count(
      "prodcons/fiber/producers:4/consumers:4/capacity:0/messages:50000/payload:0/stack_size:16384/threads:0"));
  EXPECT_TRUE(names.count(
      "prodcons/go/producers:1/consumers:1/capacity:1024/messages:50000/payload:0/gomaxprocs:0"));
}

TEST(Expand, EveryWorkloadAndModelIsInTheDefaultMatrix) {
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& c : expand(Selection{})) seen.insert({c.entry->workload->name, c.entry->model->name});
  for (const auto& e : all_entries()) EXPECT_TRUE(seen.count({e.workload->name, e.model->name}));
}

// A comparison preset (Preset::every_cell) runs every implementation; a
// preset that selects on purpose (scaling) runs, of each workload it sizes,
// every model that one of the workload's groups accepts by its traits.
TEST(Expand, EveryWorkloadAndModelIsInEveryPreset) {
  for (const auto& preset : presets()) {
    Selection sel;
    sel.preset = preset.name;
    std::set<std::pair<std::string, std::string>> seen;
    for (const auto& c : expand(sel)) seen.insert({c.entry->workload->name, c.entry->model->name});
    for (const auto& e : all_entries()) {
      bool wanted = preset.every_cell;
      for (const auto& g : preset.groups)
        wanted = wanted || (g.workload == e.workload && (!g.group->models || g.group->models(*e.model)));
      if (wanted) {
        EXPECT_TRUE(seen.count({e.workload->name, e.model->name}))
            << preset.name << ": " << e.workload->name << "/" << e.model->name;
      }
    }
    EXPECT_FALSE(seen.empty()) << preset.name;
  }
}

// The scaling preset sweeps each model's workers (a kernel-scheduled
// model's units) over 1, 2, 4 and 8 on the workloads it sizes, and every
// model with workers takes them there (none refuses a row).
TEST(Expand, TheScalingPresetSweepsEveryModelsWorkers) {
  Selection sel;
  sel.preset = "scaling";
  std::map<std::string, std::set<std::string>> workers;  // "workload/model" -> values
  for (const auto& c : expand(sel)) {
    const ModelInfo& m = *c.entry->model;
    const std::string axis = m.kernel_scheduled ? c.entry->workload->units_param : m.workers_param;
    ASSERT_FALSE(axis.empty()) << c.name;
    workers[c.entry->workload->name + "/" + m.name].insert(c.params.s(axis));
  }
  EXPECT_FALSE(workers.empty());
  for (const auto& [cell, values] : workers)
    EXPECT_EQ(values, (std::set<std::string>{"1", "2", "4", "8"})) << cell;
}

TEST(Registry, SpecsSizeOnlyPresetsThatExist) {
  for (const auto* w : all_workloads())
    for (const auto& [name, groups] : w->presets) {
      EXPECT_NE(find_preset(name), nullptr) << w->name << " sizes an unknown preset '" << name << "'";
      EXPECT_FALSE(groups.empty()) << w->name << ": " << name;
    }
}

TEST(Registry, TraitsNameParametersThatExist) {
  for (const auto* m : all_models()) {
    if (m->workers_param.empty()) continue;
    bool found = false;
    for (const auto& d : m->params) found = found || d.name == m->workers_param;
    EXPECT_TRUE(found) << m->name << "'s workers_param '" << m->workers_param << "' is not one of its parameters";
  }
  for (const auto* w : all_workloads()) {
    bool found = w->units_param.empty();
    for (const auto& d : w->params) found = found || d.name == w->units_param;
    EXPECT_TRUE(found) << w->name << "'s units_param '" << w->units_param << "' is not one of its parameters";
    EXPECT_TRUE(!w->memory_per_unit || !w->units_param.empty()) << w->name;
    EXPECT_FALSE(w->smoke.empty()) << w->name << " has no smoke values";
  }
}

TEST(Registry, EveryEntryNamesItsSourceFile) {
  for (const auto& e : all_entries()) {
    const std::string source = e.source;
    EXPECT_EQ(source.rfind("workloads/" + e.workload->name + "/", 0), 0u) << source;
  }
}

TEST(Expand, TheAllCoreRowsGiveEachWorkersParameterItsCoreCount) {
  // kWorkersAxis stands for each model's own workers parameter, and only
  // models that have one, and take it in every workload, get those rows.
  Selection sel;
  sel.workloads = {"pingpong"};
  std::set<std::string> names;
  for (const auto& c : expand(sel)) names.insert(c.name);
  EXPECT_TRUE(names.count("pingpong/fiber/rounds:50000/stack_size:16384/threads:0"));
  EXPECT_TRUE(names.count("pingpong/go/rounds:50000/gomaxprocs:0"));
  for (const auto& n : names) EXPECT_EQ(n.find("@"), std::string::npos) << n;
  size_t all_core = 0;
  for (const auto& c : expand(sel))
    for (const auto* m : all_models())
      if (!m->workers_param.empty() && c.entry->model == m && c.params.u(m->workers_param) == 0) ++all_core;
  size_t with_workers = 0;
  for (const auto* m : all_models()) with_workers += by_traits::with_workers_everywhere(*m);
  EXPECT_EQ(all_core, with_workers);
}

// A model that says it takes its workers parameter in every workload
// (ModelInfo::workers_in_every_workload) is refused by none, so the all-core
// rows, which select by that trait, never meet a refusal.
TEST(Registry, AModelWithWorkersEverywhereIsRefusedByNoWorkload) {
  for (const auto& e : all_entries()) {
    // (An external model has no implementation here to ask.)
    if (!by_traits::with_workers_everywhere(*e.model) || !e.impl || !e.impl->unsupported) continue;
    const Params two = make_params(cell_param_defs(e), {{e.model->workers_param, "2"}});
    EXPECT_FALSE(e.impl->unsupported(two)) << e.workload->name << "/" << e.model->name;
  }
}

TEST(Expand, SkynetGivesEachModelTheSameShapeAtASizeItCanHold) {
  Selection sel;
  sel.workloads = {"skynet"};
  std::map<std::string, uint64_t> leaves;
  for (const auto& c : expand(sel)) leaves[c.entry->model->name] = c.params.u("leaves");
  EXPECT_EQ(leaves["fiber"], 1'000'000u);
  EXPECT_EQ(leaves["uv"], 1'000'000u);
  EXPECT_EQ(leaves.size(), all_models().size());
}

TEST(Expand, ParamListsExpandIntoAMatrix) {
  Selection sel;
  sel.workloads = {"counter"};
  sel.models = {"thread"};
  sel.params = {"units=1,2,3", "mode=atomic", "increments=100"};
  auto cells = expand(sel);
  ASSERT_EQ(cells.size(), 3u);
  EXPECT_EQ(cells[0].params.u("units"), 1u);
  EXPECT_EQ(cells[2].params.u("units"), 3u);
  EXPECT_EQ(cells[1].params.s("mode"), "atomic");
}

TEST(Expand, ModelParametersApplyOnlyToTheirModel) {
  Selection sel;
  sel.workloads = {"counter"};
  // Both fiber models have a stack_size (boost-fiber accepts 12 KiB and up).
  sel.params = {"stack_size=16Ki,64Ki", "units=2", "mode=lock", "increments=100"};
  auto cells = expand(sel);
  size_t fiber = 0, boost_fiber = 0;
  for (const auto& c : cells) {
    fiber += c.entry->model->name == "fiber";
    boost_fiber += c.entry->model->name == "boost-fiber";
  }
  EXPECT_EQ(fiber, 2u);
  EXPECT_EQ(boost_fiber, 2u);
  EXPECT_EQ(cells.size(), all_models().size() - 2 + 4);
}

TEST(Expand, FilterSelectsByName) {
  Selection sel;
  sel.filter = "^counter/uv/.*mode:atomic";
  auto cells = expand(sel);
  ASSERT_EQ(cells.size(), 2u);
  for (const auto& c : cells) EXPECT_EQ(c.entry->model->name, "uv");
}

TEST(Expand, EveryKindOfBadInputNamesTheFlag) {
  EXPECT_NE(expand_error(sel([](Selection& s) { s.preset = "fast"; })).find("--preset: unknown preset 'fast'; accepted: default, quick, full"),
            std::string::npos);
  EXPECT_NE(expand_error(sel([](Selection& s) { s.models = {"thraed"}; })).find("--models: unknown model 'thraed'; accepted: process, thread, uv, fiber"),
            std::string::npos);
  EXPECT_NE(expand_error(sel([](Selection& s) { s.workloads = {"pingpong2"}; })).find("--workloads: unknown workload"),
            std::string::npos);
  EXPECT_NE(expand_error(sel([](Selection& s) { s.params = {"capacity"}; })).find("--param: 'capacity' is not of the form"),
            std::string::npos);
  EXPECT_NE(expand_error(sel([](Selection& s) { s.params = {"capacity=1,,2"}; })).find("empty value"), std::string::npos);
  EXPECT_NE(expand_error(sel([](Selection& s) { s.params = {"capacitty=4"}; })).find("no selected workload or model has a parameter 'capacitty'"),
            std::string::npos);
  EXPECT_NE(expand_error(sel([](Selection& s) { s.params = {"capacity=-3"}; })).find("parameter 'capacity': '-3' is not accepted; accepted: 0..1048576"),
            std::string::npos);
  EXPECT_NE(expand_error(sel([](Selection& s) { s.params = {"mode=mutex"}; })).find("accepted: lock | atomic | message"),
            std::string::npos);
  EXPECT_NE(expand_error(sel([](Selection& s) { s.params = {"payload=100"}; })).find("one of 0, 64, 1024"), std::string::npos);
  EXPECT_NE(expand_error(sel([](Selection& s) {
              s.workloads = {"prodcons"};
              s.params = {"producers=8", "messages=4"};
            }))
                .find("messages >= producers"),
            std::string::npos);
  EXPECT_NE(expand_error(sel([](Selection& s) { s.filter = "("; })).find("--filter"), std::string::npos);
  EXPECT_NE(expand_error(sel([](Selection& s) { s.filter = "no-such-cell"; })).find("matches no cell"),
            std::string::npos);
}

TEST(Expand, CapacityAModelCannotHonourIsRefusedBeforeAnythingRuns) {
  // A pipe cannot hold a million 1 KiB messages: the process model says so.
  std::string err = expand_error(sel([](Selection& s) {
    s.workloads = {"prodcons"};
    s.models = {"process"};
    s.params = {"capacity=1048576", "payload=1024"};
  }));
  EXPECT_NE(err.find("capacity"), std::string::npos) << err;
}

}  // namespace
}  // namespace cmbench
