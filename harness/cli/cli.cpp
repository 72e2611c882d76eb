#include "harness/cli/cli.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <map>
#include <set>

#include "harness/driver/ab.hpp"
#include "harness/driver/matrix.hpp"
#include "harness/driver/run.hpp"
#include "harness/history/commands.hpp"
#include "harness/history/input.hpp"
#include "harness/registry/external.hpp"
#include "harness/registry/registry.hpp"
#include "harness/results/bmf.hpp"
#include "harness/results/context.hpp"
#include "harness/results/gbench.hpp"
#include "harness/results/merge.hpp"
#include "harness/results/metrics.hpp"
#include "harness/results/results.hpp"
#include "harness/sandbox/cell.hpp"
#include "harness/sandbox/pin.hpp"
#include "harness/sandbox/runner.hpp"
#include "harness/stats/compare.hpp"
#include "report/report.hpp"
#include "workloads/echo/spec.hpp"  // ECHO-HELPER: the hidden loadgen command

namespace cmbench {

namespace {

// The names of the metric table's rows the gate compares one way, for help.
std::string gated_metric_names(metrics::Gate gate) {
  std::vector<std::string> names;
  for (const auto& m : metrics::all())
    if (m.gate == gate) names.emplace_back(m.name);
  return fmt::format("{}", fmt::join(names, ", "));
}


void print_list() {
  fmt::print("Models:\n");
  for (const auto* m : all_models()) {
    fmt::print("  {:<10} {}\n", m->name, m->summary);
    fmt::print("  {:<10}   scheduled by: {}\n", "", m->taxonomy.scheduled_by);
    for (const auto& p : m->params)
      fmt::print("  {:<10}   --param {}=  {} (default {}; {})\n", "", p.name, p.help,
                 p.default_value, p.accepted());
  }
  fmt::print("\nWorkloads:\n");
  for (const auto* w : all_workloads()) {
    std::vector<std::string> in;
    for (const auto& e : all_entries())
      if (e.workload == w) in.push_back(e.model->name);
    fmt::print("  {:<10} {}\n  {:<10}   models: {}\n", w->name, w->summary, "", fmt::join(in, ", "));
    for (const auto& p : w->params)
      fmt::print("  {:<10}   --param {}=  {} (default {}; {})\n", "", p.name, p.help,
                 p.default_value, p.accepted());
  }
  fmt::print("\nPresets:\n");
  for (const auto& p : presets())
    fmt::print("  {:<10} {} ({} repetitions, {} warm-up)\n", p.name, p.summary, p.repetitions,
               p.warmup);
}


}  // namespace

int cli_main(int argc, char** argv) {
  // ECHO-HELPER: the echo workload's load generator re-executes this binary
  // as `cmbench loadgen key=value...`; hidden from --help and the command list.
  if (argc > 1 && std::string_view(argv[1]) == "loadgen") return echo::loadgen_main(argc, argv);
  CLI::App app{"cmbench: the four ways to write concurrent programs, measured side by side"};
  app.require_subcommand(1);
  app.option_defaults()->always_capture_default();

  auto* list = app.add_subcommand("list", "List models, workloads with their parameters, and presets");
  // External models (docs/cell-protocol.md): a manifest per model, on every
  // command that runs or lists cells.
  std::vector<std::string> externals;
  const std::string external_help =
      "A model outside the build: its manifest file (repeatable; docs/cell-protocol.md). Manifests in the "
      "default folder (lib/cmbench/models beside cmbench, or $CMBENCH_MODELS_DIR) are read without it";
  list->add_option("--external", externals, external_help)->allow_extra_args(false);

  RunOptions opt;
  auto* run = app.add_subcommand("run", "Run a benchmark matrix and write a results file");
  run->add_option("--preset", opt.sel.preset, "Cells and sizes to start from: default | quick | full | ci | scaling");
  run->add_option("--models", opt.sel.models, "Models to run, comma-separated (default: all)")
      ->delimiter(',');
  run->add_option("--workloads", opt.sel.workloads,
                  "Workloads to run, comma-separated (default: all in the preset)")
      ->delimiter(',');
  run->add_option("--param", opt.sel.params,
                  "Parameter values, key=v1,v2 (repeatable); lists expand into a matrix");
  run->add_option("--filter", opt.sel.filter,
                  "Run only cells whose name matches this regular expression");
  run->add_option("--external", externals, external_help)->allow_extra_args(false);
  // The numbers are checked by the same functions that check a resumed
  // file's (harness/driver/run.hpp): no NaN timeout, no zero repetitions.
  auto checked = [](auto check) {
    return CLI::Validator([check](std::string& text) -> std::string {
      try {
        size_t used = 0;
        const double v = std::stod(text, &used);
        if (used != text.size()) throw std::invalid_argument(text);
        std::string err = check(v);
        return err.empty() ? "" : err.substr(err.find(": ") + 2);
      } catch (const std::exception&) {
        return fmt::format("'{}' is not a number", text);
      }
    }, "");
  };
  run->add_option("--repetitions", opt.repetitions,
                  "Measured repetitions per cell (-1: the preset's; default 5, quick 3)")
      ->check(checked([](double v) { return check_repetitions(static_cast<int>(v)); }));
  run->add_option("--warmup", opt.warmup, "Discarded repetitions before them (-1: the preset's, 1)")
      ->check(CLI::Range(-1, 100));
  const std::string min_time_help =
      fmt::format("The least a repetition's timed region lasts, in seconds: a cell whose one run "
                  "of the workload is shorter runs it again in the same repetition, a number of "
                  "passes calibrated once per cell from its warm-up (0: one pass; -1: the "
                  "preset's, {} but quick and ci 0.01)", kDefaultMinTimeS);
  run->add_option("--min-time", opt.min_time_s, min_time_help)
      ->check(checked([](double v) { return check_min_time(v); }));
  run->add_option("--timeout", opt.timeout_s, "Seconds one repetition may take before it is killed")
      ->check(checked([](double v) { return check_timeout(v); }));
  // A size as people write it (512M, 2G), checked here so that a bad one is
  // refused, in one line, before anything runs.
  std::string memory_limit_text;
  run->add_option("--memory-limit", memory_limit_text,
                  "Memory limit of each repetition's cell process, e.g. 512M or 2G (K, M, G: powers of "
                  "1024; applied as RLIMIT_AS; default: none)")
      ->check(CLI::Validator(
          [&opt](std::string& text) -> std::string {
            auto bytes = parse_memory_size(text);
            if (!bytes || *bytes < kMinMemoryLimit)
              return fmt::format("'{}' is not accepted; accepted: a size of at least 16M, such as 512M or 2G", text);
            opt.memory_limit = *bytes;
            return "";
          },
          "SIZE"));
  run->add_option("--shard", opt.shard,
                  "Run only the I-th of N deterministic slices of the matrix (I/N, e.g. 2/4); join "
                  "the slices' files with 'cmbench merge'")
      ->check(CLI::Validator([](std::string& text) {
        const std::string err = check_shard(text);
        return err.empty() ? err : err.substr(err.find(": ") + 2);
      }, "I/N"));
  const char* count_help =
      "instructions: count each repetition's timed region under Valgrind (callgrind, simulated "
      "caches) instead of timing it: instructions, D1 and LL misses, per operation; exact, so "
      "compare flags a change beyond 1% without statistics. One-thread cells only (fiber "
      "threads:1, boost-fiber, coro, uv); default 3 repetitions, no warm-up";
  run->add_option("--count", opt.count, count_help)->check(CLI::IsMember({"instructions"}));
  run->add_option("--pin", opt.pin,
                  "auto: run each cell whose units all run on one thread (fiber, boost-fiber and coro at "
                  "threads:1, go at gomaxprocs:1, uv; not blocking), and each thread or process cell "
                  "that hands the work on one unit at a time, pinned to the CPU it starts on, so that it does "
                  "not migrate mid-measurement (recorded as the cell's pinned; `ab` pins the same cells; echo's "
                  "and idle's load generator runs on the other CPUs); off: never pin")
      ->check(CLI::IsMember({kPinAuto, kPinOff}))
      ->capture_default_str();
  run->add_flag("--interleave,!--no-interleave", opt.interleave,
                "Run every cell's warm-ups, then the repetitions in rounds: one repetition of each cell a "
                "round, in a random order (its seed in the results' options), so that each cell's "
                "repetitions spread over the whole run rather than one phase of the machine's speed "
                "(Google Benchmark's random interleaving); a cell is kept once its last round ran. "
                "--no-interleave: each cell's repetitions back to back, each cell kept as it ends")
      ->capture_default_str();
  run->add_option("--keep-core", opt.keep_core,
                  "Keep the core file of a crashed cell in this folder (for gdb; default: cores are left "
                  "to the system's settings)");
  run->add_option("--format", opt.format,
                  "native: the results file only; gbench: also <out>.gbench.json in Google "
                  "Benchmark's JSON schema")
      ->check(CLI::IsMember({"native", "gbench"}));
  run->add_flag("--list-cells", opt.list_cells,
                "Print the names of the cells this selection runs, one a line, and run nothing "
                "(with --resume: the cells FILE still lacks)");
  auto* out_opt =
      run->add_option("--out", opt.out, "Results file (default: results/runs/<timestamp>.json)");
  auto* resume_opt = run->add_option(
      "--resume", opt.resume,
      "Complete an interrupted run: run only the cells FILE lacks, with its selection, into FILE");
  run->add_flag("--strict", opt.strict,
                "Exit 1 when a cell reaches a limit too (default: a limit is a result, and only crashed, "
                "invalid, timeout and failed cells exit 1)");
  run->add_flag("--quiet,-q", opt.quiet,
                "Print only the summary (no progress, no table; the results file has everything)");
  run->footer(
      "Exit status: 0 every cell ok or limit (a resource ran out: where a model stops is a result); 1 some "
      "cell crashed, invalid, timeout or failed (or, with --strict, limit); 2 bad input, nothing run; 3 the "
      "results file could not be written (it keeps its last complete version); 130 interrupted (SIGINT, SIGTERM, "
      "SIGHUP), every finished cell kept in the results file.");
  // --resume takes everything from the file; any other choice contradicts it.
  for (const char* name : {"--preset", "--models", "--workloads", "--param", "--filter",
                           "--repetitions", "--warmup", "--min-time", "--timeout", "--memory-limit", "--shard", "--count",
                           "--pin", "--interleave"})
    resume_opt->excludes(run->get_option(name));
  resume_opt->excludes(out_opt);

  std::vector<std::string> report_inputs;
  std::string report_out;
  auto* report = app.add_subcommand("report", "Write report.html and report.md from results files");
  report->add_option("files", report_inputs, "Results files (results/runs/*.json)")->required();
  report->add_option("--out", report_out, "Folder for report.html and report.md")->required();
  report->add_option("--external", externals, external_help + " (their lines of code)")->allow_extra_args(false);

  // compare and ab share the gate's options.
  CompareOptions cmp;
  std::vector<std::string> thresholds;
  std::string exact_threshold;
  std::string correction = "holm", format = "console";
  auto add_gate_options = [&](CLI::App* sub) {
    sub->add_option("--threshold", thresholds,
                    "Minimum change that counts, in percent (default 5); METRIC=PCT sets one metric's "
                    "(repeatable)");
    sub->add_option("--exact-threshold", exact_threshold,
                    "Minimum change of an exact count (instructions, cache misses per operation, "
                    "from --count instructions) that counts, in percent (default 1)");
    sub->add_option("--alpha", cmp.alpha, "Significance level after the correction")
        ->check(CLI::Range(1e-9, 0.5));
    sub->add_option("--correction", correction,
                    "Correction for the number of tests: holm (no false alarm in the family) | bh "
                    "(false discovery rate) | none")
        ->check(CLI::IsMember({"holm", "bh", "none"}));
    sub->add_option("--metrics", cmp.metrics,
                    fmt::format("Metrics to compare, comma-separated (default: {}; for --count "
                                "instructions runs: {})",
                                gated_metric_names(metrics::Gate::timed), gated_metric_names(metrics::Gate::exact)))
        ->delimiter(',');
    sub->add_option("--format", format, "Output: console | md (a CI job summary) | json")
        ->check(CLI::IsMember({"console", "md", "json"}));
  };
  std::string cmp_base, cmp_head;
  auto* compare = app.add_subcommand(
      "compare", "Compare two results files cell by cell; exit 1 when something regressed");
  compare->add_option("base", cmp_base, "The results file before the change")->required();
  compare->add_option("head", cmp_head, "The results file after it")->required();
  add_gate_options(compare);

  AbOptions ab_opt;
  auto* ab = app.add_subcommand(
      "ab", "Run the same cells with two cmbench binaries, interleaved in pairs of random order, and compare them");
  ab->add_option("--base", ab_opt.base, "The cmbench binary before the change")->required();
  ab->add_option("--head", ab_opt.head, "The cmbench binary after it")->required();
  ab->add_option("--preset", ab_opt.sel.preset, "Cells and sizes (default: ci)");
  ab->add_option("--models", ab_opt.sel.models, "Models, comma-separated (default: all)")->delimiter(',');
  ab->add_option("--workloads", ab_opt.sel.workloads, "Workloads, comma-separated")->delimiter(',');
  ab->add_option("--param", ab_opt.sel.params, "Parameter values, key=v1,v2 (repeatable)");
  ab->add_option("--filter", ab_opt.sel.filter, "Only cells whose name matches this regular expression");
  ab->add_option("--external", externals, external_help)->allow_extra_args(false);
  ab->add_option("--repetitions", ab_opt.repetitions, "Measured repetitions per side (-1: the preset's)")
      ->check(checked([](double v) { return check_repetitions(static_cast<int>(v)); }));
  ab->add_option("--warmup", ab_opt.warmup, "Discarded repetitions per side first (-1: the preset's)")
      ->check(CLI::Range(-1, 100));
  ab->add_option("--min-time", ab_opt.min_time_s,
                 min_time_help + "; both sides run the passes calibrated from the cell's first warm-up")
      ->check(checked([](double v) { return check_min_time(v); }));
  ab->add_option("--timeout", ab_opt.timeout_s, "Seconds one repetition may take")
      ->check(checked([](double v) { return check_timeout(v); }));
  ab->add_option("--count", ab_opt.count, count_help)->check(CLI::IsMember({"instructions"}));
  ab->add_option("--out", ab_opt.out_dir,
                 "Folder for base.json, head.json, compare.json and compare.md (default: "
                 "results/ab/<timestamp>)");
  add_gate_options(ab);

  std::vector<std::string> merge_inputs;
  std::string merge_out;
  bool allow_mixed = false;
  auto* merge = app.add_subcommand("merge", "Join results files of slices (run --shard I/N) into one");
  merge->add_option("files", merge_inputs, "Results files")->required();
  merge->add_option("--out", merge_out, "The merged results file")->required();
  merge->add_flag("--allow-mixed", allow_mixed,
                  "Accept files of different builds or machines; each cell keeps its own context");

  std::string export_input, export_out, export_format = "gbench";
  auto* exp = app.add_subcommand("export", "Write a results file in another tool's schema");
  exp->add_option("file", export_input, "The results file")->required();
  exp->add_option("--format", export_format,
                  "gbench: Google Benchmark's JSON (--benchmark_format=json); bmf: Bencher Metric Format JSON "
                  "(median, min and max over the repetitions)")
      ->check(CLI::IsMember({"gbench", "bmf"}));
  exp->add_option("--out", export_out, "Output file (default: standard output)");

  // history: add | report | check, sharing the database and the detector.
  history::HistoryOptions hist;
  std::vector<std::string> hist_files;
  std::string hist_out;
  double hist_threshold_pct = 5;
  auto* hist_cmd = app.add_subcommand("history", "Keep every run in a database, draw trends, find change points");
  hist_cmd->require_subcommand(1);
  auto add_db = [&](CLI::App* sub) {
    sub->add_option("--db", hist.db, "The history database (SQLite)");
  };
  auto add_detector = [&](CLI::App* sub) {
    sub->add_option("--branch", hist.branch, "Only runs recorded on this branch (default: every run)");
    sub->add_option("--significance", hist.detector.significance,
                    "E-Divisive: a change point's permutation p-value must be at or below this");
    sub->add_option("--min-segment", hist.detector.min_segment, "E-Divisive: fewest runs on each side of a change point");
    sub->add_option("--permutations", hist.detector.permutations, "E-Divisive: shuffles per significance test");
    sub->add_option("--seed", hist.detector.seed, "E-Divisive: seed of the shuffles");
  };
  auto* hist_add = hist_cmd->add_subcommand("add", "Store results files as runs (a file stored already is skipped)");
  hist_add->add_option("files", hist_files, "Results files")->required();
  add_db(hist_add);
  hist_add->add_option("--branch", hist.branch, "The branch the runs were measured on, recorded with them");
  auto* hist_report = hist_cmd->add_subcommand("report", "Write history.html: trends and change points of every series");
  hist_report->add_option("--out", hist_out, "Folder for history.html")->required();
  add_db(hist_report);
  add_detector(hist_report);
  auto* hist_check = hist_cmd->add_subcommand(
      "check", "Print Markdown; exit 1 when the newest run completed a change point in the worse direction");
  add_db(hist_check);
  add_detector(hist_check);
  hist_check->add_option("--threshold", hist_threshold_pct, "Smallest change, in percent, that counts as a regression");

  auto* context = app.add_subcommand("context", "Print this machine's and build's context as JSON");
  context->group("");  // read by `cmbench ab` from the other binary

  std::string cell_workload, cell_model;
  std::vector<std::string> cell_params;
  int result_fd = 1;
  int cell_passes = 1;
  auto* cell = app.add_subcommand("cell", "Run one repetition of one cell (internal: the harness runs it)");
  cell->group("");  // hidden from --help
  cell->add_option("--workload", cell_workload)->required();
  cell->add_option("--model", cell_model)->required();
  cell->add_option("--param", cell_params);
  cell->add_option("--result-fd", result_fd);
  cell->add_option("--passes", cell_passes)->check(CLI::Range(1, kMaxPasses));
  cell->add_option("--external", externals);

  // CLI11 would only say that a subcommand is required; name the word.
  const std::string first = argc > 1 ? argv[1] : "";
  static const std::set<std::string> commands = {"list", "run", "report", "compare", "ab",
                                                 "merge", "export", "history", "cell", "context"};
  if (!first.empty() && first[0] != '-' && !commands.count(first)) {
    fmt::print(stderr,
               "cmbench: unknown command '{}'; accepted: list, run, report, compare, ab, merge, export, history\n",
               argv[1]);
    return 2;
  }
  if (first == "history" && argc > 2) {
    static const std::set<std::string> history_commands = {"add", "report", "check", "-h", "--help"};
    if (!history_commands.count(argv[2])) {
      fmt::print(stderr, "cmbench history: unknown command '{}'; accepted: add, report, check\n", argv[2]);
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    fmt::print(stderr, "cmbench: {} (see 'cmbench <command> --help' for the accepted flags)\n", e.what());
    return 2;
  }

  // The registry's external models: the default folder's (read at the
  // first lookup) and those named with --external. A manifest that cannot
  // be used is bad input: one line naming the file and the field.
  try {
    (void)all_models();
    for (const auto& file : externals) load_external_model(file);
  } catch (const ManifestError& e) {
    fmt::print(stderr, "cmbench: {}\n", e.what());
    return 2;
  }
  if (*report) return run_report(report_inputs, report_out);
  if (*context) {
    fmt::print("{}\n", collect_context().dump(2));
    return 0;
  }
  if (*compare || *ab) {
    try {
      for (const auto& t : thresholds) parse_threshold(t, cmp);
      if (!exact_threshold.empty()) parse_exact_threshold(exact_threshold, cmp);
    } catch (const std::invalid_argument& e) {
      fmt::print(stderr, "cmbench {}: {}\n", *compare ? "compare" : "ab", e.what());
      return 2;
    }
    cmp.correction = correction == "bh" ? Correction::bh : correction == "none" ? Correction::none : Correction::holm;
  }
  if (*compare) {
    try {
      auto base = load_results(cmp_base);
      auto head = load_results(cmp_head);
      Comparison c = compare_results(base, head, cmp, cmp_base, cmp_head);
      emit_comparison(c, format);
      return comparison_status(c);
    } catch (const std::invalid_argument& e) {
      fmt::print(stderr, "cmbench compare: {}\n", e.what());
      return 2;
    }
  }
  if (*ab) {
    if (std::string err = check_params(ab_opt.sel.params); !err.empty()) {
      fmt::print(stderr, "cmbench ab: {}\n", err);
      return 2;
    }
    ab_opt.compare = cmp;
    ab_opt.format = format;
    install_interrupt_handlers();
    return run_ab(ab_opt, std::vector<std::string>(argv, argv + argc), interrupted_flag());
  }
  // A write in progress leaves no temporary behind when a signal ends it.
  if (*merge || *exp) remove_temporary_on_signals();
  if (*merge) return run_merge(merge_inputs, merge_out, allow_mixed);
  if (*hist_cmd) {
    hist.threshold = hist_threshold_pct / 100;
    if (*hist_add) return history::history_add(hist_files, hist);
    if (*hist_report) return history::history_report(hist_out, hist);
    return history::history_check(hist);
  }
  if (*exp) {
    try {
      // A FIFO, a device or a directory is refused with one line instead
      // of blocking or reading without end (harness/results/input.hpp).
      auto results = load_results(export_input);
      auto doc = export_format == "bmf" ? to_bmf(results) : to_gbench(results);
      if (export_out.empty()) fmt::print("{}\n", doc.dump(2));
      else write_json_atomic(export_out, doc);
      return 0;
    } catch (const std::exception& e) {
      fmt::print(stderr, "cmbench export: {}\n", e.what());
      return 2;
    }
  }
  if (*list) {
    print_list();
    return 0;
  }
  if (*cell) {
    std::map<std::string, std::string> given;
    for (const auto& p : cell_params) {
      auto eq = p.find('=');
      if (eq == std::string::npos) {
        fmt::print(stderr, "cmbench cell: --param '{}' is not key=value\n", p);
        return 2;
      }
      given[p.substr(0, eq)] = p.substr(eq + 1);
    }
    return run_cell_child(cell_workload, cell_model, given, result_fd, cell_passes);
  }
  std::vector<std::string> args(argv, argv + argc);
  return run_matrix(opt, args);
}

}  // namespace cmbench
