#include "harness/driver/run.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <set>

#include "harness/cell/sample_clock.hpp"
#include "harness/cli/table.hpp"
#include "harness/driver/progress.hpp"
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

bool outcome_passes(Outcome o, bool strict) {
  switch (o) {
    case Outcome::ok:
      return true;
    case Outcome::limit:
      return !strict;
    case Outcome::invalid:
    case Outcome::timeout:
    case Outcome::crashed:
    case Outcome::failed:
      return false;
  }
  return false;
}

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

  // On a terminal, a live line on stderr; in a log (stdout not a terminal),
  // a line per finished cell on stdout, so that a CI log shows the run as it
  // goes. --quiet: neither, only the summary.
  const bool live = !opt.quiet && isatty(STDERR_FILENO);
  const bool log_lines = !opt.quiet && !isatty(STDOUT_FILENO);
  size_t columns = 0;
  if (struct winsize ws {}; live && ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0) columns = ws.ws_col;
  std::vector<EtaEstimator::CellSize> sizes;
  for (const auto& c : cells) {
    const auto& ops = c.entry->workload->operations;
    sizes.push_back({c.entry->workload->name, c.entry->model->name,
                     static_cast<double>(ops ? std::max<uint64_t>(ops(c.params), 1) : 1) * (warmup + reps)});
  }
  EtaEstimator eta(std::move(sizes), (warmup + reps) * opt.timeout_s);
  const int64_t t0 = now_ns();
  std::vector<CellResult> results;
  results.reserve(cells.size());
  nlohmann::json table_cells = nlohmann::json::array();  // the cells run now, as stored
  size_t i = 0;
  for (; i < cells.size() && !g_interrupted; ++i) {
    const Cell& cell = cells[i];
    if (done.count(cell.name)) {
      eta.skipped(i);
      continue;
    }
    const int64_t cell_t0 = now_ns();
    auto show = [&](const std::string& phase) {
      if (!live) return;
      const double since = static_cast<double>(now_ns() - cell_t0) / 1e9;
      fmt::print(stderr, "\r\033[K{}",
                 live_line(i, cells.size(), static_cast<double>(now_ns() - t0) / 1e9, eta.remaining_s(i, since),
                           cell.name, phase, columns));
    };
    CellResult r;
    r.cell = &cell;
    RepetitionRequest req = repetition_request(cell, opt.timeout_s, &g_interrupted);
    req.memory_limit_bytes = opt.memory_limit;
    // A cell stops at its first repetition that is not ok: a hang or a crash
    // repeats, and the first one already says what happened.
    bool good = true;
    for (int w = 0; w < warmup && good && !g_interrupted; ++w) {
      show("warm-up");
      r.warmups.push_back(run_repetition(req));
      good = r.warmups.back().outcome == Outcome::ok;
    }
    for (int k = 0; k < reps && good && !g_interrupted; ++k) {
      show(fmt::format("{}/{}", k + 1, reps));
      r.reps.push_back(run_repetition(req));
      good = r.reps.back().outcome == Outcome::ok;
    }
    // A cell interrupted before all its repetitions ran is not recorded:
    // --resume runs it again whole.
    const bool interrupted = (!r.warmups.empty() && r.warmups.back().interrupted) ||
                             (!r.reps.empty() && r.reps.back().interrupted);
    if (interrupted || (good && static_cast<int>(r.reps.size()) < reps)) break;
    finish_cell(r, build_type());
    eta.finished(i, static_cast<double>(now_ns() - cell_t0) / 1e9, r.outcome == Outcome::ok);
    doc["cells"].push_back(to_json(r));
    table_cells.push_back(doc["cells"].back());
    results.push_back(std::move(r));
    write_json_atomic(out, doc);
    if (log_lines) {
      fmt::print("{}\n", finished_line(table_cells.back(), i, cells.size()));
      std::fflush(stdout);
    }
  }
  if (live) fmt::print(stderr, "\r\033[K");
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

  if (!opt.quiet) print_table(stdout, table_cells);
  // Every cell of the file counts, those kept from the run being resumed too.
  std::map<Outcome, size_t> outcomes;
  for (const auto& r : results) ++outcomes[r.outcome];
  size_t kept_ok = 0;
  for (const auto& c : earlier.is_null() ? nlohmann::json::array() : earlier["cells"]) {
    const auto o = outcome_from_string(c.value("outcome", "")).value_or(Outcome::failed);
    ++outcomes[o];
    kept_ok += o == Outcome::ok;
  }
  if (!done.empty())
    fmt::print("\n{} cells kept from {} ({} ok); {} run now\n", done.size(), out, kept_ok, results.size());
  std::string others;
  for (const auto& [o, n] : outcomes)
    if (o != Outcome::ok) others += fmt::format(", {} {}", n, to_string(o));
  fmt::print("\n{} of {} cells ok{} in {:.1f} s; results written to {}\n", outcomes[Outcome::ok], cells.size(),
             others, wall, out);
  std::fflush(stdout);
  if (!complete) {
    fmt::print(stderr, "cmbench run: interrupted; {} finished cells are in {}\n", results.size(), out);
    return 130;
  }
  size_t failing = 0;
  for (const auto& [o, n] : outcomes) failing += outcome_passes(o, opt.strict) ? 0 : n;
  if (failing > 0)
    fmt::print(stderr, "cmbench run: exit status 1: {} of {} cells {}\n", failing, cells.size(),
               opt.strict ? "were not ok (--strict: a limit fails too)"
                          : "crashed, failed, timed out or did not verify");
  return failing == 0 ? 0 : 1;
}

}  // namespace cmbench
