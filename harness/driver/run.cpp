#include "harness/driver/run.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <functional>
#include <map>
#include <numeric>
#include <optional>
#include <random>
#include <set>

#include "harness/cell/sample_clock.hpp"
#include "harness/cli/table.hpp"
#include "harness/driver/progress.hpp"
#include "harness/registry/registry.hpp"
#include "harness/results/context.hpp"
#include "harness/results/gbench.hpp"
#include "harness/results/output.hpp"
#include "harness/results/results.hpp"
#include "harness/sandbox/instructions.hpp"
#include "harness/sandbox/pin.hpp"
#include "harness/sandbox/runner.hpp"
#include "harness/results/metrics.hpp"

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
          {"min_time_s", opt.min_time_s},
          {"memory_limit_bytes", opt.memory_limit},
          {"count", opt.count},
          {"pin", opt.pin},
          {"interleave", opt.interleave}};
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
  // A file from before --min-time ran every repetition once.
  opt.min_time_s = s.value("min_time_s", 0.0);
  opt.memory_limit = s.value("memory_limit_bytes", uint64_t{0});
  opt.count = s.value("count", "");
  // A file from before --pin ran every cell unpinned.
  opt.pin = s.value("pin", std::string(kPinOff));
  // A file from before --interleave ran each cell's repetitions together.
  opt.interleave = s.value("interleave", false);
}

}  // namespace

std::string check_timeout(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0.1 || seconds > 86400)
    return fmt::format("--timeout: '{}' is not accepted; accepted: seconds from 0.1 to 86400", seconds);
  return "";
}

std::string check_min_time(double seconds) {
  if (seconds != -1 && (!std::isfinite(seconds) || seconds < 0 || seconds > 60))
    return fmt::format("--min-time: '{}' is not accepted; accepted: seconds from 0 to 60, or -1 for the default ({})",
                       seconds, kDefaultMinTimeS);
  return "";
}

int passes_for(double min_time_s, double pass_s, double elapsed_s, double timeout_s) {
  if (min_time_s <= 0 || pass_s >= min_time_s) return 1;
  const double wanted = pass_s > 0 ? std::ceil(1.2 * min_time_s / pass_s) : kMaxPasses;
  const double fits = elapsed_s > 0 ? std::floor(0.5 * timeout_s / elapsed_s) : kMaxPasses;
  return static_cast<int>(std::clamp(std::min(wanted, fits), 1.0, static_cast<double>(kMaxPasses)));
}

