#include "harness/driver/ab.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>

#include "harness/driver/run.hpp"
#include "harness/results/context.hpp"
#include "harness/cell/probe.hpp"
#include "harness/results/results.hpp"
#include "harness/sandbox/pin.hpp"
#include "harness/sandbox/runner.hpp"
#include "harness/cell/sample_clock.hpp"

namespace cmbench {

namespace {

// The build context of another cmbench binary, which prints it with the
// hidden `context` command. A binary older than that command gets this
// one's machine context with its build fields marked unknown.
nlohmann::json context_of(const std::string& binary) {
  std::string quoted = "'";
  for (char c : binary) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  quoted += "'";
  std::string text;
  if (FILE* p = popen((quoted + " context 2>/dev/null").c_str(), "r")) {
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) text.append(buf.data(), n);
    pclose(p);
  }
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_object() && j.contains("build_type")) return j;
  auto c = collect_context();
  for (const char* key : {"git_commit", "git_dirty", "cxx_flags", "build_type", "compiler", "cmbench_version"})
    c[key] = nullptr;
  c["note"] = "this binary has no `context` command; its build is unknown";
  return c;
}

bool executable(const std::string& path) { return access(path.c_str(), X_OK) == 0; }

}  // namespace

std::vector<bool> base_first_in_pairs(uint32_t seed, size_t cell_index, int pairs) {
  std::seed_seq seq{seed, static_cast<uint32_t>(cell_index)};
  std::mt19937_64 coin(seq);
  std::vector<bool> order;
  order.reserve(pairs);
  for (int k = 0; k < pairs; ++k) order.push_back(coin() >> 63);
  return order;
}

void emit_comparison(const Comparison& c, const std::string& format) {
  if (format == "md") fmt::print("{}", comparison_markdown(c));
  else if (format == "json") fmt::print("{}\n", comparison_json(c).dump(2));
  else print_comparison(stdout, c);
  std::fflush(stdout);
}

