#include "report/data.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "harness/cli/table.hpp"
#include "harness/registry/registry.hpp"
#include "harness/results/metrics.hpp"

namespace cmbench::report {

namespace {

// A cell's parameters in the order its name gives them (the workload's, then
// the model's), which is the order `cmbench list` and the console use; the
// JSON object itself is sorted by key. Falls back to the object's order for
// a name that does not match its parameters.
std::vector<std::pair<std::string, std::string>> ordered_params(const nlohmann::json& cell) {
  std::vector<std::pair<std::string, std::string>> out;
  const auto& params = cell.contains("params") && cell["params"].is_object() ? cell["params"]
                                                                             : nlohmann::json::object();
  std::string name = cell.value("name", "");
  std::vector<std::string> parts;
  std::stringstream ss(name);
  for (std::string part; std::getline(ss, part, '/');) parts.push_back(part);
  for (size_t i = 2; i < parts.size(); ++i) {
    auto colon = parts[i].find(':');
    if (colon == std::string::npos) break;
    std::string key = parts[i].substr(0, colon);
    if (!params.contains(key)) break;
    out.emplace_back(key, params[key].is_string() ? params[key].get<std::string>() : params[key].dump());
  }
  if (out.size() != params.size()) {
    out.clear();
    for (const auto& [k, v] : params.items()) out.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
  }
  return out;
}

void push_unique(std::vector<std::string>& v, const std::string& s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

std::string join_params(const std::vector<std::pair<std::string, std::string>>& params,
                        const std::set<std::string>& keys) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!keys.count(k)) continue;
    if (!out.empty()) out += ' ';
    out += fmt::format("{}:{}", k, v);
  }
  return out;
}

// Which parameters belong to the workload: the ones every model's cells
// carry; the rest are a model's own, such as the fiber stack size.
std::set<std::string> workload_keys_of(const WorkloadView& w) {
  std::map<std::string, std::set<std::string>> keys_of_model;
  for (const auto& c : w.cells)
    for (const auto& [k, v] : c.params) keys_of_model[c.model].insert(k);
  std::set<std::string> workload_keys;
  bool first = true;
  for (const auto& [model, keys] : keys_of_model) {
    if (first) {
      workload_keys = keys;
      first = false;
      continue;
    }
    std::set<std::string> both;
    std::set_intersection(workload_keys.begin(), workload_keys.end(), keys.begin(), keys.end(),
                          std::inserter(both, both.begin()));
    workload_keys = both;
  }
  return workload_keys;
}

// Groups one workload's cells: which of the workload's parameters vary, and
// each cell's configuration and series labels. A series is the model plus
// its own parameters that vary anywhere on the page (`own_varying`), so
// that "fiber threads:1" is one series, with one colour, in every chart,
// and its M:N variant "fiber threads:0" another.
void classify(WorkloadView& w, const std::map<std::string, std::set<std::string>>& own_varying) {
  const std::set<std::string> workload_keys = workload_keys_of(w);
  std::map<std::string, std::set<std::string>> values;  // workload key -> values
  for (const auto& c : w.cells)
    for (const auto& [k, v] : c.params)
      if (workload_keys.count(k)) values[k].insert(v);

  std::set<std::string> varying, fixed;
  for (const auto& c : w.cells)
    for (const auto& [k, v] : c.params)
      if (workload_keys.count(k) && std::find(w.varying.begin(), w.varying.end(), k) == w.varying.end()) {
        if (values[k].size() > 1) {
          w.varying.push_back(k);
          varying.insert(k);
        } else {
          fixed.insert(k);
        }
      }
  if (!w.cells.empty()) w.fixed = join_params(w.cells.front().params, fixed);

  for (auto& c : w.cells) {
    c.config = join_params(c.params, varying);
    if (c.config.empty()) c.config = "as run";
    c.series = c.model;
    if (auto it = own_varying.find(c.model); it != own_varying.end()) {
      std::set<std::string> own;
      for (const auto& k : it->second)
        if (!workload_keys.count(k)) own.insert(k);
      std::string label = join_params(c.params, own);
      if (!label.empty()) c.series += fmt::format(" {}", label);
    }
    push_unique(w.models, c.model);
    push_unique(w.series, c.series);
    push_unique(w.configs, c.config);
  }
}

CellView view_of(const Run& run, const nlohmann::json& cell) {
  CellView c;
  c.run = &run;
  c.json = &cell;
  c.name = cell.value("name", "");
  c.workload = cell.value("workload", "");
  c.model = cell.value("model", "");
  c.params = ordered_params(cell);
  c.outcome = cell.value("outcome", "unknown");
  c.message = cell.value("message", "");
  if (cell.contains("errno") && cell["errno"].is_number_integer())
    c.message += fmt::format(" (errno {})", cell["errno"].get<int>());
  if (cell.contains("signal") && cell["signal"].is_number_integer())
    c.message += fmt::format(" (signal {})", cell["signal"].get<int>());
  if (cell.contains("warnings") && cell["warnings"].is_array())
    for (const auto& w : cell["warnings"])
      if (w.is_string()) c.warnings.push_back(w.get<std::string>());
  if (cell.contains("repetitions") && cell["repetitions"].is_array())
    for (const auto& rep : cell["repetitions"])
      if (rep.value("outcome", "") == "ok" && rep.contains("metrics") && rep["metrics"].is_object() &&
          rep["metrics"].contains(metrics::operations.name) && rep["metrics"][metrics::operations.name].is_number()) {
        c.operations = rep["metrics"][metrics::operations.name].get<double>();
        break;
      }
  return c;
}

}  // namespace