RepetitionResult add_process_passes(std::vector<RepetitionResult> parts) {
  if (parts.empty()) throw std::invalid_argument("add_process_passes: no passes");
  const size_t n = parts.size();
  if (n == 1) return std::move(parts.front());
  double wall = 0, user = 0, sys = 0, loop = 0, cross_cpu = 0, peak = 0;
  uint64_t ops = 0, voluntary = 0, involuntary = 0;
  double elapsed = 0, stopped = 0;
  nlohmann::json rusage = nlohmann::json::object();
  for (const RepetitionResult& p : parts) {
    const nlohmann::json& m = p.metrics;
    if (m.contains(metrics::latency_ns.name))
      throw std::invalid_argument("add_process_passes: a latency histogram's percentiles cannot be added up");
    wall += m.value(metrics::wall_s.name, 0.0);
    ops += m.value(metrics::operations.name, uint64_t{0});
    user += m.value(metrics::cpu_user_s.name, 0.0);
    sys += m.value(metrics::cpu_sys_s.name, 0.0);
    voluntary += m.value(metrics::ctx_voluntary.name, uint64_t{0});
    involuntary += m.value(metrics::ctx_involuntary.name, uint64_t{0});
    loop += m.value(metrics::ref_loop_ns.name, 0.0);
    cross_cpu += m.value(metrics::ref_cross_cpu_ns.name, 0.0);
    peak = std::max(peak, m.value(metrics::memory_peak_bytes.name, 0.0));
    elapsed += p.elapsed_s;
    stopped += p.stopped_s;
    for (const auto& [key, value] : p.cell_rusage.items())
      rusage[key] = rusage.value(key, 0.0) + value.get<double>();
  }
  RepetitionResult out = std::move(parts.front());  // its notes and memory per unit
  // A workload's own metrics (any the harness does not write) are the last
  // pass's.
  for (const auto& [name, value] : parts.back().metrics.items()) {
    const metrics::Metric* known = metrics::find(name);
    if (!known || !metrics::reserved(*known)) out.metrics[name] = value;
  }
  nlohmann::json& m = out.metrics;
  const double per = ops ? static_cast<double>(ops) : 1.0;
  m[metrics::wall_s.name] = wall;
  m[metrics::operations.name] = ops;
  m[metrics::passes.name] = n;
  m[metrics::ops_per_s.name] = wall > 0 ? static_cast<double>(ops) / wall : 0.0;
  m[metrics::ns_per_op.name] = ops ? wall * 1e9 / per : 0.0;
  m[metrics::cpu_user_s.name] = user;
  m[metrics::cpu_sys_s.name] = sys;
  m[metrics::ctx_voluntary.name] = voluntary;
  m[metrics::ctx_involuntary.name] = involuntary;
  m[metrics::cpu_ns_per_op.name] = (user + sys) * 1e9 / per;
  m[metrics::ctx_per_op.name] = static_cast<double>(voluntary + involuntary) / per;
  if (m.contains(metrics::ref_loop_ns.name)) m[metrics::ref_loop_ns.name] = loop / static_cast<double>(n);
  if (m.contains(metrics::ref_cross_cpu_ns.name))
    m[metrics::ref_cross_cpu_ns.name] = cross_cpu / static_cast<double>(n);
  if (m.contains(metrics::memory_peak_bytes.name)) m[metrics::memory_peak_bytes.name] = peak;
  out.cell_rusage = rusage;
  out.elapsed_s = elapsed;
  out.stopped_s = stopped;
  return out;
}

void calibrate_passes(const Cell& cell, const RepetitionResult& first, double min_time_s, double timeout_s,
                      RepetitionRequest& req, int& process_passes) {
  const int passes =
      passes_for(min_time_s, first.metrics.value(metrics::wall_s.name, 0.0), first.elapsed_s, timeout_s);
  if (passes_in_process(*cell.entry, cell.params))
    req.passes = passes;
  else if (passes_in_fresh_processes(*cell.entry, cell.params))
    process_passes = std::min(passes, kMaxProcessPasses);
}

RepetitionResult run_passes(const RepetitionRequest& req, int process_passes) {
  if (process_passes <= 1) return run_repetition(req);
  std::vector<RepetitionResult> parts;
  parts.reserve(static_cast<size_t>(process_passes));
  for (int k = 0; k < process_passes; ++k) {
    RepetitionResult r = run_repetition(req);
    if (r.interrupted || r.outcome != Outcome::ok) {
      r.message = fmt::format("pass {} of {} (each in a fresh process): {}", k + 1, process_passes, r.message);
      return r;
    }
    parts.push_back(std::move(r));
  }
  return add_process_passes(std::move(parts));
}

std::vector<size_t> round_order(uint32_t seed, int round, size_t cells) {
  std::vector<size_t> order(cells);
  std::iota(order.begin(), order.end(), size_t{0});
  // Fisher-Yates with the generator's own draws (std::shuffle's use of them
  // differs between standard libraries; mt19937_64's output does not).
  std::seed_seq seq{seed, static_cast<uint32_t>(round)};
  std::mt19937_64 draw(seq);
  for (size_t k = cells; k > 1; --k) std::swap(order[k - 1], order[draw() % k]);
  return order;
}

