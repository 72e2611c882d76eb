#include "harness/driver/matrix.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdio>
#include <regex>
#include <set>
#include <stdexcept>

#include "harness/sandbox/pin.hpp"

namespace cmbench {

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos - start));
    if (pos == std::string::npos) break;
    start = pos + 1;
  }
  return out;
}

template <typename T, typename F>
std::vector<std::string> names_of(const std::vector<T>& items, F name) {
  std::vector<std::string> out;
  for (const auto& i : items) out.push_back(name(i));
  return out;
}

using Axes = std::vector<std::pair<std::string, std::vector<std::string>>>;

// The values each parameter takes in this grid: the user's override, else
// the preset's values, else the default. A model's workers parameter takes
// the grid's kWorkersAxis values when the grid has no values of its own for
// it. Every value is checked here.
Axes axes_for(const std::vector<ParamDef>& defs, const Grid& grid,
              const std::map<std::string, std::vector<std::string>>& overrides,
              const std::string& workers_param = "") {
  Axes axes;
  for (const auto& d : defs) {
    std::vector<std::string> values = {d.default_value};
    if (auto o = overrides.find(d.name); o != overrides.end()) values = o->second;
    else if (auto g = grid.find(d.name); g != grid.end()) values = g->second;
    else if (auto w = grid.find(kWorkersAxis); w != grid.end() && d.name == workers_param)
      values = w->second;
    for (const auto& v : values)
      if (auto err = check_value(d, v)) throw std::invalid_argument("--param: " + *err);
    axes.emplace_back(d.name, values);
  }
  return axes;
}

// Calls f(values) for every point of the cartesian product, the first axis
// varying slowest.
template <typename F>
void for_each_combo(const Axes& axes, F&& f) {
  std::vector<size_t> idx(axes.size(), 0);
  while (true) {
    std::map<std::string, std::string> given;
    for (size_t i = 0; i < axes.size(); ++i) given[axes[i].first] = axes[i].second[idx[i]];
    f(given);
    size_t i = axes.size();
    while (i > 0) {
      --i;
      if (++idx[i] < axes[i].second.size()) break;
      idx[i] = 0;
      if (i == 0) return;
    }
    if (axes.empty()) return;
  }
}

}  // namespace

const std::vector<Preset>& presets() {
  // The presets' sizes live in the workloads' specs (WorkloadSpec::presets),
  // so a workload is added in its own folder; here they are gathered in the
  // registry's order.
  auto gather = [](Preset p) {
    for (bool last : {false, true})
      for (const auto* w : all_workloads())
        if (auto it = w->presets.find(p.name); it != w->presets.end())
          for (const auto& g : it->second)
            if (g.last == last) p.groups.push_back({w, &g});
    return p;
  };
  static const std::vector<Preset> all = {
      gather({"default", "the comparison matrix: every model on every workload, 5 repetitions", 5, 1, {}}),
      gather({"quick",
              "the same workloads at a fifth of the size or less, 3 repetitions: a first look in a minute",
              3, 1, {},
              // 10 ms: 145 cells of 4 repetitions at 0.1 s would not fit a minute.
              0.01}),
      gather({"full",
              "the default matrix swept further: spawn to 1,000,000 units in every model, echo to "
              "10,000 connections, 10,000 sleepers",
              5, 1, {}}),
      // Core scaling (issue 19): prodcons 4x4 and skynet on 1, 2, 4 and 8
      // workers, each model's workers parameter (a kernel-scheduled model's
      // workers are its units; uv has none). Only those two workloads: the
      // sweep asks how a runtime spreads one job over cores, not every cost.
      gather({"scaling",
              "core scaling: prodcons 4x4 and skynet on 1, 2, 4 and 8 workers (threads, gomaxprocs; "
              "process and thread: producers = consumers), 5 repetitions",
              5, 1, {}, 0.1, /*every_cell=*/false}),
      // The regression gate's cells: every model on every workload, each
      // sized so that a repetition takes tens of milliseconds, and 20
      // repetitions a side. 15 were enough for a slowdown to survive the
      // Holm correction over every metric of every cell (~500 tests for 112
      // cells) even when one repetition of a side is an outlier: with 10,
      // one base repetition above 8 of the head's gives p = 0.001, too much
      // for 500 tests; with 15, one above 13 gives p = 5e-6. 20 narrow the
      // interval of the time/op ratio (issue 16's sensitivity target: a
      // median half-width of 3%): A/A runs of the preset on the 2-core VM,
      // one after the other, gave 3.40% and 2.00% at 15 and 1.26% at 20,
      // in 63-67 s and 81 s.
      gather({"ci",
              "the regression gate's cells: every model and workload, small, 20 repetitions (cmbench "
              "ab in under 3 minutes)",
              20, 1, {},
              // 10 ms: 112 cells x 21 repetitions x 2 sides at 0.1 s would
              // be eight minutes of timed regions alone, past the gate's three.
              0.01}),
  };
  return all;
}

