#include "harness/results/results.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "harness/cell/errors.hpp"
#include "harness/results/input.hpp"
#include "harness/results/output.hpp"
#include "harness/results/schema.hpp"
#include "harness/stats/stats.hpp"
#include "harness/results/metrics.hpp"

namespace cmbench {

namespace {

std::optional<double> metric_of(const RepetitionResult& rep, const std::string& name) {
  return metric_value(rep.metrics, name);
}

nlohmann::json summary_json(const Summary& s) {
  return {{"n", s.n},          {"median", s.median}, {"min", s.min}, {"max", s.max},
          {"mean", s.mean},    {"stddev", s.stddev}, {"cv", s.cv},   {"mad", s.mad}};
}

nlohmann::json rep_json(const RepetitionResult& r) {
  nlohmann::json j = {{"outcome", to_string(r.outcome)}, {"elapsed_s", r.elapsed_s}};
  if (!r.message.empty()) j["message"] = r.message;
  if (r.err) j["errno"] = r.err;
  if (r.signal) j["signal"] = r.signal;
  if (!r.crash.is_null()) j["crash"] = r.crash;
  if (r.stopped_s > 0) j["stopped_s"] = r.stopped_s;
  if (r.started_s >= 0) j["started_s"] = r.started_s;
  if (!r.metrics.is_null()) j["metrics"] = r.metrics;
  if (!r.cell_rusage.is_null()) j["cell_rusage"] = r.cell_rusage;
  if (!r.memory_limit.is_null()) j["memory_limit"] = r.memory_limit;
  return j;
}

// The timed region's CPU time (user + system) and wall time of a repetition.
std::optional<std::pair<double, double>> cpu_and_wall(const RepetitionResult& rep) {
  auto user = metric_value(rep.metrics, metrics::cpu_user_s.name),
       sys = metric_value(rep.metrics, metrics::cpu_sys_s.name), wall = metric_value(rep.metrics, metrics::wall_s.name);
  if (!user || !sys || !wall || !(*wall > 0)) return std::nullopt;
  return std::make_pair(*user + *sys, *wall);
}

// Repetitions whose clock ran while the cell did not: stopped (SIGSTOP,
// SIGTSTP, a debugger), or starved of CPU (a suspended VM, another program
// on its cores). Their times are not the cell's.
//  - A stop of the cell process itself is seen directly: the runner notes
//    when it is stopped and continued (stopped_s).
//  - Anything else shows as wall time without CPU time. For a one-thread,
//    CPU-bound cell CPU/wall near 1 says it, but most cells block by design
//    (sleepers sleep, echo waits on sockets) and threaded ones add CPU
//    across cores, so a ratio on its own proves nothing. What holds for all
//    of them: the same cell does about the same work, so its CPU time is
//    about the same in every repetition; a repetition whose wall time
//    stands well above the others' while its CPU time does not was not
//    running for part of it. That needs two repetitions or more.
void warn_about_lost_time(CellResult& r) {
  for (size_t k = 0; k < r.reps.size(); ++k)
    if (r.reps[k].stopped_s > 0)
      r.warnings.push_back(fmt::format(
          "repetition {} was stopped (SIGSTOP or SIGTSTP) for {:.2f} s of its {:.2f} s: its times include the "
          "stop; run it again",
          k + 1, r.reps[k].stopped_s, r.reps[k].elapsed_s));
  std::vector<std::pair<double, double>> cw;
  for (const auto& rep : r.reps)
    if (auto v = cpu_and_wall(rep)) cw.push_back(*v);
  if (cw.size() < 2 || cw.size() != r.reps.size()) return;
  for (size_t k = 0; k < cw.size(); ++k) {
    std::vector<double> cpu, wall;
    for (size_t o = 0; o < cw.size(); ++o)
      if (o != k) {
        cpu.push_back(cw[o].first);
        wall.push_back(cw[o].second);
      }
    const double wall_ratio = cw[k].second / median(wall);
    const double cpu_ratio = median(cpu) > 0 ? cw[k].first / median(cpu) : 1;
    if (wall_ratio > kLostTimeWallRatio && cpu_ratio < kLostTimeCpuRatio && r.reps[k].stopped_s == 0)
      r.warnings.push_back(fmt::format(
          "repetition {} took {:.1f}x the other repetitions' wall time with {:.1f}x their CPU time: it was "
          "stopped or starved of CPU for part of it (SIGSTOP, a suspended VM, another program on its cores); "
          "run it again",
          k + 1, wall_ratio, cpu_ratio));
  }
}

}  // namespace

std::optional<double> metric_value(const nlohmann::json& m, const std::string& name) {
  if (!m.is_object()) return std::nullopt;
  if (const metrics::Metric* row = metrics::find(name); row && row->source == metrics::flattened) {
    // latency_p50_ns -> metrics.latency_ns.p50
    const char* key = row->latency_key;
    if (!m.contains(metrics::latency_ns.name) || !m[metrics::latency_ns.name].is_object() ||
        !m[metrics::latency_ns.name].contains(key) || !m[metrics::latency_ns.name][key].is_number())
      return std::nullopt;
    return m[metrics::latency_ns.name][key].get<double>();
  }
  if (!m.contains(name) || !m[name].is_number()) return std::nullopt;
  double v = m[name].get<double>();
  if (name == metrics::memory_peak_bytes.name && v < 0) return std::nullopt;
  return v;
}

const std::vector<std::string>& aggregated_metrics() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& m : metrics::all())
      if (m.aggregated) out.emplace_back(m.name);
    return out;
  }();
  return names;
}

