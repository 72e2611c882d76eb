#include "harness/cli/table.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <utility>
#include "harness/results/metrics.hpp"

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

double median_of(const nlohmann::json& aggregates, const char* metric) {
  if (!aggregates.is_object() || !aggregates.contains(metric)) return -1;
  return aggregates[metric].value("median", -1.0);
}

// A cell's parameters in the order its name gives them ("k:v" after the
// workload and the model), so the table names them as the matrix does.
std::vector<std::pair<std::string, std::string>> params_in_order(const nlohmann::json& cell) {
  std::vector<std::pair<std::string, std::string>> out;
  const std::string name = cell.value("name", "");
  size_t slashes = 0, start = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i < name.size() && name[i] != '/') continue;
    if (slashes++ >= 2) {
      const std::string part = name.substr(start, i - start);
      const size_t colon = part.find(':');
      if (colon != std::string::npos) out.emplace_back(part.substr(0, colon), part.substr(colon + 1));
    }
    start = i + 1;
  }
  return out;
}

struct Row {
  const nlohmann::json* cell;
  std::string label;  // the model and the parameters that vary in its block
  std::string short_name;  // workload/label, for the notes
};

struct Block {
  std::string workload;
  std::string fixed;  // "k:v k:v", the parameters every cell of the block shares
  std::vector<Row> rows;
};

std::vector<Block> blocks_of(const nlohmann::json& cells) {
  std::vector<Block> blocks;
  std::vector<std::vector<const nlohmann::json*>> members;
  for (const auto& c : cells) {
    const std::string w = c.value("workload", c.value("name", "?").substr(0, c.value("name", "?").find('/')));
    auto it = std::find_if(blocks.begin(), blocks.end(), [&](const Block& b) { return b.workload == w; });
    if (it == blocks.end()) {
      blocks.push_back(Block{w, "", {}});
      members.emplace_back();
      it = blocks.end() - 1;
    }
    members[it - blocks.begin()].push_back(&c);
  }
  for (size_t b = 0; b < blocks.size(); ++b) {
    // A parameter is fixed when every cell of the block that has it has it
    // with one value: a model's own parameter (a fiber's stack size) is
    // fixed when its cells share it, though the other models lack it.
    std::vector<std::pair<std::string, std::string>> fixed;
    std::set<std::string> varying;
    for (const auto* c : members[b])
      for (const auto& kv : params_in_order(*c)) {
        if (varying.count(kv.first)) continue;
        auto it = std::find_if(fixed.begin(), fixed.end(), [&](const auto& f) { return f.first == kv.first; });
        if (it == fixed.end()) {
          fixed.push_back(kv);
        } else if (it->second != kv.second) {
          varying.insert(kv.first);
          fixed.erase(it);
        }
      }
    for (const auto& [k, v] : fixed)
      blocks[b].fixed += fmt::format("{}{}:{}", blocks[b].fixed.empty() ? "" : " ", k, v);
    for (const auto* c : members[b]) {
      std::string label = c->value("model", "?");
      for (const auto& kv : params_in_order(*c))
        if (std::find(fixed.begin(), fixed.end(), kv) == fixed.end()) label += fmt::format(" {}:{}", kv.first, kv.second);
      std::string short_name = fmt::format("{}/{}", blocks[b].workload, label);
      std::replace(short_name.begin(), short_name.end(), ' ', '/');
      blocks[b].rows.push_back(Row{c, label, short_name});
    }
  }
  return blocks;
}

// A crashed cell's backtrace under its note: the top frames, one a line
// (a frame is not folded: a function's name is one word).
std::string backtrace_lines(const nlohmann::json& cell) {
  constexpr size_t kFrames = 12;
  std::string out;
  const auto& crash = cell.value("crash", nlohmann::json());
  if (!crash.is_object()) return out;
  const auto& bt = crash.value("backtrace", nlohmann::json::array());
  for (size_t i = 0; i < bt.size() && i < kFrames; ++i) {
    const auto& f = bt[i];
    out += fmt::format("\n         #{:<2} {}", i, f.value("function", f.value("pc", "?")));
    if (f.contains("file"))
      out += fmt::format(" ({}:{})", f["file"].get<std::string>(), f.value("line", size_t{0}));
    else if (f.contains("module"))
      out += fmt::format(" ({}+{})", f["module"].get<std::string>(), f.value("offset", "?"));
  }
  if (bt.size() > kFrames) out += fmt::format("\n         ... {} more frames in the results file", bt.size() - kFrames);
  if (crash.contains("core")) {
    const auto& core = crash["core"];
    out += core.contains("file") ? fmt::format("\n         core file: {}", core["file"].get<std::string>())
                                 : fmt::format("\n         core file: {}", core.value("note", "none"));
  }
  return out;
}