const Preset* find_preset(const std::string& name) {
  for (const auto& p : presets())
    if (p.name == name) return &p;
  return nullptr;
}

std::vector<Cell> take_shard(std::vector<Cell> cells, const std::string& spec) {
  size_t i = 0, n = 0;
  char extra = 0;
  if (std::sscanf(spec.c_str(), "%zu/%zu%c", &i, &n, &extra) != 2 || n == 0 || i == 0 || i > n ||
      spec.find('-') != std::string::npos)
    throw std::invalid_argument(
        fmt::format("--shard: '{}' is not I/N with 1 <= I <= N (e.g. 2/4)", spec));
  std::vector<Cell> mine;
  for (size_t k = i - 1; k < cells.size(); k += n) mine.push_back(std::move(cells[k]));
  if (mine.empty())
    throw std::invalid_argument(fmt::format(
        "--shard: slice {} is empty: the selection has only {} cells", spec, cells.size()));
  return mine;
}

RepetitionRequest repetition_request(const Cell& cell, double timeout_s,
                                     const volatile sig_atomic_t* stop, bool pin) {
  RepetitionRequest req;
  req.workload = cell.entry->workload->name;
  req.model = cell.entry->model->name;
  req.params = cell.params.all();
  req.pin = pin && pinned_cell(req.workload, req.model, req.params);
  req.cross_cpu = !req.pin && not_on_one_thread(req.workload, req.model, req.params).has_value();
  req.timeout_s = timeout_s;
  req.sample_tree_memory = cell.entry->model->process_tree;
  req.stop = stop;
  return req;
}

std::string cell_name(const Entry& entry, const Params& params) {
  std::vector<std::string> order;
  for (const auto& d : cell_param_defs(entry)) order.push_back(d.name);
  return entry.workload->name + "/" + entry.model->name + "/" + params.label(order);
}

