#include "harness/driver/run.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <set>

#include "harness/cell/sample_clock.hpp"
#include "harness/cli/table.hpp"
#include "harness/registry/registry.hpp"
#include "harness/results/context.hpp"
#include "harness/results/gbench.hpp"
#include "harness/results/results.hpp"
#include "harness/sandbox/runner.hpp"

namespace cmbench {

namespace {

volatile sig_atomic_t g_interrupted = 0;

void on_interrupt(int) { g_interrupted = 1; }



// What the selection was, stored in the results file so that --resume can
// run exactly the rest of the same matrix.
nlohmann::json selection_json(const RunOptions& opt) {
  return {{"preset", opt.sel.preset},       {"models", opt.sel.models},
          {"workloads", opt.sel.workloads}, {"params", opt.sel.params},
          {"filter", opt.sel.filter},       {"shard", opt.shard},
          {"repetitions", opt.repetitions},
          {"warmup", opt.warmup},           {"timeout_s", opt.timeout_s},
          {"memory_limit_bytes", opt.memory_limit}};
}

// Restores the selection of an interrupted run from its results file.
void restore_selection(const nlohmann::json& doc, const std::string& path, RunOptions& opt) {
  const auto& o = doc.value("options", nlohmann::json::object());
  if (!o.contains("selection"))
    throw std::invalid_argument(
        fmt::format("--resume: {} does not record its selection (written by an older cmbench)", path));
  const auto& s = o["selection"];
  opt.sel.preset = s.value("preset", "default");
  opt.sel.models = s.value("models", std::vector<std::string>{});
  opt.sel.workloads = s.value("workloads", std::vector<std::string>{});
  opt.sel.params = s.value("params", std::vector<std::string>{});
  opt.sel.filter = s.value("filter", "");
  opt.shard = s.value("shard", "");
  opt.repetitions = s.value("repetitions", -1);
  opt.warmup = s.value("warmup", -1);
  opt.timeout_s = s.value("timeout_s", 120.0);
  opt.memory_limit = s.value("memory_limit_bytes", uint64_t{0});
}

std::string default_out_path() {
  std::time_t now = std::time(nullptr);
  return fmt::format("results/runs/{:%Y%m%d-%H%M%S}.json", fmt::localtime(now));
}

// SIGINT and SIGTERM set a flag that stops the running cell and the matrix.
}  // namespace

void install_interrupt_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  // Restart interrupted reads (of /proc, of git's output): the flag is what
  // stops the run, at the next point that looks at it.
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

const volatile sig_atomic_t* interrupted_flag() { return &g_interrupted; }

int run_matrix(RunOptions opt, const std::vector<std::string>& argv) {
  become_subreaper();
  install_interrupt_handlers();

  std::vector<Cell> cells;
  nlohmann::json earlier;  // the file being resumed
  try {
    if (!opt.resume.empty()) {
      earlier = load_results(opt.resume);
      restore_selection(earlier, opt.resume, opt);
      for (const auto& c : earlier["cells"])
        if (!c.is_object() || !c.contains("name") || !c["name"].is_string())
          throw std::invalid_argument(
              fmt::format("--resume: {}: a cell without a string \"name\"", opt.resume));
      opt.out = opt.resume;
    }
    cells = expand(opt.sel);
    if (!opt.shard.empty()) cells = take_shard(std::move(cells), opt.shard);
    sample_clock_wanted_tsc();  // a bad CMBENCH_SAMPLE_CLOCK stops here, not in every cell
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "cmbench run: {}\n", e.what());
    return 2;
  } catch (const nlohmann::json::exception& e) {
    // A field of the file being resumed has the wrong type.
    fmt::print(stderr, "cmbench run: --resume: {}: not a results file this cmbench wrote ({})\n",
               opt.resume, e.what());
    return 2;
  }
  const Preset& preset = *find_preset(opt.sel.preset);
  const int reps = opt.repetitions >= 0 ? opt.repetitions : preset.repetitions;
  const int warmup = opt.warmup >= 0 ? opt.warmup : preset.warmup;
  const std::string out = opt.out.empty() ? default_out_path() : opt.out;

