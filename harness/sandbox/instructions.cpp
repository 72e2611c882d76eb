#include "harness/sandbox/instructions.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include "harness/registry/registry.hpp"
#include "harness/results/metrics.hpp"
#include "harness/sandbox/pin.hpp"

namespace cmbench {

namespace {

std::optional<std::string> on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + program;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> count_refusal(const std::string& workload, const std::string& model,
                                         const std::map<std::string, std::string>& params) {
  // A model whose program Valgrind cannot follow says why (its manifest's
  // `uncountable`).
  if (const ModelInfo* m = find_model(model); m && !m->uncountable.empty())
    return fmt::format("{}/{}: {}", workload, model, m->uncountable);
  if (auto why = not_on_one_thread(workload, model, params))
    return fmt::format("{}; Valgrind runs threads one at a time and counts no kernel time, so a count would not "
                       "describe it",
                       *why);
  if (workload == "echo")
    return fmt::format(
        "{}/{}: its work is socket traffic paced by a load generator in another process, which "
        "Valgrind does not count, and most of its cost is kernel time, which Valgrind does not count either",
        workload, model);
  return std::nullopt;
}

std::optional<std::string> count_unavailable() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return std::string("this cmbench is a sanitizer build, which Valgrind cannot run; use a release build");
#else
  if (!on_path("valgrind"))
    return std::string("valgrind is not on the PATH (Debian package valgrind; scripts/setup installs it)");
  return std::nullopt;
#endif
}

std::vector<std::string> valgrind_command(const std::string& out_file) {
  // --instr-atstart=no: nothing is simulated until the probe starts the
  // timed region. --dump-line/--dump-instr=no: only totals are read.
  // --quiet: the cell's standard error carries Valgrind's errors only.
  return {on_path("valgrind").value_or("valgrind"),
          "--tool=callgrind",
          "--cache-sim=yes",
          // Fixed caches, not this machine's: counts from two machines compare.
          // A common x86-64 core's L1s and an 8 MiB LL.
          "--I1=32768,8,64",
          "--D1=32768,8,64",
          "--LL=8388608,16,64",
          "--instr-atstart=no",
          "--dump-line=no",
          "--dump-instr=no",
          "--quiet",
          "--callgrind-out-file=" + out_file};
}

CountOutput::CountOutput() {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/cmbench-count-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::system_error(errno, std::generic_category(), "mkdtemp(" + tmpl + ")");
  dir_ = tmpl;
}

CountOutput::~CountOutput() {
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string CountOutput::read(pid_t pid) const {
  const std::string path = fmt::format("{}/callgrind.{}", dir_, pid);
  std::ifstream in(path);
  if (!in) throw std::runtime_error("callgrind wrote no output for the cell (was it killed, or is its valgrind not callgrind?)");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

CallgrindCounts parse_callgrind(const std::string& text) {
  // "totals:" closes the file with the sum of its costs. The "summary:"
  // line at its head is not used when "totals:" is there: after
  // CALLGRIND_ZERO_STATS callgrind 3.19 writes it as 0.
  std::vector<std::string> events;
  std::vector<uint64_t> totals, summary;
  bool have_totals = false, have_summary = false;
  std::istringstream lines(text);
  std::string line;
  auto numbers = [&](size_t from) {
    std::istringstream in(line.substr(from));
    std::vector<uint64_t> out;
    for (uint64_t v; in >> v;) out.push_back(v);
    return out;
  };
  while (std::getline(lines, line)) {
    if (line.starts_with("events:")) {
      std::istringstream in(line.substr(7));
      events.clear();
      for (std::string e; in >> e;) events.push_back(e);
    } else if (line.starts_with("totals:")) {
      totals = numbers(7);
      have_totals = true;
    } else if (line.starts_with("summary:")) {
      summary = numbers(8);
      have_summary = true;
    }
  }
  if (events.empty()) throw std::runtime_error("callgrind's output has no events: line");
  if (!have_totals && !have_summary) throw std::runtime_error("callgrind's output has no totals: or summary: line");
  if (!have_totals) totals = summary;
  auto event = [&](const char* name) -> uint64_t {
    for (size_t i = 0; i < events.size(); ++i)
      if (events[i] == name) return i < totals.size() ? totals[i] : 0;  // trailing zeros may be left out
    throw std::runtime_error(fmt::format("callgrind's output has no {} event (was --cache-sim=yes given?)", name));
  };
  CallgrindCounts c;
  c.instructions = event("Ir");
  c.i1_misses = event("I1mr");
  c.d1_misses = event("D1mr") + event("D1mw");
  c.ll_misses = event("ILmr") + event("DLmr") + event("DLmw");
  return c;
}

void add_count_metrics(nlohmann::json& metrics, const CallgrindCounts& c) {
  const uint64_t ops = metrics.value(metrics::operations.name, uint64_t{0});
  auto per_op = [&](uint64_t v) { return ops ? static_cast<double>(v) / static_cast<double>(ops) : 0.0; };
  metrics[metrics::instructions.name] = c.instructions;
  metrics[metrics::instructions_per_op.name] = per_op(c.instructions);
  metrics[metrics::i1_misses.name] = c.i1_misses;
  metrics[metrics::d1_misses.name] = c.d1_misses;
  metrics[metrics::d1_misses_per_op.name] = per_op(c.d1_misses);
  metrics[metrics::ll_misses.name] = c.ll_misses;
  metrics[metrics::ll_misses_per_op.name] = per_op(c.ll_misses);
  metrics[metrics::count_method.name] =
      "Valgrind callgrind --cache-sim=yes, timed region only (client requests); user space, "
      "simulated caches";
}

const std::vector<std::string>& count_metric_names() {
  // The per-operation counts, which the gate compares exactly.
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& m : metrics::all())
      if (m.source == metrics::counter && m.gate == metrics::Gate::exact) out.emplace_back(m.name);
    return out;
  }();
  return names;
}

}  // namespace cmbench
