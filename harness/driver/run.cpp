#include "harness/driver/run.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>
#include <set>

#include "harness/cell/sample_clock.hpp"
#include "harness/cli/table.hpp"
#include "harness/registry/registry.hpp"
#include "harness/results/context.hpp"
#include "harness/results/gbench.hpp"
#include "harness/results/output.hpp"
#include "harness/results/results.hpp"
#include "harness/sandbox/runner.hpp"

namespace cmbench {

namespace {

volatile sig_atomic_t g_interrupted = 0;

// The first SIGINT, SIGTERM or SIGHUP sets the flag, which stops the running
// cell (the watchdog kills its group within 50 ms) and the matrix; the file
// is then written and the table printed, which takes well under a second.
// Should anything keep the run from winding down (a write to a stalled
// disk, a cell stuck in the kernel), SIGALRM a second later, or a second
// signal, ends it at once: the temporary of a write in progress is removed,
// the results file is the last complete one, and the cells die with the run
// (their parent-death signal).
void exit_now() {
  remove_temporary_now();
  static const char msg[] =
      "cmbench: interrupted; stopped at once (the results file is as last written)\n";
  (void)!::write(STDERR_FILENO, msg, sizeof msg - 1);
  ::_exit(130);
}

void on_interrupt(int) {
  if (g_interrupted) exit_now();
  g_interrupted = 1;
  ::alarm(1);
}

void on_alarm(int) {
  if (g_interrupted) exit_now();
}

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

// Restores the selection of an interrupted run from its results file (its
// types were checked by load_results; its values are checked as the flags'
// would be, by the caller).
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

}  // namespace

std::string check_timeout(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0.1 || seconds > 86400)
    return fmt::format("--timeout: '{}' is not accepted; accepted: seconds from 0.1 to 86400", seconds);
  return "";
}

std::string check_repetitions(int n) {
  if (n != -1 && (n < 1 || n > 1000))
    return fmt::format("--repetitions: '{}' is not accepted; accepted: 1 to 1000, or -1 for the preset's", n);
  return "";
}

std::string check_shard(const std::string& spec) {
  if (spec.empty()) return "";
  // Digits only, each side at most six of them: no sign, no overflow (a
  // number past 2^64 read by sscanf wraps and names the wrong slice).
  const auto slash = spec.find('/');
  auto digits = [](const std::string& s) {
    return !s.empty() && s.size() <= 6 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  const std::string i = slash == std::string::npos ? "" : spec.substr(0, slash);
  const std::string n = slash == std::string::npos ? "" : spec.substr(slash + 1);
  if (!digits(i) || !digits(n) || std::stol(i) < 1 || std::stol(i) > std::stol(n))
    return fmt::format("--shard: '{}' is not accepted; accepted: I/N with 1 <= I <= N <= 999999 (e.g. 2/4)", spec);
  return "";
}

std::string check_params(const std::vector<std::string>& params) {
  std::map<std::string, std::string> seen;
  for (const auto& p : params) {
    const std::string key = p.substr(0, p.find('='));
    if (auto [it, fresh] = seen.emplace(key, p); !fresh)
      return fmt::format("--param: '{}' is given twice ({} and {}); give one list instead: --param {}=v1,v2",
                         key, it->second, p, key);
  }
  return "";
}

void install_interrupt_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  // No SA_RESTART: a system call the signal interrupts returns EINTR rather
  // than waiting on (an open() of a FIFO with no writer would wait forever).
  sa.sa_flags = 0;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  struct sigaction alarm {};
  alarm.sa_handler = on_alarm;
  sigemptyset(&alarm.sa_mask);
  sigaction(SIGALRM, &alarm, nullptr);
  // A file-size limit (RLIMIT_FSIZE) makes a write fail with EFBIG, which
  // the writer reports, instead of killing the run.
  signal(SIGXFSZ, SIG_IGN);
}

const volatile sig_atomic_t* interrupted_flag() { return &g_interrupted; }

