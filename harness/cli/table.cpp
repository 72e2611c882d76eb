#include "harness/cli/table.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace cmbench {

std::string human_ns(double ns) {
  if (ns < 1e3) return fmt::format("{:.0f} ns", ns);
  if (ns < 1e6) return fmt::format("{:.2f} us", ns / 1e3);
  if (ns < 1e9) return fmt::format("{:.2f} ms", ns / 1e6);
  return fmt::format("{:.2f} s", ns / 1e9);
}

std::string human_bytes(double b) {
  if (b < 0) return "-";
  if (b < 1024) return fmt::format("{:.0f} B", b);
  if (b < 1024 * 1024) return fmt::format("{:.1f} KiB", b / 1024);
  if (b < 1024.0 * 1024 * 1024) return fmt::format("{:.1f} MiB", b / (1024 * 1024));
  return fmt::format("{:.2f} GiB", b / (1024.0 * 1024 * 1024));
}

std::string human_rate(double r) {
  if (r < 1e3) return fmt::format("{:.0f}/s", r);
  if (r < 1e6) return fmt::format("{:.1f} k/s", r / 1e3);
  if (r < 1e9) return fmt::format("{:.2f} M/s", r / 1e6);
  return fmt::format("{:.2f} G/s", r / 1e9);
}

namespace {

// A crashed cell's backtrace under its note: the top frames, one a line.
std::string backtrace_lines(const CellResult& c) {
  constexpr size_t kFrames = 12;
  std::string out;
  for (const auto* set : {&c.warmups, &c.reps})
    for (const auto& rep : *set) {
      if (rep.crash.is_null() || !out.empty()) continue;
      const auto& bt = rep.crash.value("backtrace", nlohmann::json::array());
      for (size_t i = 0; i < bt.size() && i < kFrames; ++i) {
        const auto& f = bt[i];
        out += fmt::format("\n      #{:<2} {}", i, f.value("function", f.value("pc", "?")));
        if (f.contains("file")) out += fmt::format(" ({}:{})", f["file"].get<std::string>(), f["line"].get<size_t>());
        else if (f.contains("module")) out += fmt::format(" ({}+{})", f["module"].get<std::string>(), f.value("offset", "?"));
      }
      if (bt.size() > kFrames) out += fmt::format("\n      ... {} more frames in the results file", bt.size() - kFrames);
      if (rep.crash.contains("core")) {
        const auto& core = rep.crash["core"];
        out += core.contains("file") ? fmt::format("\n      core file: {}", core["file"].get<std::string>())
                                     : fmt::format("\n      core file: {}", core.value("note", "none"));
      }
    }
  return out;
}

double med(const nlohmann::json& agg, const char* name) {
  if (!agg.contains(name)) return -1;
  return agg[name]["median"].get<double>();
}

}  // namespace

void print_table(std::FILE* out, const std::vector<CellResult>& cells) {
  size_t width = 4;
  for (const auto& c : cells) width = std::max(width, c.cell->name.size());
  const auto header = fmt::format("{:<{}}  {:<7}  {:>10} {:>6}  {:>10}  {:>10} {:>10}  {:>10} {:>7}  {:>10}\n",
                                  "cell", width, "outcome", "time/op", "cv", "ops/s", "lat p50",
                                  "lat p99", "cpu/op", "ctx/op", "memory");
  fmt::print(out, "{}", header);
  fmt::print(out, "{}\n", std::string(header.size() - 1, '-'));
  std::vector<std::string> notes;
  for (const auto& c : cells) {
    const auto& a = c.aggregates;
    std::string mark;
    for (const auto& w : c.warnings) {
      notes.push_back(fmt::format("[{}] {}: {}", notes.size() + 1, c.cell->name, w));
      mark += fmt::format("[{}]", notes.size());
    }
    if (c.outcome != Outcome::ok) {
      notes.push_back(fmt::format("[{}] {}: {}: {}{}", notes.size() + 1, c.cell->name,
                                  to_string(c.outcome), c.message, backtrace_lines(c)));
      fmt::print(out, "{:<{}}  {:<7}  see [{}]\n", c.cell->name, width, to_string(c.outcome),
                 notes.size());
      continue;
    }
    auto opt = [&](const char* name, auto fmt_fn) {
      double v = med(a, name);
      return v < 0 ? std::string("-") : fmt_fn(v);
    };
    double cv = a.contains("ns_per_op") ? a["ns_per_op"]["cv"].get<double>() * 100 : 0;
    fmt::print(out, "{:<{}}  {:<7}  {:>10} {:>5.1f}%  {:>10}  {:>10} {:>10}  {:>10} {:>7}  {:>10} {}\n",
               c.cell->name, width, "ok", opt("ns_per_op", human_ns), cv,
               opt("ops_per_s", human_rate), opt("latency_p50_ns", human_ns),
               opt("latency_p99_ns", human_ns), opt("cpu_ns_per_op", human_ns),
               opt("ctx_per_op", [](double v) { return fmt::format("{:.3f}", v); }),
               opt("memory_peak_bytes", human_bytes), mark);
  }
  if (!notes.empty()) {
    fmt::print(out, "\n");
    for (const auto& n : notes) fmt::print(out, "{}\n", n);
  }
  // The advice once, loudly, rather than on every unstable cell.
  bool unstable = false;
  for (const auto& c : cells)
    for (const auto& w : c.warnings) unstable |= w.rfind("unstable", 0) == 0;
  if (unstable)
    fmt::print(out,
               "\nWARNING: some cells are unstable, so their medians may not be repeatable. Close "
               "other programs, set the CPU governor to performance (and pin the benchmark to idle "
               "cores), or raise --repetitions.\n");
}

}  // namespace cmbench