namespace {

// When leaving out the one repetition farthest from the median brings the
// cell's CV within kUnstableCv: "; 1.2% without repetition 3 (+16% from the
// median)". On the development VM that was two thirds of the in-process
// cells above 3% (results/README.md): a spell of a slower machine inside one
// repetition, which the median does not follow. Needs four repetitions, so
// that three remain.
std::string one_repetition(const CellResult& r) {
  std::vector<double> values;
  for (const auto& rep : r.reps)
    if (auto v = metric_of(rep, metrics::ns_per_op.name)) values.push_back(*v);
  if (values.size() < 4 || values.size() != r.reps.size()) return "";
  const double med = median(values);
  if (med <= 0) return "";
  size_t far = 0;
  for (size_t i = 1; i < values.size(); ++i)
    if (std::abs(values[i] - med) > std::abs(values[far] - med)) far = i;
  std::vector<double> rest = values;
  rest.erase(rest.begin() + static_cast<std::ptrdiff_t>(far));
  const double cv = summarize(rest).cv;
  if (cv > kUnstableCv) return "";
  return fmt::format("; {:.1f}% without repetition {} ({:+.0f}% from the median)", cv * 100, far + 1,
                     (values[far] / med - 1) * 100);
}

}  // namespace

void finish_cell(CellResult& r, const std::string& build_type) {
  for (const auto* set : {&r.warmups, &r.reps}) {
    for (const auto& rep : *set) {
      if (rep.outcome != Outcome::ok && r.outcome == Outcome::ok) {
        r.outcome = rep.outcome;
        r.message = rep.message;
        r.err = rep.err;
        r.signal = rep.signal;
      }
    }
  }
  r.aggregates = nlohmann::json::object();
  if (r.outcome != Outcome::ok) return;  // no numbers from a cell that was not ok

  for (const auto& name : aggregated_metrics()) {
    std::vector<double> values;
    for (const auto& rep : r.reps)
      if (auto v = metric_of(rep, name)) values.push_back(*v);
    if (!values.empty()) r.aggregates[name] = summary_json(summarize(values));
  }
  warn_about_lost_time(r);
  if (!build_type.empty() && build_type != "Release")
    r.warnings.push_back(fmt::format(
        "built as {}: these numbers do not represent optimised code; build with the release preset",
        build_type));
  if (r.aggregates.contains(metrics::ns_per_op.name)) {
    const auto& a = r.aggregates[metrics::ns_per_op.name];
    double cv = a["cv"].get<double>();
    // With the CPU's own speed over the same repetitions (ref_loop_ns,
    // harness/cell/speed.hpp): as large, the machine; far smaller, the cell.
    // And the cores' round trip (ref_cross_cpu_ns), for a cell on several
    // threads: the cost of every hand-off between them.
    std::vector<std::string> refs;
    if (r.aggregates.contains(metrics::ref_loop_ns.name))
      refs.push_back(fmt::format("the CPU's own speed by {:.1f}%", r.aggregates[metrics::ref_loop_ns.name]["cv"].get<double>() * 100));
    if (r.aggregates.contains(metrics::ref_cross_cpu_ns.name))
      refs.push_back(fmt::format("the cores' round trip by {:.1f}%",
                                 r.aggregates[metrics::ref_cross_cpu_ns.name]["cv"].get<double>() * 100));
    const std::string speed = refs.empty() ? "" : fmt::format(" ({})", fmt::join(refs, ", "));
    if (cv > kUnstableCv)
      r.warnings.push_back(fmt::format(
          "unstable: time per operation varies by {:.1f}% (CV) over {} repetitions{}, above {:.0f}%{}",
          cv * 100, a["n"].get<size_t>(), speed, kUnstableCv * 100, one_repetition(r)));
  }
  if (r.reps.size() >= 3) {
    std::vector<double> rest;
    for (size_t i = 1; i < r.reps.size(); ++i)
      if (auto v = metric_of(r.reps[i], metrics::ns_per_op.name)) rest.push_back(*v);
    auto first = metric_of(r.reps[0], metrics::ns_per_op.name);
    double med = median(rest);
    if (first && med > 0 && *first > kSlowFirstRatio * med)
      r.warnings.push_back(fmt::format(
          "the first repetition was {:.1f}x slower than the median of the rest: warm-up effects "
          "remain; raise --warmup",
          *first / med));
  }
}