  nlohmann::json doc = new_results_doc(collect_context(), argv,
                                       {{"preset", opt.sel.preset},
                                        {"repetitions", reps},
                                        {"warmup", warmup},
                                        {"timeout_s", opt.timeout_s},
                                        {"memory_limit_bytes", opt.memory_limit > 0 ? nlohmann::json(opt.memory_limit) : nlohmann::json()},
                                        {"memory_limit_method", opt.memory_limit > 0 ? nlohmann::json("RLIMIT_AS") : nlohmann::json()},
                                        {"selection", selection_json(opt)}});
  // Resuming: the earlier file's context and command stand (its cells were
  // measured there); cells it already has are kept and not run again.
  std::set<std::string> done;
  if (!earlier.is_null()) {
    const auto& was = earlier["context"];
    for (const char* key : {"host", "build_type", "git_commit", "cxx_flags"})
      if (was.value(key, nlohmann::json()) != doc["context"].value(key, nlohmann::json())) {
        fmt::print(stderr,
                   "cmbench run: --resume: {} was measured with another {} ({} here, {} there); "
                   "start a new run instead\n",
                   opt.resume, key, doc["context"].value(key, nlohmann::json()).dump(),
                   was.value(key, nlohmann::json()).dump());
        return 2;
      }
    doc["context"] = was;
    doc["command"] = earlier["command"];
    doc["resumed_by"] = argv;
    for (const auto& c : earlier["cells"]) {
      done.insert(c.value("name", ""));
      doc["cells"].push_back(c);
    }
  }
  try {
    write_json_atomic(out, doc);
  } catch (const std::exception& e) {
    fmt::print(stderr, "cmbench run: --out: cannot write {}: {}\n", out, e.what());
    return 2;
  }

  const bool progress = isatty(STDERR_FILENO);
  const int64_t t0 = now_ns();
  std::vector<CellResult> results;
  results.reserve(cells.size());
  size_t i = 0;
  for (; i < cells.size() && !g_interrupted; ++i) {
    const Cell& cell = cells[i];
    if (done.count(cell.name)) continue;
    CellResult r;
    r.cell = &cell;
    RepetitionRequest req = repetition_request(cell, opt.timeout_s, &g_interrupted);
    req.memory_limit_bytes = opt.memory_limit;
    // A cell stops at its first repetition that is not ok: a hang or a crash
    // repeats, and the first one already says what happened.
    bool good = true;
    // The command line's counts, else the cell's preset group's, else the preset's.
    const int cell_reps = opt.repetitions >= 0 ? reps : cell.repetitions >= 0 ? cell.repetitions : reps;
    const int cell_warmup = opt.warmup >= 0 ? warmup : cell.warmup >= 0 ? cell.warmup : warmup;
    for (int w = 0; w < cell_warmup && good && !g_interrupted; ++w) {
      if (progress)
        fmt::print(stderr, "\r\033[K[{}/{}] {} (warm-up)", i + 1, cells.size(), cell.name);
      r.warmups.push_back(run_repetition(req));
      good = r.warmups.back().outcome == Outcome::ok;
    }
    for (int k = 0; k < cell_reps && good && !g_interrupted; ++k) {
      if (progress)
        fmt::print(stderr, "\r\033[K[{}/{}] {} ({}/{})", i + 1, cells.size(), cell.name, k + 1, cell_reps);
      r.reps.push_back(run_repetition(req));
      good = r.reps.back().outcome == Outcome::ok;
    }
    // A cell interrupted before all its repetitions ran is not recorded:
    // --resume runs it again whole.
    const bool interrupted = (!r.warmups.empty() && r.warmups.back().interrupted) ||
                             (!r.reps.empty() && r.reps.back().interrupted);
    if (interrupted || (good && static_cast<int>(r.reps.size()) < cell_reps)) break;
    finish_cell(r, build_type());
    doc["cells"].push_back(to_json(r));
    results.push_back(std::move(r));
    write_json_atomic(out, doc);
  }
  if (progress) fmt::print(stderr, "\r\033[K");
  const double wall = static_cast<double>(now_ns() - t0) / 1e9;
  // Complete when every cell was run; a signal that came after the last one
  // interrupted nothing.
  const bool complete = i == cells.size();
  doc["complete"] = complete;
  doc["wall_s"] = wall;
  write_json_atomic(out, doc);
  if (opt.format == "gbench") {
    const std::string stem = out.size() > 5 && out.ends_with(".json") ? out.substr(0, out.size() - 5) : out;
    write_json_atomic(stem + ".gbench.json", to_gbench(doc));
    fmt::print(stderr, "Google Benchmark JSON written to {}.gbench.json\n", stem);
  }

  print_table(stdout, results);
  size_t ok = std::count_if(results.begin(), results.end(),
                            [](const CellResult& r) { return r.outcome == Outcome::ok; });
  size_t kept_ok = 0;
  for (const auto& c : earlier.is_null() ? nlohmann::json::array() : earlier["cells"])
    kept_ok += c.value("outcome", "") == "ok";
  if (!done.empty())
    fmt::print("\n{} cells kept from {} ({} ok); {} run now\n", done.size(), out, kept_ok, results.size());
  ok += kept_ok;
  fmt::print("\n{} of {} cells ok in {:.1f} s; results written to {}\n", ok, cells.size(), wall, out);
  std::fflush(stdout);
  if (!complete) {
    fmt::print(stderr, "cmbench run: interrupted; {} finished cells are in {}\n", results.size(), out);
    return 130;
  }
  return ok == cells.size() ? 0 : 1;
}

}  // namespace cmbench