int run_matrix(RunOptions opt, const std::vector<std::string>& argv) {
  become_subreaper();
  install_interrupt_handlers();

  std::vector<Cell> cells;
  nlohmann::json earlier;  // the file being resumed
  try {
    if (!opt.resume.empty()) {
      try {
        earlier = load_results(opt.resume);
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(fmt::format("--resume: {}", e.what()));
      }
      restore_selection(earlier, opt.resume, opt);
      opt.out = opt.resume;
    }
    // The numbers the flags take, checked again here for what a resumed
    // file stored (a --timeout of nan once made a file its own --resume
    // could not read).
    for (const std::string& err : {check_timeout(opt.timeout_s), check_repetitions(opt.repetitions),
                                   check_shard(opt.shard), check_params(opt.sel.params)})
      if (!err.empty()) throw std::invalid_argument(opt.resume.empty() ? err : "--resume: " + opt.resume + ": " + err);
    if (opt.warmup < -1 || opt.warmup > 100)
      throw std::invalid_argument(fmt::format("--warmup: '{}' is not accepted; accepted: 0 to 100, or -1", opt.warmup));
    cells = expand(opt.sel);
    if (!opt.shard.empty()) cells = take_shard(std::move(cells), opt.shard);
    sample_clock_wanted_tsc();  // a bad CMBENCH_SAMPLE_CLOCK stops here, not in every cell
    if (!opt.out.empty()) check_output_path(opt.out, opt.resume.empty() ? "--out" : "--resume");
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "cmbench run: {}\n", e.what());
    return 2;
  }
  const Preset& preset = *find_preset(opt.sel.preset);
  const int reps = opt.repetitions >= 0 ? opt.repetitions : preset.repetitions;
  const int warmup = opt.warmup >= 0 ? opt.warmup : preset.warmup;
  const bool default_out = opt.out.empty();
  const std::string out = default_out ? claim_default_out_path() : opt.out;
  const std::string gbench_out =
      (out.size() > 5 && out.ends_with(".json") ? out.substr(0, out.size() - 5) : out) + ".gbench.json";
  // One writer per results file, for the whole run.
  OutputLock lock;
  try {
    if (opt.format == "gbench") check_output_path(gbench_out, "--out (its .gbench.json)");
    lock = OutputLock(out, opt.resume.empty() ? "--out" : "--resume");
  } catch (const std::invalid_argument& e) {
    if (default_out) ::unlink(out.c_str());
    fmt::print(stderr, "cmbench run: {}\n", e.what());
    return 2;
  }

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
    doc["command"] = earlier.value("command", nlohmann::json::array());
    doc["resumed_by"] = argv;
    for (const auto& c : earlier["cells"]) {
      done.insert(c["name"].get<std::string>());
      doc["cells"].push_back(c);
    }
  }
  try {
    write_json_atomic(out, doc);
  } catch (const std::exception& e) {
    if (default_out) ::unlink(out.c_str());
    fmt::print(stderr, "cmbench run: --out: cannot write {}: {}\n", out, e.what());
    return 2;
  }

  const bool progress = isatty(STDERR_FILENO);
  const int64_t t0 = now_ns();
  std::vector<CellResult> results;
  results.reserve(cells.size());
  // A write that failed (a full disk): the run stops, the file keeps what
  // the last good write put there, and the status says so.
  std::string write_failure;
  size_t written = 0;  // cells of this run in the file on disk
  size_t i = 0;
  for (; i < cells.size() && !g_interrupted && write_failure.empty(); ++i) {
    const Cell& cell = cells[i];
    if (done.count(cell.name)) continue;
    CellResult r;
    r.cell = &cell;
    RepetitionRequest req = repetition_request(cell, opt.timeout_s, &g_interrupted);
    req.memory_limit_bytes = opt.memory_limit;
    req.core_dir = opt.keep_core;
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
    try {
      write_json_atomic(out, doc);
      written = results.size();
    } catch (const std::exception& e) {
      write_failure = e.what();
    }
  }
  if (progress) fmt::print(stderr, "\r\033[K");
  const double wall = static_cast<double>(now_ns() - t0) / 1e9;
  // Complete when every cell was run; a signal that came after the last one
  // interrupted nothing.
  const bool complete = i == cells.size() && write_failure.empty();
  doc["complete"] = complete;
  doc["wall_s"] = wall;
  if (write_failure.empty()) {
    try {
      write_json_atomic(out, doc);
      if (opt.format == "gbench") {
        write_json_atomic(gbench_out, to_gbench(doc));
        fmt::print(stderr, "Google Benchmark JSON written to {}\n", gbench_out);
      }
    } catch (const std::exception& e) {
      write_failure = e.what();
    }
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
  fmt::print("\n{} of {} cells ok in {:.1f} s; results {} {}\n", ok, cells.size(), wall,
             write_failure.empty() ? "written to" : "could not all be written to", out);
  std::fflush(stdout);
  if (!write_failure.empty()) {
    fmt::print(stderr,
               "cmbench run: cannot write the results file: {}; stopped; {} keeps the {} cell(s) of this "
               "run written before ({} ran)\n",
               write_failure, out, written, results.size());
    return 3;
  }
  if (!complete) {
    fmt::print(stderr, "cmbench run: interrupted; {} finished cells are in {}\n", results.size(), out);
    return 130;
  }
  return ok == cells.size() ? 0 : 1;
}

}  // namespace cmbench