// The kind a warning belongs to in the notes, and what it says of its cell.
struct WarningKind {
  std::string kind;
  std::string detail;
};

WarningKind kind_of(const std::string& warning) {
  // "unstable: time per operation varies by 12.3% (CV) over 5 repetitions
  // (the CPU's own speed by 1.1%, the cores' round trip by 40.2%), above 5%;
  // 1.9% without repetition 2 (+30% from the median)":
  // "12.3%, CPU 1.1%, cores 40.2%, 1.9% without one"
  if (warning.rfind("unstable", 0) == 0) {
    const size_t by = warning.find("by "), pct = warning.find('%');
    const size_t above = warning.rfind("above "), one = warning.find("; ", above == std::string::npos ? 0 : above);
    const std::string threshold =
        above == std::string::npos ? "" : fmt::format(" (CV > {})", warning.substr(above + 6, one - (above + 6)));
    std::string detail =
        by != std::string::npos && pct != std::string::npos && pct > by ? warning.substr(by + 3, pct - by - 2) : "";
    // The machine's references, when the warning gives them: "CPU 1.1%",
    // and for a cell on several threads "cores 40.2%".
    for (const auto& [tag, label] : {std::pair{"own speed by ", ", CPU "}, std::pair{"round trip by ", ", cores "}}) {
      const size_t s = warning.find(tag);
      if (s == std::string::npos || detail.empty()) continue;
      const size_t from = s + std::string_view(tag).size(), end = warning.find('%', from);
      if (end != std::string::npos) detail += label + warning.substr(from, end - from + 1);
    }
    if (const size_t end = warning.find('%', one); one != std::string::npos && end != std::string::npos && !detail.empty())
      detail += ", " + warning.substr(one + 2, end - one - 1) + " without one";
    return {fmt::format("unstable{}", threshold), detail};
  }
  // "the first repetition was 2.1x slower than the median of the rest: ... raise --warmup"
  if (warning.rfind("the first repetition was ", 0) == 0) {
    const std::string rest = warning.substr(25);
    return {"with a slow first repetition (warm-up effects remain; raise --warmup)", rest.substr(0, rest.find(' '))};
  }
  return {warning, ""};
}

}  // namespace

std::string fold(const std::string& text, size_t width, size_t indent) {
  std::string out, line;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    const std::string word = text.substr(start, end - start);
    start = end + 1;
    const bool line_has_words = line.find_first_not_of(' ') != std::string::npos;
    // Runs of spaces between words are kept (they align columns).
    if (word.empty()) {
      if (line_has_words && start <= text.size()) line += ' ';
      continue;
    }
    if (line_has_words && line.size() + 1 + word.size() > width) {
      line.erase(line.find_last_not_of(' ') + 1);
      out += line;
      out += '\n';
      line.assign(indent, ' ');
    } else if (line_has_words) {
      line += ' ';
    }
    line += word;
  }
  out += line;
  return out;
}