int run_ab(const AbOptions& opt, const std::vector<std::string>& argv,
           const volatile sig_atomic_t* stop) {
  for (const auto& [flag, path] : {std::pair{"--base", opt.base}, std::pair{"--head", opt.head}})
    if (!executable(path)) {
      fmt::print(stderr, "cmbench ab: {}: '{}' is not an executable cmbench binary\n", flag, path);
      return 2;
    }
  std::vector<Cell> cells;
  try {
    cells = expand(opt.sel);
    if (std::string err = check_count(opt.count, cells); !err.empty()) throw std::invalid_argument(err);
    sample_clock_wanted_tsc();  // a bad CMBENCH_SAMPLE_CLOCK stops here, not in every cell
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "cmbench ab: {}\n", e.what());
    return 2;
  }
  const Preset& preset = *find_preset(opt.sel.preset);
  const bool counting = !opt.count.empty();
  // The cells `run --pin auto` pins (its default) are pinned here too: the
  // gate compares what results files hold. Unpinned, go at gomaxprocs:1
  // peaked at one of two memory levels about 200 KB apart, process by
  // process, which the gate once flagged as a memory regression.
  const bool pin = !counting && can_pin();
  const int reps = opt.repetitions >= 0 ? opt.repetitions : counting ? kCountRepetitions : preset.repetitions;
  const int warmup = opt.warmup >= 0 ? opt.warmup : counting ? kCountWarmup : preset.warmup;
  const double min_time = counting ? 0 : opt.min_time_s >= 0 ? opt.min_time_s : preset.min_time_s;
  const std::string dir =
      opt.out_dir.empty()
          ? fmt::format("results/ab/{:%Y%m%d-%H%M%S}", fmt::localtime(std::time(nullptr)))
          : opt.out_dir;

  const uint32_t seed = std::random_device{}();
  const nlohmann::json options = {{"preset", opt.sel.preset},
                                  {"repetitions", reps},
                                  {"warmup", warmup},
                                  {"min_time_s", min_time},
                                  {"timeout_s", opt.timeout_s},
                                  {"count", counting ? nlohmann::json(opt.count) : nlohmann::json()},
                                  {"ab", {{"base", opt.base}, {"head", opt.head}, {"order", "random pairs"}, {"seed", seed}}}};
  struct Side {
    const char* name;
    std::string binary, path;
    nlohmann::json doc;
  };
  std::array<Side, 2> sides = {Side{"base", opt.base, dir + "/base.json", {}},
                               Side{"head", opt.head, dir + "/head.json", {}}};
  for (auto& s : sides) {
    s.doc = new_results_doc(context_of(s.binary), argv, options);
    try {
      write_json_atomic(s.path, s.doc);
    } catch (const std::exception& e) {
      fmt::print(stderr, "cmbench ab: --out: cannot write {}: {}\n", s.path, e.what());
      return 2;
    }
  }

  become_subreaper();
  const bool progress = isatty(STDERR_FILENO);
  const int64_t t0 = now_ns();
  bool interrupted = false;
  for (size_t i = 0; i < cells.size() && !interrupted; ++i) {
    const Cell& cell = cells[i];
    std::array<CellResult, 2> r;
    std::array<bool, 2> good = {true, true};
    // As run calibrates them (run.cpp), from the first warm-up that is ok,
    // whichever side ran it; both sides then run the same passes.
    int passes = 1, process_passes = 1;
    bool calibrated = false;
    // Repetition k of each side is a pair, in an order drawn per pair
    // (base_first_in_pairs, ab.hpp says why). Warm-ups are pairs too.
    const int total = warmup + reps;
    const std::vector<bool> base_first = base_first_in_pairs(seed, i, total);
    for (int k = 0; k < total && !interrupted; ++k) {
      for (int step = 0; step < 2 && !interrupted; ++step) {
        const size_t side = base_first[k] ? step : 1 - step;
        if (!good[side]) continue;  // a side stops at its first repetition that is not ok
        if (progress)
          fmt::print(stderr, "\r\033[K[{}/{}] {} ({} {}/{})", i + 1, cells.size(), cell.name,
                     sides[side].name, k < warmup ? 0 : k - warmup + 1, reps);
        RepetitionRequest req = repetition_request(cell, opt.timeout_s, stop, pin);
        r[side].pinned = req.pin;
        req.executable = sides[side].binary;
        req.count_instructions = counting;
        req.passes = passes;
        auto rep = run_passes(req, process_passes);
        if (rep.interrupted) {
          interrupted = true;
          break;
        }
        good[side] = rep.outcome == Outcome::ok;
        if (k < warmup && good[side] && !calibrated) {
          calibrate_passes(cell, rep, min_time, opt.timeout_s, req, process_passes);
          passes = req.passes;
          calibrated = true;
        }
        (k < warmup ? r[side].warmups : r[side].reps).push_back(std::move(rep));
      }
    }
    if (interrupted) break;
    for (size_t side = 0; side < 2; ++side) {
      r[side].cell = &cell;
      r[side].passes = std::max(passes, process_passes);
      const auto& bt = sides[side].doc["context"]["build_type"];
      finish_cell(r[side], bt.is_string() ? bt.get<std::string>() : std::string());
      sides[side].doc["cells"].push_back(to_json(r[side]));
      write_json_atomic(sides[side].path, sides[side].doc);
    }
  }
  if (progress) fmt::print(stderr, "\r\033[K");
  const double wall = static_cast<double>(now_ns() - t0) / 1e9;
  for (auto& s : sides) {
    s.doc["complete"] = !interrupted;
    s.doc["wall_s"] = wall;
    write_json_atomic(s.path, s.doc);
  }
  if (interrupted) {
    fmt::print(stderr, "cmbench ab: interrupted; the cells finished so far are in {} and {}\n",
               sides[0].path, sides[1].path);
    return 130;
  }
  Comparison c;
  try {
    c = compare_results(sides[0].doc, sides[1].doc, opt.compare, sides[0].path, sides[1].path);
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "cmbench ab: {}\n", e.what());
    return 2;
  }
  write_json_atomic(dir + "/compare.json", comparison_json(c));
  {
    std::ofstream md(dir + "/compare.md");
    md << comparison_markdown(c);
  }
  emit_comparison(c, opt.format);
  fmt::print(stderr, "cmbench ab: {} cells, both binaries, in {:.1f} s; results in {}/\n", cells.size(),
             wall, dir);
  return comparison_status(c);
}

}  // namespace cmbench