std::vector<Cell> expand(const Selection& sel) {
  const Preset* preset = find_preset(sel.preset);
  if (!preset)
    throw std::invalid_argument(fmt::format(
        "--preset: unknown preset '{}'; accepted: {}", sel.preset,
        fmt::join(names_of(presets(), [](const Preset& p) { return p.name; }), ", ")));

  std::vector<const ModelInfo*> models;
  for (const auto& name : sel.models) {
    const ModelInfo* m = find_model(name);
    if (!m)
      throw std::invalid_argument(fmt::format(
          "--models: unknown model '{}'; accepted: {}", name,
          fmt::join(names_of(all_models(), [](const ModelInfo* x) { return x->name; }), ", ")));
    models.push_back(m);
  }
  if (models.empty()) models = all_models();

  // A workload the preset does not size runs at its defaults, in every model.
  static const PresetGroup at_defaults{.grids = {Grid{}}};
  std::vector<MatrixGroup> groups;
  for (const auto& name : sel.workloads) {
    const WorkloadSpec* w = find_workload(name);
    if (!w)
      throw std::invalid_argument(fmt::format(
          "--workloads: unknown workload '{}'; accepted: {}", name,
          fmt::join(names_of(all_workloads(), [](const WorkloadSpec* x) { return x->name; }), ", ")));
    // Every group of the preset for this workload.
    bool found = false;
    for (const auto& g : preset->groups)
      if (g.workload == w) {
        groups.push_back(g);
        found = true;
      }
    if (!found) groups.push_back({w, &at_defaults});
  }
  if (groups.empty()) groups = preset->groups;

  // --param key=v1,v2: replaces the preset's values of `key` wherever a
  // selected workload or model has that parameter.
  std::map<std::string, std::vector<std::string>> overrides;
  for (const auto& p : sel.params) {
    auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == p.size())
      throw std::invalid_argument(
          fmt::format("--param: '{}' is not of the form key=value[,value...]", p));
    std::string key = p.substr(0, eq);
    auto values = split(p.substr(eq + 1), ',');
    if (std::any_of(values.begin(), values.end(), [](const std::string& v) { return v.empty(); }))
      throw std::invalid_argument(fmt::format("--param: '{}' has an empty value", p));
    overrides[key] = values;
  }
  std::set<std::string> known;
  for (const auto& g : groups)
    for (const auto* m : models)
      if (const Entry* e = find_entry(g.workload->name, m->name))
        for (const auto& d : cell_param_defs(*e)) known.insert(d.name);
  for (const auto& [key, values] : overrides) {
    if (!known.count(key))
      throw std::invalid_argument(fmt::format(
          "--param: no selected workload or model has a parameter '{}'; accepted: {}", key,
          fmt::join(known, ", ")));
  }

  std::optional<std::regex> filter;
  if (!sel.filter.empty()) {
    try {
      filter.emplace(sel.filter);
    } catch (const std::regex_error& e) {
      throw std::invalid_argument(
          fmt::format("--filter: '{}' is not a regular expression ({})", sel.filter, e.what()));
    }
  }

  // Cells come out grouped the way they are read: per workload and its
  // parameter point, every model side by side.
  std::vector<Cell> cells;
  std::set<std::string> seen;
  for (const auto& spec_group : groups) {
    // Named copies: clang 14 cannot capture a structured binding in a lambda.
    const WorkloadSpec* spec = spec_group.workload;
    const PresetGroup* group = spec_group.group;
    for (const auto& preset_grid : group->grids) {
      for_each_combo(axes_for(spec->params, preset_grid, overrides), [&](const auto& wgiven) {
        for (const auto* model : models) {
          const Entry* entry = find_entry(spec->name, model->name);
          if (!entry || (group->models && !group->models(*model))) continue;
          for_each_combo(axes_for(model->params, preset_grid, overrides, model->workers_param),
                         [&](const auto& mgiven) {
            std::map<std::string, std::string> given = wgiven;
            given.insert(mgiven.begin(), mgiven.end());
            Params params = make_params(cell_param_defs(*entry), given);
            std::string name = cell_name(*entry, params);
            if ((filter && !std::regex_search(name, *filter)) || !seen.insert(name).second) return;
            if (spec->validate)
              if (auto err = spec->validate(params))
                throw std::invalid_argument(fmt::format("--param: {} (cell {})", *err, name));
            if (entry->impl && entry->impl->unsupported)
              if (auto err = entry->impl->unsupported(params))
                throw std::invalid_argument(fmt::format("--param: {} (cell {})", *err, name));
            cells.push_back({entry, std::move(params), std::move(name), group->repetitions, group->warmup});
          });
        }
      });
    }
  }
  if (cells.empty())
    throw std::invalid_argument("the selection matches no cell (check --models, --workloads, --filter)");
  return cells;
}

}  // namespace cmbench
