#include "harness/driver/matrix.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdio>
#include <regex>
#include <set>
#include <stdexcept>

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
// the preset's values, else the default. Every value is checked here.
Axes axes_for(const std::vector<ParamDef>& defs, const Grid& grid,
              const std::map<std::string, std::vector<std::string>>& overrides) {
  Axes axes;
  for (const auto& d : defs) {
    std::vector<std::string> values = {d.default_value};
    if (auto o = overrides.find(d.name); o != overrides.end()) values = o->second;
    else if (auto g = grid.find(d.name); g != grid.end()) values = g->second;
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
  // Sizes are the same for every model (the spec's parameters), so a cell
  // compares like with like; where a model cannot hold a size (skynet), the
  // preset gives it the same shape at a smaller size, and the cell name says
  // so. `scale` divides the work of the default preset for the quick one.
  auto prodcons = [](int scale) {
    std::string m = std::to_string(100'000 / scale);
    return PresetGroup{"prodcons",
                       {{{"producers", {"1"}}, {"consumers", {"1"}},
                         {"capacity", {"0", "1", "1024"}}, {"messages", {m}}},
                        {{"producers", {"4"}}, {"consumers", {"4"}},
                         {"capacity", {"0", "1", "1024"}}, {"messages", {m}}}}};
  };
  // Both unit counts do the same number of increments in total, so their
  // rows compare directly: 2 units x 100,000 and 64 units x 3,125.
  auto counter = [](int scale) {
    return PresetGroup{"counter",
                       {{{"units", {"2"}},
                         {"mode", {"lock", "atomic", "message"}},
                         {"increments", {std::to_string(100'000 / scale)}}},
                        {{"units", {"64"}},
                         {"mode", {"lock", "atomic", "message"}},
                         {"increments", {std::to_string(3'125 / scale)}}}}};
  };
  auto pingpong = [](int scale) {
    return PresetGroup{"pingpong", {{{"rounds", {std::to_string(100'000 / scale)}}}}};
  };
  // Every model is swept as far as it goes: fibers and callbacks to a
  // million units; threads and processes stop at the kernel's limits
  // (pid_max: about 32,000 here) before 100,000, and that `limit` cell is
  // the result (a cell stops at its first repetition that is not ok, so it
  // costs one attempt).
  // The models whose unit is not a kernel task ("light"), and of them
  // boost-fiber, which holds a million units but slowly: its round_robin
  // scheduler runs skynet breadth first (1.1 million fibers alive at once, 13
  // GiB resident, 35 s a repetition) and its spawn at 1,000,000 takes 25 s a
  // repetition, so the default matrix stops it at 100,000 to stay within ten
  // minutes (the full preset takes it to a million).
  const std::vector<std::string> light = {"uv", "fiber", "boost-fiber", "go", "coro"};
  const std::vector<std::string> light_but_bf = {"uv", "fiber", "go", "coro"};
  auto spawn = [&](std::vector<std::string> sizes, std::vector<std::string> light_sizes,
                   std::vector<std::string> bf_sizes) {
    return std::vector<PresetGroup>{
        {"spawn", {{{"units", sizes}}}, {"process", "thread"}},
        {"spawn", {{{"units", light_sizes}}}, light_but_bf},
        {"spawn", {{{"units", bf_sizes}}}, {"boost-fiber"}},
    };
  };
  auto skynet = [&](std::string light_size, std::string bf, std::string thread, std::string process) {
    return std::vector<PresetGroup>{
        {"skynet", {{{"leaves", {light_size}}}}, light_but_bf},
        {"skynet", {{{"leaves", {bf}}}}, {"boost-fiber"}},
        {"skynet", {{{"leaves", {thread}}}}, {"thread"}},
        {"skynet", {{{"leaves", {process}}}}, {"process"}},
    };
  };
  auto ring = [](int scale) {
    return PresetGroup{"ring", {{{"units", {"503"}}, {"hops", {std::to_string(100'000 / scale)}}}}};
  };
  auto echo = [](std::vector<std::string> conns, std::string requests, std::string open_requests) {
    return PresetGroup{"echo",
                       {{{"connections", conns}, {"requests", {requests}}, {"loop", {"closed"}}},
                        {{"connections", {"100"}}, {"requests", {open_requests}},
                         {"loop", {"open"}}, {"rate", {"20000"}}}}};
  };
  auto sleepers = [](std::vector<std::string> units, std::string sleeps) {
    return PresetGroup{"sleepers", {{{"units", units}, {"sleeps", {sleeps}}, {"sleep_ms", {"10"}}}}};
  };
  // blocking: every model, inline and with its pool (offload=pool).
  auto blocking = [&](std::string calls) {
    return std::vector<PresetGroup>{{"blocking",
                                     {{{"blockers", {"4"}}, {"calls", {calls}}, {"delay_us", {"1000"}},
                                       {"pairs", {"2"}}, {"offload", {"inline", "pool"}}}}}};
  };
  // fairness: hogs that yield every 2 ms (slice) over a budget of
  // `slice_budget`, and hogs that never yield (never) over `never_budget`.
  // A never-yielding hog computes its whole budget in one stretch, so its
  // work_ms is set to the budget: work_ms is then, in both rows, how long a
  // hog computes without yielding, which is what the report's starvation
  // rule compares the bystanders' worst wait with. The never budget is long
  // against a kernel time slice (a few ms) and Go's 10 ms preemption, so
  // that a preempted hog's bystanders are told apart from starved ones.
  auto fairness = [](std::string slice_budget, std::string never_budget) {
    return PresetGroup{"fairness",
                       {{{"hogs", {"4"}}, {"work_ms", {"2"}}, {"budget_ms", {slice_budget}}, {"yield", {"slice"}},
                         {"pairs", {"2"}}},
                        {{"hogs", {"4"}}, {"work_ms", {never_budget}}, {"budget_ms", {never_budget}},
                         {"yield", {"never"}}, {"pairs", {"2"}}}}};
  };
  // idle: a repetition at 10,000 connections and more opens and closes
  // them all (seconds of the kernel's time for the forking and threaded
  // servers), so those sizes run 3 repetitions and no warm-up; what they
  // measure, memory per connection, varies little between repetitions.
  auto idle = [](std::vector<std::string> conns, std::vector<std::string> large = {}) {
    auto grid = [](std::vector<std::string> c) {
      return Grid{{"connections", c}, {"requests", {"1"}}, {"rate", {"20000"}}};
    };
    std::vector<PresetGroup> g{{"idle", {grid(conns)}}};
    if (!large.empty()) g.push_back({"idle", {grid(large)}, {}, 3, 0});
    return g;
  };
  auto with = [](std::vector<PresetGroup> head, std::vector<PresetGroup> more) {
    head.insert(head.end(), more.begin(), more.end());
    return head;
  };
  // The M:N runtimes across every core (fiber threads=0, go gomaxprocs=0),
  // beside their one-thread rows, on the workloads where scheduling across
  // cores changes the cost: a channel's hand-off, a round trip, spawning.
  auto all_cores = [](int scale, std::string skynet_leaves, std::string spawn_units) {
    const std::vector<std::string> mn = {"fiber", "go"};
    const std::vector<std::string> zero = {"0"};
    const std::string m = std::to_string(100'000 / scale);
    return std::vector<PresetGroup>{
        {"prodcons",
         {{{"producers", {"1"}}, {"consumers", {"1"}}, {"capacity", {"1024"}}, {"messages", {m}},
           {"threads", zero}, {"gomaxprocs", zero}},
          {{"producers", {"4"}}, {"consumers", {"4"}}, {"capacity", {"0", "1024"}}, {"messages", {m}},
           {"threads", zero}, {"gomaxprocs", zero}}},
         mn},
        {"pingpong", {{{"rounds", {m}}, {"threads", zero}, {"gomaxprocs", zero}}}, mn},
        {"skynet", {{{"leaves", {skynet_leaves}}, {"threads", zero}, {"gomaxprocs", zero}}}, mn},
        {"spawn", {{{"units", {spawn_units}}, {"threads", zero}, {"gomaxprocs", zero}}}, mn},
    };
  };
  // The core-scaling sweep (issue 19): 1, 2, 4 and 8 workers on prodcons
  // 4x4 and skynet. A user-space model's workers are its worker parameter
  // (threads for fiber, coro and boost-fiber; gomaxprocs for go); uv has
  // none and is left out. A kernel-scheduled model's workers are its units,
  // so for process and thread prodcons sweeps producers and consumers
  // together (1x1 ... 8x8); skynet's size is its leaves, not a count of
  // workers, so it has no kernel-model rows. On a machine with fewer cores
  // than 8, the larger counts measure oversubscription (the report marks
  // them).
  auto scaling = []() {
    const std::vector<std::string> workers = {"1", "2", "4", "8"};
    const std::vector<std::string> threaded = {"fiber", "coro", "boost-fiber"};
    auto prodcons_grid = [](std::vector<std::string> p, std::string messages) {
      return Grid{{"producers", p}, {"consumers", p}, {"capacity", {"1024"}}, {"messages", {messages}}};
    };
    Grid light = prodcons_grid({"4"}, "200000");
    light["threads"] = workers;
    Grid go = prodcons_grid({"4"}, "200000");
    go["gomaxprocs"] = workers;
    std::vector<Grid> kernel;
    for (const auto& n : workers) kernel.push_back(prodcons_grid({n}, "20000"));
    return std::vector<PresetGroup>{
        {"prodcons", {light}, threaded},
        {"prodcons", {go}, {"go"}},
        {"prodcons", kernel, {"process", "thread"}},
        {"skynet", {{{"leaves", {"100000"}}, {"threads", workers}}}, threaded},
        {"skynet", {{{"leaves", {"100000"}}, {"gomaxprocs", workers}}}, {"go"}},
    };
  };
  auto build = [](std::vector<PresetGroup> head, std::vector<PresetGroup> spawns,
                  std::vector<PresetGroup> sky, std::vector<PresetGroup> tail,
                  std::vector<PresetGroup> cores) {
    for (const auto* part : {&spawns, &sky, &tail, &cores})
      head.insert(head.end(), part->begin(), part->end());
    return head;
  };
  // The regression gate's cells: every model on every workload, sized so
  // that a repetition takes tens of milliseconds in each model (so the
  // heavier models get fewer operations: a ci cell is compared with itself
  // across builds, not with other models), and 15 repetitions a side, so
  // that a slowdown survives the Holm correction over every metric of every
  // cell (~315 tests) even when one repetition of a side is an outlier:
  // with 10, one base repetition above 8 of the head's gives p = 0.001,
  // too much for 315 tests; with 15, one above 13 gives p = 5e-6.
  auto per_model = [&](const std::string& workload, Grid heavy, Grid light_grid) {
    return std::vector<PresetGroup>{{workload, {heavy}, {"process", "thread"}},
                                    {workload, {light_grid}, light}};
  };
  auto ci = [&]() {
    std::vector<PresetGroup> g;
    auto add = [&](std::vector<PresetGroup> more) { g.insert(g.end(), more.begin(), more.end()); };
    add(per_model("prodcons",
                  {{"producers", {"1"}}, {"consumers", {"1"}}, {"capacity", {"0", "1024"}}, {"messages", {"2000"}}},
                  {{"producers", {"1"}}, {"consumers", {"1"}}, {"capacity", {"0", "1024"}}, {"messages", {"50000"}}}));
    add(per_model("counter", {{"units", {"2"}}, {"mode", {"lock", "atomic", "message"}}, {"increments", {"20000"}}},
                  {{"units", {"2"}}, {"mode", {"lock", "atomic", "message"}}, {"increments", {"1000000"}}}));
    add(per_model("pingpong", {{"rounds", {"2000"}}}, {{"rounds", {"50000"}}}));
    g.push_back({"spawn", {{{"units", {"1000"}}}}});
    add(skynet("10000", "10000", "1000", "100"));
    add(per_model("ring", {{"units", {"503"}}, {"hops", {"2000"}}}, {{"units", {"503"}}, {"hops", {"100000"}}}));
    g.push_back({"echo", {{{"connections", {"10"}}, {"requests", {"5000"}}, {"loop", {"closed"}}}}});
    g.push_back({"sleepers", {{{"units", {"100"}}, {"sleeps", {"5"}}, {"sleep_ms", {"2"}}}}});
    // The new workloads at the least that still runs each code path (a
    // blocker's call inline and on the pool, hogs that yield and hogs that
    // do not, connections served and trickled): every repetition of them
    // costs a cell process (and for idle a load generator) on each side.
    g.push_back({"blocking", {{{"blockers", {"1"}}, {"calls", {"3"}}, {"delay_us", {"100"}}, {"pairs", {"1"}},
                               {"offload", {"inline", "pool"}}}}});
    g.push_back({"fairness", {{{"hogs", {"2"}}, {"work_ms", {"1"}}, {"budget_ms", {"2"}}, {"yield", {"slice"}},
                               {"pairs", {"1"}}},
                              {{"hogs", {"2"}}, {"work_ms", {"2"}}, {"budget_ms", {"2"}}, {"yield", {"never"}},
                               {"pairs", {"1"}}}}});
    g.push_back({"idle", {{{"connections", {"20"}}, {"requests", {"1"}}, {"rate", {"20000"}}}}});
    return g;
  };
  static const std::vector<Preset> all = {
      // prodcons and pingpong at half the spec's size (50,000): a repetition
      // of a process or thread cell still lasts seconds (a cross-CPU wake-up
      // is 7-50 us on the 2-core VM), and the matrix stays within ten
      // minutes there; `full` runs them at 100,000.
      {"default", "the comparison matrix: every model on every workload, 5 repetitions", 5, 1,
       build({prodcons(2), counter(1), pingpong(2)},
             spawn({"1000", "10000", "100000"}, {"1000", "10000", "100000", "1000000"},
                   {"1000", "10000", "100000"}),
             skynet("1000000", "100000", "10000", "1000"),
             with({ring(1), echo({"10", "100", "1000"}, "100000", "20000"), sleepers({"100", "1000"}, "20"),
                   fairness("50", "100")},
                  with(blocking("50"), idle({"1000"}, {"5000", "10000", "50000"}))),
             all_cores(2, "1000000", "100000"))},
      {"quick", "the same workloads at a fifth of the size or less, 3 repetitions: a first look in a minute",
       3, 1,
       build({prodcons(5), counter(5), pingpong(5)}, spawn({"1000"}, {"1000"}, {"1000"}),
             skynet("10000", "10000", "1000", "100"),
             with({ring(5), echo({"100"}, "20000", "5000"), sleepers({"100"}, "5"), fairness("10", "20")},
                  with(blocking("10"), idle({"1000"}))),
             all_cores(5, "10000", "1000"))},
      {"full", "the default matrix swept further: spawn to 1,000,000 units in every model, echo "
               "to 10,000 connections, 10,000 sleepers",
       5, 1,
       build({prodcons(1), counter(1), pingpong(1)},
             spawn({"1000", "10000", "100000", "1000000"}, {"1000", "10000", "100000", "1000000"},
                   {"1000", "10000", "100000", "1000000"}),
             skynet("1000000", "1000000", "10000", "1000"),
             with({ring(1), echo({"10", "100", "1000", "10000"}, "200000", "20000"),
                   sleepers({"100", "1000", "10000"}, "20"), fairness("200", "200")},
                  with(blocking("200"), idle({"1000", "10000"}, {"50000", "100000"}))),
             all_cores(1, "1000000", "1000000"))},
      {"scaling", "core scaling: prodcons 4x4 and skynet on 1, 2, 4 and 8 workers (threads, gomaxprocs; "
                  "process and thread: producers = consumers), 5 repetitions",
       5, 1, scaling()},
      {"ci", "the regression gate's cells: every model and workload, small, 15 repetitions (cmbench ab "
             "in under 3 minutes)",
       15, 1, ci()},
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
                                     const volatile sig_atomic_t* stop) {
  RepetitionRequest req;
  req.workload = cell.entry->workload->name;
  req.model = cell.entry->model->name;
  req.params = cell.params.all();
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

  std::vector<PresetGroup> groups;
  for (const auto& name : sel.workloads) {
    if (!find_workload(name))
      throw std::invalid_argument(fmt::format(
          "--workloads: unknown workload '{}'; accepted: {}", name,
          fmt::join(names_of(all_workloads(), [](const WorkloadSpec* x) { return x->name; }), ", ")));
    // Every group of the preset for this workload; a workload the preset does
    // not size runs at its defaults.
    bool found = false;
    for (const auto& g : preset->groups)
      if (g.workload == name) {
        groups.push_back(g);
        found = true;
      }
    if (!found) groups.push_back(PresetGroup{name, {Grid{}}});
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
      if (const Entry* e = find_entry(g.workload, m->name))
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
  for (const auto& group : groups) {
    const WorkloadSpec* spec = find_workload(group.workload);
    for (const auto& preset_grid : group.grids) {
      for_each_combo(axes_for(spec->params, preset_grid, overrides), [&](const auto& wgiven) {
        for (const auto* model : models) {
          const Entry* entry = find_entry(group.workload, model->name);
          if (!entry) continue;
          if (!group.models.empty() &&
              std::find(group.models.begin(), group.models.end(), model->name) == group.models.end())
            continue;
          for_each_combo(axes_for(model->params, preset_grid, overrides), [&](const auto& mgiven) {
            std::map<std::string, std::string> given = wgiven;
            given.insert(mgiven.begin(), mgiven.end());
            Params params = make_params(cell_param_defs(*entry), given);
            std::string name = cell_name(*entry, params);
            if ((filter && !std::regex_search(name, *filter)) || !seen.insert(name).second) return;
            if (spec->validate)
              if (auto err = spec->validate(params))
                throw std::invalid_argument(fmt::format("--param: {} (cell {})", *err, name));
            if (entry->impl->unsupported)
              if (auto err = entry->impl->unsupported(params))
                throw std::invalid_argument(fmt::format("--param: {} (cell {})", *err, name));
            cells.push_back({entry, std::move(params), std::move(name), group.repetitions, group.warmup});
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