nlohmann::json to_json(const CellResult& r) {
  const Cell& c = *r.cell;
  nlohmann::json j;
  j["name"] = c.name;
  j["workload"] = c.entry->workload->name;
  j["model"] = c.entry->model->name;
  j["params"] = c.params.all();
  j["operation"] = c.entry->workload->operation;
  j["outcome"] = to_string(r.outcome);
  if (!r.message.empty()) j["message"] = r.message;
  if (r.err) j["errno"] = r.err;
  if (r.signal) j["signal"] = r.signal;
  // The crash of the repetition that decided the outcome.
  for (const auto* set : {&r.warmups, &r.reps})
    for (const auto& rep : *set)
      if (!rep.crash.is_null() && !j.contains("crash")) j["crash"] = rep.crash;
  j["warnings"] = r.warnings;
  j[metrics::passes.name] = r.passes;
  if (r.pinned) j["pinned"] = true;
  // Notes are the implementation's own account of itself; they are the same
  // for every repetition, so the first one that has them speaks for all.
  // A cell that stopped in its warm-up (a `limit`, say) has notes only there.
  nlohmann::json notes = nlohmann::json::object();
  for (const auto* set : {&r.reps, &r.warmups})
    for (const auto& rep : *set)
      if (notes.empty() && rep.notes.is_object() && !rep.notes.empty()) notes = rep.notes;
  j["notes"] = notes;
  j["warmup"] = nlohmann::json::array();
  for (const auto& rep : r.warmups) j["warmup"].push_back(rep_json(rep));
  j["repetitions"] = nlohmann::json::array();
  for (const auto& rep : r.reps) j["repetitions"].push_back(rep_json(rep));
  j["aggregates"] = r.aggregates;
  return j;
}

nlohmann::json new_results_doc(nlohmann::json context, const std::vector<std::string>& command,
                               nlohmann::json options) {
  nlohmann::json doc;
  doc["schema"] = kSchemaName;
  doc["schema_version"] = kSchemaVersion;
  doc["context"] = std::move(context);
  doc["command"] = command;
  doc["options"] = std::move(options);
  doc["models"] = nlohmann::json::object();
  for (const auto* m : all_models())
    doc["models"][m->name] = {{"summary", m->summary},
                              {"unit", m->taxonomy.unit},
                              {"scheduled_by", m->taxonomy.scheduled_by},
                              {"isolation", m->taxonomy.isolation},
                              {"stack", m->taxonomy.stack},
                              {"communication", m->taxonomy.communication},
                              {"library", m->taxonomy.library},
                              // The traits by which presets and the report
                              // select models (harness/registry/registry.hpp).
                              {"kernel_scheduled", m->kernel_scheduled},
                              {"process_tree", m->process_tree},
                              {"unit_ceiling", m->unit_ceiling},
                              {"unit_budget", m->unit_budget},
                              {"workers_param", m->workers_param}};
  doc["workloads"] = nlohmann::json::object();
  for (const auto* w : all_workloads())
    doc["workloads"][w->name] = {{"summary", w->summary},
                                 {"operation", w->operation},
                                 {"units_param", w->units_param}};
  doc["complete"] = false;
  doc["cells"] = nlohmann::json::array();
  return doc;
}

void write_json_atomic(const std::string& path, const nlohmann::json& doc) {
  write_file_atomic(path, doc.dump(2) + "\n");
}

nlohmann::json load_results(const std::string& path) {
  return parse_results(read_input_file(path, "a results file"), path);
}

nlohmann::json parse_results(std::string_view text, const std::string& path) {
  // Before parsing: 100,000 nested arrays parse, but every recursive reader
  // after (a copy, dump(), the report) would overflow its stack on them.
  check_json_depth(text, path);
  auto doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded())
    throw std::invalid_argument(fmt::format("{}: not JSON (truncated or another kind of file)", path));
  // Every field is looked at only after its type is checked: json::value()
  // and get() throw their own exceptions on a wrong type, which callers
  // (--resume) do not expect from a bad file. (Found by fuzz/results_fuzz.)
  if (!doc.is_object() || !doc.contains("schema") || doc["schema"] != kSchemaName)
    throw std::invalid_argument(
        fmt::format("{}: not a cmbench results file (expected \"schema\": \"{}\")", path, kSchemaName));
  if (!doc.contains("schema_version") || !doc["schema_version"].is_number_integer())
    throw std::invalid_argument(fmt::format("{}: no integer schema_version", path));
  // Positive integers parse as unsigned: compared as such, a huge version
  // is not narrowed into an accepted one.
  const auto& version = doc["schema_version"];
  const bool newer = version.is_number_unsigned()
                         ? version.get<uint64_t>() > static_cast<uint64_t>(kSchemaVersion)
                         : version.get<int64_t>() > kSchemaVersion;
  if (newer)
    throw std::invalid_argument(fmt::format(
        "{}: schema_version {} is newer than this cmbench reads (up to {}); use a newer cmbench",
        path, version.dump(), kSchemaVersion));
  if (version.get<int64_t>() < 1)
    throw std::invalid_argument(
        fmt::format("{}: schema_version {} is not a version (1 or more)", path, version.dump()));
  if (!doc.contains("cells") || !doc["cells"].is_array())
    throw std::invalid_argument(fmt::format("{}: no \"cells\" array", path));
  validate_results(doc, path);
  return doc;
}

}  // namespace cmbench