std::string check_count(const std::string& count, const std::vector<Cell>& cells) {
  if (count.empty()) return "";
  if (count != kCountInstructions)
    return fmt::format("--count: '{}' is not accepted; accepted: instructions", count);
  if (auto why = count_unavailable()) return fmt::format("--count instructions: {}", *why);
  // One line: the first cell that cannot be counted, why, and how many more.
  std::string first;
  size_t refused = 0;
  for (const Cell& cell : cells)
    if (auto why = count_refusal(cell.entry->workload->name, cell.entry->model->name, cell.params.all())) {
      if (first.empty()) first = fmt::format("{}: {}", cell.name, *why);
      ++refused;
    }
  if (refused == 0) return "";
  return fmt::format("--count instructions: refused for {}{}; select one-thread cells, e.g. --models "
                     "fiber,boost-fiber,coro,uv --param threads=1",
                     first, refused > 1 ? fmt::format(" (and {} more cells)", refused - 1) : "");
}

std::string check_pin(const std::string& pin) {
  if (pin != kPinAuto && pin != kPinOff)
    return fmt::format("--pin: '{}' is not accepted; accepted: {} (one-thread cells on one CPU), {}", pin, kPinAuto,
                       kPinOff);
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
  if (!opt.list_cells) {
    become_subreaper();
    install_interrupt_handlers();
  }

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
                                   check_min_time(opt.min_time_s),
                                   check_shard(opt.shard), check_params(opt.sel.params), check_pin(opt.pin)})
      if (!err.empty()) throw std::invalid_argument(opt.resume.empty() ? err : "--resume: " + opt.resume + ": " + err);
    if (opt.warmup < -1 || opt.warmup > 100)
      throw std::invalid_argument(fmt::format("--warmup: '{}' is not accepted; accepted: 0 to 100, or -1", opt.warmup));
    cells = expand(opt.sel);
    if (!opt.shard.empty()) cells = take_shard(std::move(cells), opt.shard);
    if (std::string err = check_count(opt.count, cells); !err.empty()) throw std::invalid_argument(err);
    sample_clock_wanted_tsc();  // a bad CMBENCH_SAMPLE_CLOCK stops here, not in every cell
    if (!opt.out.empty()) check_output_path(opt.out, opt.resume.empty() ? "--out" : "--resume");
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "cmbench run: {}\n", e.what());
    return 2;
  }
  if (opt.list_cells) {
    std::set<std::string> done;
    if (!earlier.is_null())
      for (const auto& c : earlier["cells"]) done.insert(c["name"].get<std::string>());
    for (const auto& c : cells)
      if (!done.count(c.name)) fmt::print("{}\n", c.name);
    return 0;
  }
  const Preset& preset = *find_preset(opt.sel.preset);
  const bool counting = !opt.count.empty();
  const int reps = opt.repetitions >= 0 ? opt.repetitions : counting ? kCountRepetitions : preset.repetitions;
  const int warmup = opt.warmup >= 0 ? opt.warmup : counting ? kCountWarmup : preset.warmup;
  // A cell's counts: the command line's (or --count's), else its preset
  // group's, else the preset's.
  const bool counts_given = opt.repetitions >= 0 || counting;
  const bool warmups_given = opt.warmup >= 0 || counting;
  auto reps_of = [&](const Cell& c) { return !counts_given && c.repetitions >= 0 ? c.repetitions : reps; };
  auto warmup_of = [&](const Cell& c) { return !warmups_given && c.warmup >= 0 ? c.warmup : warmup; };
  // Under --count the counts are the same in every pass: no warm-up, no passes.
  const double min_time = counting ? 0 : opt.min_time_s >= 0 ? opt.min_time_s : preset.min_time_s;
  const bool default_out = opt.out.empty();
  const std::string out = default_out ? claim_default_out_path() : opt.out;
  // Under --count, Valgrind runs a cell's threads one at a time anyway.
  const bool pin = opt.pin == kPinAuto && !counting && can_pin();
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

  const uint32_t interleave_seed = opt.interleave ? std::random_device{}() : 0;
  nlohmann::json doc = new_results_doc(collect_context(), argv,
                                       {{"preset", opt.sel.preset},
                                        {"repetitions", reps},
                                        {"warmup", warmup},
                                        {"min_time_s", min_time},
                                        {"timeout_s", opt.timeout_s},
                                        {"memory_limit_bytes", opt.memory_limit > 0 ? nlohmann::json(opt.memory_limit) : nlohmann::json()},
                                        {"memory_limit_method", opt.memory_limit > 0 ? nlohmann::json("RLIMIT_AS") : nlohmann::json()},
                                        {"count", counting ? nlohmann::json(opt.count) : nlohmann::json()},
                                        {"pin", opt.pin},
                                        {"interleave", opt.interleave ? nlohmann::json{{"order", "random rounds"},
                                                                                       {"seed", interleave_seed}}
                                                                      : nlohmann::json()},
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
                     static_cast<double>(ops ? std::max<uint64_t>(ops(c.params), 1) : 1) *
                         (warmup_of(c) + reps_of(c))});
  }
  EtaEstimator eta(std::move(sizes), (warmup + reps) * opt.timeout_s);
  const int64_t t0 = now_ns();
  std::vector<CellResult> results;
  results.reserve(cells.size());
  std::vector<size_t> result_index;  // each result's place in `cells`
  nlohmann::json table_cells = nlohmann::json::array();  // the cells run now, as stored
  // A write that failed (a full disk): the run stops, the file keeps what
  // the last good write put there, and the status says so.
  std::string write_failure;
  size_t written = 0;  // cells of this run in the file on disk

  // One cell being measured: its result so far, the request that runs its
  // repetitions, and the fresh processes a repetition takes.
  struct CellRun {
    CellResult r;
    RepetitionRequest req;
    int process_passes = 1;
    bool good = true;  // every repetition so far ok
    int64_t spent_ns = 0;
  };
  auto show = [&](size_t i, const std::string& name, const std::string& phase, int64_t since_ns,
                  std::optional<double> left) {
    if (!live) return;
    fmt::print(stderr, "\r\033[K{}",
               live_line(i, cells.size(), static_cast<double>(now_ns() - t0) / 1e9,
                         left ? left : eta.remaining_s(i, static_cast<double>(now_ns() - since_ns) / 1e9),
                         name, phase, columns));
  };
  auto begin_cell = [&](const Cell& cell) {
    CellRun c;
    c.r.cell = &cell;
    c.req = repetition_request(cell, opt.timeout_s, &g_interrupted, pin);
    c.r.pinned = c.req.pin;
    c.req.memory_limit_bytes = opt.memory_limit;
    c.req.core_dir = opt.keep_core;
    c.req.count_instructions = counting;
    return c;
  };
  // The warm-ups. Passes are calibrated once per cell, from its first
  // warm-up (one pass); with --warmup 0 there is nothing to calibrate
  // from, and every repetition runs one pass, as asked. A cell stops at its
  // first repetition that is not ok: a hang or a crash repeats, and the
  // first one already says what happened.
  auto warm = [&](CellRun& c, const std::function<void()>& shown) {
    const int64_t from = now_ns();
    for (int w = 0; w < warmup_of(*c.r.cell) && c.good && !g_interrupted; ++w) {
      shown();
      const int64_t started = now_ns();
      c.r.warmups.push_back(run_passes(c.req, c.process_passes));
      c.r.warmups.back().started_s = static_cast<double>(started - t0) / 1e9;
      const RepetitionResult& first = c.r.warmups.back();
      c.good = first.outcome == Outcome::ok;
      if (c.good && w == 0) calibrate_passes(*c.r.cell, first, min_time, opt.timeout_s, c.req, c.process_passes);
      c.r.passes = std::max(c.req.passes, c.process_passes);
    }
    c.spent_ns += now_ns() - from;
  };
  auto repeat = [&](CellRun& c) {
    const int64_t from = now_ns();
    c.r.reps.push_back(run_passes(c.req, c.process_passes));
    c.r.reps.back().started_s = static_cast<double>(from - t0) / 1e9;
    c.good = c.r.reps.back().outcome == Outcome::ok;
    c.spent_ns += now_ns() - from;
  };
  // Whether the cell has all it will run: a repetition not ok ends it, and
  // an interrupted one is never recorded (--resume runs the cell again
  // whole).
  auto interrupted_in = [](const CellRun& c) {
    return (!c.r.warmups.empty() && c.r.warmups.back().interrupted) ||
           (!c.r.reps.empty() && c.r.reps.back().interrupted);
  };
  auto over = [&](const CellRun& c) {
    return !interrupted_in(c) && (!c.good || static_cast<int>(c.r.reps.size()) >= reps_of(*c.r.cell));
  };
  // Records a cell that is over: the results file is written again, so that
  // an interrupted run keeps it.
  auto record = [&](size_t i, CellRun& c) {
    finish_cell(c.r, build_type());
    eta.finished(i, static_cast<double>(c.spent_ns) / 1e9, c.r.outcome == Outcome::ok);
    doc["cells"].push_back(to_json(c.r));
    table_cells.push_back(doc["cells"].back());
    results.push_back(std::move(c.r));
    result_index.push_back(i);
    try {
      write_json_atomic(out, doc);
      written = results.size();
    } catch (const std::exception& e) {
      write_failure = e.what();
    }
    if (log_lines) {
      fmt::print("{}\n", finished_line(table_cells.back(), i, cells.size()));
      std::fflush(stdout);
    }
  };
  auto going = [&] { return !g_interrupted && write_failure.empty(); };

  // Cells whose repetitions ran but not to the end (an interleaved run
  // that was interrupted): not recorded.
  size_t cut_short = 0;
  size_t i = 0;
  if (!opt.interleave) {
    for (; i < cells.size() && going(); ++i) {
      const Cell& cell = cells[i];
      if (done.count(cell.name)) {
        eta.skipped(i);
        continue;
      }
      const int64_t cell_t0 = now_ns();
      CellRun c = begin_cell(cell);
      warm(c, [&] { show(i, cell.name, "warm-up", cell_t0, std::nullopt); });
      for (int k = 0; k < reps_of(cell) && c.good && !g_interrupted; ++k) {
        show(i, cell.name, fmt::format("{}/{}", k + 1, reps_of(cell)), cell_t0, std::nullopt);
        repeat(c);
      }
      if (!over(c)) break;
      record(i, c);
    }
  } else {
    // Every cell's warm-ups first (in the matrix's order), then the rounds.
    // The estimate of the time left: the time per repetition so far times
    // the repetitions to come.
    std::vector<std::optional<CellRun>> runs(cells.size());
    double units_left = 0, units_done = 0;
    for (size_t j = 0; j < cells.size(); ++j)
      if (!done.count(cells[j].name)) units_left += warmup_of(cells[j]) + reps_of(cells[j]);
    auto left = [&]() -> std::optional<double> {
      if (units_done == 0) return std::nullopt;
      return static_cast<double>(now_ns() - t0) / 1e9 / units_done * units_left;
    };
    auto account = [&](double units) {
      units_done += units;
      units_left -= units;
    };
    for (size_t j = 0; j < cells.size() && going(); ++j) {
      if (done.count(cells[j].name)) {
        eta.skipped(j);
        continue;
      }
      runs[j] = begin_cell(cells[j]);
      warm(*runs[j], [&] { show(j, cells[j].name, "warm-up", t0, left()); });
      account(warmup_of(cells[j]));
      if (over(*runs[j])) {  // not ok in a warm-up
        account(reps_of(cells[j]));
        record(j, *runs[j]);
        runs[j].reset();
      }
    }
    int rounds = 0;
    for (const auto& c : runs)
      if (c) rounds = std::max(rounds, reps_of(*c->r.cell));
    // In a log, a line per phase: the cells are written at the end.
    auto log_phase = [&](const std::string& what) {
      if (!log_lines || !going()) return;
      fmt::print("{} ({} elapsed)\n", what, human_duration(static_cast<double>(now_ns() - t0) / 1e9));
      std::fflush(stdout);
    };
    log_phase(fmt::format("warm-ups done; {} rounds of repetitions, one of each cell a round, in a random order",
                          rounds));
    for (int k = 0; k < rounds && going(); ++k) {
      for (size_t j : round_order(interleave_seed, k, cells.size())) {
        if (!going()) break;
        if (!runs[j] || static_cast<int>(runs[j]->r.reps.size()) > k) continue;
        show(j, cells[j].name, fmt::format("round {}/{}", k + 1, rounds), t0, left());
        repeat(*runs[j]);
        account(1);
        if (over(*runs[j])) {
          if (!runs[j]->good) account(reps_of(cells[j]) - static_cast<double>(runs[j]->r.reps.size()));
          record(j, *runs[j]);
          runs[j].reset();
        }
      }
      if (k + 1 < rounds) log_phase(fmt::format("round {} of {} done", k + 1, rounds));
    }
    for (const auto& c : runs) cut_short += c.has_value();
    // Complete when every cell was recorded (a signal after the last one
    // interrupted nothing).
    size_t todo = 0;
    for (const auto& cell : cells) todo += !done.count(cell.name);
    i = results.size() == todo ? cells.size() : 0;
    // The file and the table list the cells in the matrix's order, as a run
    // in cells' order does; each cell was written as it ended.
    std::vector<size_t> by(results.size());
    for (size_t k = 0; k < by.size(); ++k) by[k] = k;
    std::stable_sort(by.begin(), by.end(), [&](size_t a, size_t b) { return result_index[a] < result_index[b]; });
    const size_t kept_before = doc["cells"].size() - results.size();
    nlohmann::json ordered = nlohmann::json::array();
    std::vector<CellResult> sorted;
    for (size_t k : by) {
      ordered.push_back(table_cells[k]);
      sorted.push_back(std::move(results[k]));
    }
    for (size_t k = 0; k < by.size(); ++k) doc["cells"][kept_before + k] = ordered[k];
    table_cells = std::move(ordered);
    results = std::move(sorted);
  }
  if (live) fmt::print(stderr, "\r\033[K");
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

  if (!opt.quiet) {
    print_table(stdout, table_cells);
    // Once, under the table, when the figures of the thread and process
    // cells are mostly the hypervisor's wake-ups: those whose units may be
    // woken on another CPU (not pinned).
    // And when the machine's host takes freed memory back while the run has
    // cells whose figure is mostly first-touch page faults: spawn's units'
    // memory (the workloads that report memory per unit).
    bool kernel_cells = false, fresh_memory_cells = false;
    for (const auto& c : table_cells) {
      const auto& facts = doc["models"].value(c.value("model", ""), nlohmann::json::object());
      kernel_cells |= facts.value("kernel_scheduled", false) && !c.value("pinned", false);
      const WorkloadSpec* w = find_workload(c.value("workload", ""));
      fresh_memory_cells |= w && w->memory_per_unit;
    }
    if (kernel_cells && idle_cpus_halt_at_once(doc["context"]))
      fmt::print("\n{}\n", fold(fmt::format("NOTE: {}", kHaltAtOnceNote), kTableColumns, 0));
    if (fresh_memory_cells && host_reclaims_free_memory(doc["context"]))
      fmt::print("\n{}\n", fold(fmt::format("NOTE: {}", host_reclaim_note(doc["context"])), kTableColumns, 0));
    if (const auto steady = machine_steadiness(doc); steady && machine_unsteady(*steady))
      fmt::print("\n{}\n", fold(fmt::format("NOTE: {}", machine_steadiness_note(*steady)), kTableColumns, 0));
  }
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
  fmt::print("\n{} of {} cells ok{} in {:.1f} s; results {} {}\n", outcomes[Outcome::ok], cells.size(), others,
             wall, write_failure.empty() ? "written to" : "could not all be written to", out);
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
    if (cut_short > 0)
      fmt::print(stderr,
                 "cmbench run: {} cell(s) had not run all their rounds and are not kept; --resume {} runs "
                 "them whole\n",
                 cut_short, out);
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