std::optional<Summary> CellView::metric(const std::string& metric_name) const {
  if (!json->contains("aggregates") || !(*json)["aggregates"].is_object()) return std::nullopt;
  const auto& agg = (*json)["aggregates"];
  if (!agg.contains(metric_name) || !agg[metric_name].is_object()) return std::nullopt;
  const auto& a = agg[metric_name];
  if (!a.contains("median") || !a["median"].is_number()) return std::nullopt;
  Summary s;
  s.median = a["median"].get<double>();
  s.min = a.contains("min") && a["min"].is_number() ? a["min"].get<double>() : s.median;
  s.max = a.contains("max") && a["max"].is_number() ? a["max"].get<double>() : s.median;
  s.cv = a.contains("cv") && a["cv"].is_number() ? a["cv"].get<double>() : 0;
  s.n = a.contains("n") && a["n"].is_number_integer() ? a["n"].get<int>() : 0;
  return s;
}

std::optional<std::string> CellView::param(const std::string& key) const {
  for (const auto& [k, v] : params)
    if (k == key) return v;
  return std::nullopt;
}

const CellView* WorkloadView::find(const Run& run, const std::string& s, const std::string& config) const {
  for (const auto& c : cells)
    if (c.run == &run && c.series == s && c.config == config) return &c;
  return nullptr;
}

const WorkloadView* ReportData::workload(const std::string& wname) const {
  for (const auto& w : workloads)
    if (w.name == wname) return &w;
  return nullptr;
}

void label_runs(std::vector<Run>& runs) {
  for (size_t i = 0; i < runs.size(); ++i) {
    auto& r = runs[i];
    r.index = static_cast<int>(i + 1);
    const auto& ctx = r.doc.contains("context") && r.doc["context"].is_object() ? r.doc["context"]
                                                                                : nlohmann::json::object();
    std::string host = ctx.contains("host") && ctx["host"].is_string() ? ctx["host"].get<std::string>() : "?";
    std::string commit = "no commit";
    if (ctx.contains("git_commit") && ctx["git_commit"].is_string()) {
      commit = ctx["git_commit"].get<std::string>().substr(0, 7);
      if (ctx.value("git_dirty", false)) commit += "+dirty";
    }
    std::string date = ctx.contains("date") && ctx["date"].is_string() ? ctx["date"].get<std::string>() : "";
    // "2026-11-26T13:06:11Z" -> "2026-11-26 13:06": minutes tell runs apart.
    if (date.size() >= 16) date = fmt::format("{} {}", date.substr(0, 10), date.substr(11, 5));
    r.label = fmt::format("{} · {} · {}", host, commit, date);
  }
  // Two runs in the same minute on the same commit still need two names.
  for (size_t i = 0; i < runs.size(); ++i)
    for (size_t j = i + 1; j < runs.size(); ++j)
      if (runs[j].label == runs[i].label) runs[j].label += fmt::format(" #{}", runs[j].index);
}

ReportData build_report_data(std::vector<Run> runs, const std::string& source_dir) {
  ReportData d;
  d.runs = std::move(runs);
  label_runs(d.runs);
  for (const auto& run : d.runs) {
    for (const auto& cell : run.doc["cells"]) {
      if (!cell.is_object()) continue;
      CellView c = view_of(run, cell);
      push_unique(d.models, c.model);
      auto it = std::find_if(d.workloads.begin(), d.workloads.end(),
                             [&](const WorkloadView& w) { return w.name == c.workload; });
      if (it == d.workloads.end()) {
        d.workloads.push_back(WorkloadView{});
        it = std::prev(d.workloads.end());
        it->name = c.workload;
        it->operation = cell.value("operation", "operation");
      }
      it->cells.push_back(std::move(c));
    }
  }
  // Models a file describes but ran no cell of are still rows of the
  // taxonomy ("not run"); the file's object is sorted by name, so they come
  // after the ones in run order.
  for (const auto& run : d.runs)
    if (run.doc.contains("models") && run.doc["models"].is_object())
      for (const auto& [name, facts] : run.doc["models"].items()) {
        push_unique(d.models, name);
        if (!d.taxonomy.count(name)) d.taxonomy[name] = facts;
      }
  // A model's own parameters that take more than one value anywhere.
  std::map<std::string, std::map<std::string, std::set<std::string>>> own_values;  // model -> key -> values
  for (const auto& w : d.workloads) {
    const auto keys = workload_keys_of(w);
    for (const auto& c : w.cells)
      for (const auto& [k, v] : c.params)
        if (!keys.count(k)) own_values[c.model][k].insert(v);
  }
  std::map<std::string, std::set<std::string>> own_varying;
  for (const auto& [model, keys] : own_values)
    for (const auto& [k, vals] : keys)
      if (vals.size() > 1) own_varying[model].insert(k);
  for (auto& w : d.workloads) {
    classify(w, own_varying);
    for (const auto& s : w.series) push_unique(d.all_series, s);
    for (const auto& m : w.models) {
      namespace fs = std::filesystem;
      // The registry knows each implementation's file (workloads/<w>/<m>.cpp,
      // or workloads/<w>/go.go for the go model); a model this build does not
      // have shows no count.
      std::optional<int> lines;
      if (const Entry* e = find_entry(w.name, m))
        lines = count_code_lines((fs::path(source_dir) / e->source).string());
      w.lines_of_code[m] = lines;
    }
  }
  return d;
}