std::string format_table(const nlohmann::json& cells, size_t columns) {
  std::string out;
  if (!cells.is_array() || cells.empty()) return out;
  // The columns of numbers, each shown in a block only when some cell of it
  // has the metric: a workload that measures no latency spends no width on it.
  // A column's title is its metric's short label, but for the spread.
  struct Column {
    const metrics::Metric* metric;
    size_t width;
    std::string (*format)(const nlohmann::json& aggregate);
    const char* title = metric->short_label;
  };
  static const Column kColumns[] = {
      {&metrics::ns_per_op, 9, [](const nlohmann::json& a) { return human_ns(a.value("median", 0.0)); }},
      {&metrics::ns_per_op, 6,
       [](const nlohmann::json& a) { return fmt::format("{:.1f}%", a.value("cv", 0.0) * 100); }, "cv"},
      {&metrics::ops_per_s, 10, [](const nlohmann::json& a) { return human_rate(a.value("median", 0.0)); }},
      {&metrics::latency_p50_ns, 9, [](const nlohmann::json& a) { return human_ns(a.value("median", 0.0)); }},
      {&metrics::latency_p99_ns, 9, [](const nlohmann::json& a) { return human_ns(a.value("median", 0.0)); }},
      {&metrics::cpu_ns_per_op, 9, [](const nlohmann::json& a) { return human_ns(a.value("median", 0.0)); }},
      {&metrics::ctx_per_op, 7, [](const nlohmann::json& a) { return fmt::format("{:.3f}", a.value("median", 0.0)); }},
      {&metrics::memory_peak_bytes, 10, [](const nlohmann::json& a) { return human_bytes(a.value("median", -1.0)); }},
  };

  // Notes: warnings by kind (in order of first appearance), failures one by one.
  std::vector<std::pair<std::string, std::vector<std::string>>> by_kind;
  std::vector<std::string> failures;
  bool unstable = false;
  for (const auto& b : blocks_of(cells)) {
    std::vector<const Column*> shown;
    for (const auto& col : kColumns)
      if (std::any_of(b.rows.begin(), b.rows.end(), [&](const Row& r) {
            return median_of(r.cell->value("aggregates", nlohmann::json::object()), col.metric->name) >= 0;
          }))
        shown.push_back(&col);
    size_t numbers = 2;  // the mark of a cell with notes, after the numbers
    for (const auto* col : shown) numbers += col->width + 1;
    // The label takes what the numbers leave, or a line of its own when it
    // is longer than that.
    size_t width = 5;
    for (const auto& r : b.rows) width = std::max(width, r.label.size());
    width = std::min(width, columns > numbers + 8 ? columns - numbers : 8);
    out += fmt::format("\n{}\n", fold(b.fixed.empty() ? b.workload : fmt::format("{}  ({})", b.workload, b.fixed),
                                      columns, 4));
    std::string header = fmt::format("{:<{}}", "", width);
    for (const auto* col : shown) header += fmt::format(" {:>{}}", col->title, col->width);
    out += fmt::format("{}\n{:-<{}}\n", header, "", header.size());
    for (const auto& r : b.rows) {
      const nlohmann::json& c = *r.cell;
      const std::string outcome = c.value("outcome", "failed");
      std::string line = r.label.size() > width ? fmt::format("{}\n{:{}}", r.label, "", width)
                                                 : fmt::format("{:<{}}", r.label, width);
      const auto warnings = c.value("warnings", std::vector<std::string>{});
      for (const auto& w : warnings) {
        // Not a structured binding: clang 14 cannot capture one in a lambda.
        const auto kind_detail = kind_of(w);
        const std::string& kind = kind_detail.kind;
        const std::string& detail = kind_detail.detail;
        unstable |= w.rfind("unstable", 0) == 0;
        auto it = std::find_if(by_kind.begin(), by_kind.end(), [&](const auto& k) { return k.first == kind; });
        if (it == by_kind.end()) it = by_kind.insert(by_kind.end(), {kind, {}});
        it->second.push_back(detail.empty() ? r.short_name : fmt::format("{} ({})", r.short_name, detail));
      }
      if (outcome != "ok") {
        failures.push_back(
            fold(fmt::format("{:<8} {}: {}", outcome, r.short_name, c.value("message", "")), columns, 9) +
            backtrace_lines(c));
        line += fmt::format(" {} (below)", outcome);
      } else {
        const nlohmann::json a = c.value("aggregates", nlohmann::json::object());
        for (const auto* col : shown)
          line += fmt::format(" {:>{}}", median_of(a, col->metric->name) < 0 ? "-" : col->format(a[col->metric->name]),
                              col->width);
        if (!warnings.empty()) line += " *";
      }
      line.erase(line.find_last_not_of(' ') + 1);
      out += line;
      out += '\n';
    }
  }
  if (!by_kind.empty() || !failures.empty()) out += "\n* notes\n";
  for (const auto& [kind, names] : by_kind) {
    std::string list;
    for (const auto& n : names) list += fmt::format("{}{}", list.empty() ? "" : ", ", n);
    out += fold(fmt::format("{} cell{} {}: {}", names.size(), names.size() == 1 ? "" : "s", kind, list), columns, 4);
    out += '\n';
  }
  for (const auto& f : failures) out += fmt::format("{}\n", f);
  // The advice once, loudly, rather than on every unstable cell.
  if (unstable)
    out += fmt::format("\n{}\n", fold("WARNING: some cells are unstable, so their medians may not be repeatable. Close other programs, set "
                "the CPU governor to performance (and pin the benchmark to idle cores), or raise --repetitions.",
                columns, 0));
  return out;
}

void print_table(std::FILE* out, const nlohmann::json& cells) { fmt::print(out, "{}", format_table(cells)); }

}  // namespace cmbench
