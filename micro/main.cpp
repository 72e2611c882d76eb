// cmbench-micro: Google Benchmark over the primitives of every model of the
// registry (see micro/primitives.hpp for what is timed and why).
//
// Google Benchmark owns the command line: every --benchmark_* flag works as
// it does for any Google Benchmark binary (filter, repetitions, format, out,
// min_time), and --help prints its flags followed by what each benchmark
// here measures and which model lacks which primitive.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <exception>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "harness/cell/params.hpp"
#include "harness/registry/registry.hpp"
#include "micro/primitives.hpp"

namespace cmbench::micro {

const Primitives* find_primitives(std::string_view model) {
  if (model == "process") return &process_primitives();
  if (model == "thread") return &thread_primitives();
  if (model == "uv") return &uv_primitives();
  if (model == "fiber") return &fiber_primitives();
  return nullptr;
}

bool check_receipt(benchmark::State& state, const Receipt& r, uint64_t expected) {
  if (r.received == expected && r.wrong == 0) return true;
  const std::string what = "the receiver got " + std::to_string(r.received) + " of " +
                           std::to_string(expected) + " values, " + std::to_string(r.wrong) +
                           " of them out of order";
  state.SkipWithError(what.c_str());
  return false;
}

namespace {

// A primitive as main() registers it: its name, its own parameters (with the
// values to sweep) and where each model's table keeps it.
struct PrimitiveKind {
  const char* name;
  const char* summary;
  Primitive Primitives::*member;
  // The primitive's own parameters; each is swept over `values`.
  std::vector<std::pair<ParamDef, std::vector<std::string>>> params;
};

// The channel's capacity is prodcons's `capacity` parameter (its definition,
// range and default come from the registry): 0, the unbuffered rendezvous; 1,
// the smallest buffer; and the workload's default.
std::vector<std::pair<ParamDef, std::vector<std::string>>> channel_params() {
  const WorkloadSpec* prodcons = find_workload("prodcons");
  if (prodcons == nullptr) throw std::logic_error("the registry has no prodcons workload");
  for (const ParamDef& def : prodcons->params) {
    if (def.name != "capacity") continue;
    std::vector<std::string> values = {"0", "1"};
    if (def.default_value != "0" && def.default_value != "1") values.push_back(def.default_value);
    return {{def, values}};
  }
  throw std::logic_error("the prodcons workload has no capacity parameter");
}

const std::vector<PrimitiveKind>& kinds() {
  static const std::vector<PrimitiveKind> all = {
      {"switch", "one round trip between two units", &Primitives::switch_, {}},
      {"channel", "one message sent and received through the model's channel",
       &Primitives::channel, channel_params()},
      {"lock", "one uncontended lock and unlock of the model's mutex", &Primitives::lock, {}},
      {"spawn", "one spawn and join of a unit that does nothing", &Primitives::spawn, {}},
  };
  return all;
}

// The values a model parameter is swept over: every word of a choice (uv's
// continuation is part of what the model measures), the default of an
// integer (fiber's stack size; a switch does not touch more of it).
std::vector<std::string> model_param_values(const ParamDef& def) {
  if (def.is_choice) return def.choices;
  return {def.default_value};
}

// Every combination of the parameters' values, in the order given.
std::vector<std::map<std::string, std::string>> combinations(
    const std::vector<std::pair<ParamDef, std::vector<std::string>>>& sweep) {
  std::vector<std::map<std::string, std::string>> out(1);
  for (const auto& [def, values] : sweep) {
    std::vector<std::map<std::string, std::string>> next;
    for (const auto& partial : out) {
      for (const std::string& v : values) {
        auto m = partial;
        m[def.name] = v;
        next.push_back(std::move(m));
      }
    }
    out = std::move(next);
  }
  return out;
}

// Context switches of this process (every thread, living or joined) and of
// its reaped children.
int64_t context_switches() {
  int64_t total = 0;
  for (int who : {RUSAGE_SELF, RUSAGE_CHILDREN}) {
    rusage u{};
    if (::getrusage(who, &u) == 0) total += u.ru_nvcsw + u.ru_nivcsw;
  }
  return total;
}

// Runs one benchmark function. An exception (a primitive's setup failing, a
// unit that died) becomes SkipWithError, which Google Benchmark reports as
// "error_occurred" instead of terminating the whole binary. On success it
// adds items/s (one item per iteration: a round trip, a message, a lock, a
// unit) and the context switches per iteration, which tell a kernel switch
// from a user-space one. Those are read around the whole call, so they
// include its setup and teardown (a fork, a thread's creation) spread over
// its iterations.
void run_primitive(benchmark::State& state, const Primitive& p, const Params& params) {
  const int64_t switches_before = context_switches();
  try {
    p.run(state, params);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  } catch (...) {
    state.SkipWithError("unknown exception");
    return;
  }
  if (state.error_occurred()) return;
  state.SetItemsProcessed(state.iterations());
  state.counters["ctx_sw"] = benchmark::Counter(
      static_cast<double>(context_switches() - switches_before), benchmark::Counter::kAvgIterations);
}

void register_all() {
  for (const ModelInfo* model : all_models())
    if (find_primitives(model->name) == nullptr)
      std::fprintf(stderr, "cmbench-micro: model '%s' has no micro/%s.cpp; skipped\n",
                   model->name.c_str(), model->name.c_str());
  for (const PrimitiveKind& kind : kinds()) {
    for (const ModelInfo* model : all_models()) {
      const Primitives* table = find_primitives(model->name);
      if (table == nullptr) continue;
      const Primitive& prim = table->*kind.member;
      if (prim.run == nullptr) continue;  // --help says why

      auto sweep = kind.params;
      std::vector<ParamDef> defs;
      std::vector<std::string> order;
      for (const auto& [def, values] : kind.params) {
        defs.push_back(def);
        order.push_back(def.name);
      }
      for (const ParamDef& def : model->params) {
        sweep.emplace_back(def, model_param_values(def));
        defs.push_back(def);
        order.push_back(def.name);
      }
      for (const auto& given : combinations(sweep)) {
        const Params params = make_params(defs, given);
        // Appended piece by piece: g++ 12 warns (-Wrestrict, a false
        // positive) on `"/" + std::string` at -O3.
        std::string name = kind.name;
        name.append("/").append(model->name);
        if (!order.empty()) name.append("/").append(params.label(order));
        // Real time, for all of them: in most the work runs on more than the
        // benchmark thread (another process or thread, or the loop and
        // fibers the benchmark thread drives), and the benchmark thread's
        // CPU time would be both the wrong figure and the wrong stopping
        // rule. The CPU column stays the benchmark thread's own.
        benchmark::RegisterBenchmark(name.c_str(), [&prim, params](benchmark::State& state) {
          run_primitive(state, prim, params);
        })->UseRealTime();
      }
    }
  }
}

// Prints `text` after `label` (padded to `indent` columns), wrapped at word
// boundaries so that no line is longer than 100 columns.
void print_wrapped(const std::string& label, const std::string& text, size_t indent) {
  constexpr size_t kWidth = 100;
  std::string line = label;
  line.resize(label.empty() ? indent : std::max(indent, label.size() + 1), ' ');
  size_t at = 0;
  bool first_word = true;
  while (at < text.size()) {
    size_t end = text.find(' ', at);
    if (end == std::string::npos) end = text.size();
    const std::string word = text.substr(at, end - at);
    if (!first_word && line.size() + 1 + word.size() > kWidth) {
      std::printf("%s\n", line.c_str());
      line.assign(indent, ' ');
      first_word = true;
    }
    if (!first_word) line += ' ';
    line += word;
    first_word = false;
    at = end + 1;
  }
  std::printf("%s\n", line.c_str());
}

void print_help() {
  benchmark::PrintDefaultHelp();
  std::printf("\n");
  print_wrapped("",
                "cmbench-micro times the primitives of every model in cmbench's registry, one "
                "iteration at a time. Benchmarks are named primitive/model[/param:value...]/"
                "real_time: Google Benchmark adds /real_time because every one is timed by the "
                "wall clock, most of them involving more than the benchmark thread; the CPU "
                "column is the benchmark thread's own. Model parameters come from the registry: "
                "every value of a choice (uv's continuation), the default of a number (fiber's "
                "stack_size). Counters: items_per_second (one item per iteration) and ctx_sw, "
                "context switches per iteration (every thread of this process and its reaped "
                "children, setup and teardown of the run included).",
                0);
  for (const PrimitiveKind& kind : kinds()) {
    std::printf("\n%s: %s\n", kind.name, kind.summary);
    for (const ModelInfo* model : all_models()) {
      const Primitives* table = find_primitives(model->name);
      if (table == nullptr) continue;  // listed at the end
      const std::string label = "  " + model->name;
      const Primitive& prim = table->*kind.member;
      if (prim.run != nullptr)
        print_wrapped(label, prim.what, 12);
      else
        print_wrapped(label, std::string("none: ") + prim.absent, 12);
    }
  }
  std::string unmeasured;
  for (const ModelInfo* model : all_models()) {
    if (find_primitives(model->name) != nullptr) continue;
    if (!unmeasured.empty()) unmeasured += ", ";
    unmeasured += model->name;
  }
  if (!unmeasured.empty()) {
    std::printf("\n");
    print_wrapped("", "Models of the registry without a micro/<model>.cpp, not measured here: " +
                          unmeasured + ".", 0);
  }
}

}  // namespace
}  // namespace cmbench::micro

int main(int argc, char** argv) {
  // A unit that dies leaves its pipes without a reader; writing to one must
  // come back as EPIPE (an exception, reported as an error of that
  // benchmark) rather than kill the binary with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  benchmark::Initialize(&argc, argv, &cmbench::micro::print_help);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  try {
    cmbench::micro::register_all();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cmbench-micro: %s\n", e.what());
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