std::optional<int> count_code_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string src = ss.str();

  // A small C++ lexer: enough to tell comments from code, so that "//" in a
  // string is code and a block comment spanning lines counts for none of
  // them. Raw strings are followed to their delimiter for the same reason.
  enum class State { code, line_comment, block_comment, string, character, raw_string };
  State st = State::code;
  std::string raw_end;  // ")delim\"" that closes the current raw string
  int lines = 0;
  bool has_code = false;
  for (size_t i = 0; i < src.size(); ++i) {
    char ch = src[i];
    char next = i + 1 < src.size() ? src[i + 1] : '\0';
    if (ch == '\n') {
      if (has_code) ++lines;
      has_code = false;
      if (st == State::line_comment) st = State::code;
      continue;
    }
    switch (st) {
      case State::code:
        if (ch == '/' && next == '/') {
          st = State::line_comment;
          ++i;
        } else if (ch == '/' && next == '*') {
          st = State::block_comment;
          ++i;
        } else if (ch == 'R' && next == '"' && (i == 0 || !(std::isalnum(static_cast<unsigned char>(src[i - 1])) || src[i - 1] == '_'))) {
          auto open = src.find('(', i + 2);
          if (open == std::string::npos) break;
          raw_end = fmt::format("){}\"", src.substr(i + 2, open - (i + 2)));
          st = State::raw_string;
          has_code = true;
          i = open;
        } else if (ch == '"') {
          st = State::string;
          has_code = true;
        } else if (ch == '\'') {
          // A digit separator (1'000'000) is not a character literal.
          bool digit_before = i > 0 && std::isxdigit(static_cast<unsigned char>(src[i - 1]));
          if (!digit_before) st = State::character;
          has_code = true;
        } else if (!std::isspace(static_cast<unsigned char>(ch))) {
          has_code = true;
        }
        break;
      case State::line_comment:
        break;
      case State::block_comment:
        if (ch == '*' && next == '/') {
          st = State::code;
          ++i;
        }
        break;
      case State::string:
      case State::character:
        has_code = true;
        if (ch == '\\')
          ++i;
        else if ((st == State::string && ch == '"') || (st == State::character && ch == '\''))
          st = State::code;
        break;
      case State::raw_string:
        has_code = true;
        if (src.compare(i, raw_end.size(), raw_end) == 0) {
          i += raw_end.size() - 1;
          st = State::code;
        }
        break;
    }
  }
  if (has_code) ++lines;
  return lines;
}

std::string time_text(double ns) {
  if (ns < 100) return fmt::format("{:.3g} ns", ns);
  return human_ns(ns);
}

std::string count_text(double v) {
  if (v == 0 || v >= 0.01) return fmt::format("{:.3g}", v);
  std::string s = fmt::format("{:.8f}", v);
  while (s.back() == '0') s.pop_back();
  // Three significant digits are plenty: cut after the third one.
  size_t first = s.find_first_not_of("0.");
  if (first != std::string::npos && s.size() > first + 3) s.resize(first + 3);
  return s;
}

std::string ratio_text(double r) {
  if (r < 10) return fmt::format("×{:.2f}", r);
  if (r < 100) return fmt::format("×{:.1f}", r);
  return fmt::format("×{:.0f}", r);
}

std::string shell_command(const nlohmann::json& command) {
  if (!command.is_array()) return command.is_string() ? command.get<std::string>() : "";
  std::string out;
  for (const auto& w : command) {
    std::string word = w.is_string() ? w.get<std::string>() : w.dump();
    bool plain = !word.empty() && std::all_of(word.begin(), word.end(), [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) || std::string_view("_./:=,+-@%").find(ch) != std::string_view::npos;
    });
    if (!out.empty()) out += ' ';
    if (plain) {
      out += word;
    } else {
      out += '\'';
      for (char ch : word) {
        if (ch == '\'')
          out += "'\\''";
        else
          out += ch;
      }
      out += '\'';
    }
  }
  return out;
}

}  // namespace cmbench::report
