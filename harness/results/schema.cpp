#include "harness/results/schema.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "harness/cell/outcome.hpp"
#include "harness/results/metrics.hpp"

namespace cmbench {

using json = nlohmann::json;

void check_json_depth(std::string_view text, const std::string& path) {
  size_t depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxResultsDepth)
        throw std::invalid_argument(fmt::format(
            "{}: nested more than {} levels deep; no results file is (not a results file cmbench wrote)", path,
            kMaxResultsDepth));
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
}

namespace {

enum class Sign { any, non_negative, positive };

// Whether an ok repetition's value of a metric (and its summary) must be
// above zero, as the metric table says.
bool must_be_positive(const std::string& metric) {
  const metrics::Metric* m = metrics::find(metric);
  return m && m->positive;
}

// Walks a document, naming where it is ("cells[3].repetitions[0]"), and
// refuses the first field that does not fit.
class Checker {
 public:
  explicit Checker(const std::string& path) : path_(path) {}

  [[noreturn]] void fail(const std::string& at, const std::string& what) const {
    throw std::invalid_argument(fmt::format("{}: {}: {} (not a results file this cmbench can read)", path_, at, what));
  }

  static const char* type_name(const json& v) {
    switch (v.type()) {
      case json::value_t::null: return "null";
      case json::value_t::object: return "an object";
      case json::value_t::array: return "an array";
      case json::value_t::string: return "a string";
      case json::value_t::boolean: return "a boolean";
      case json::value_t::number_integer:
      case json::value_t::number_unsigned: return "an integer";
      case json::value_t::number_float: return "a number";
      default: return "something else";
    }
  }

  void type(const json& v, const std::string& at, json::value_t want, const char* want_name) const {
    const bool ok = v.type() == want || (want == json::value_t::number_float && v.is_number()) ||
                    (want == json::value_t::number_integer && v.is_number_integer());
    if (!ok) fail(at, fmt::format("{} where {} is expected", type_name(v), want_name));
  }
  void object(const json& v, const std::string& at) const { type(v, at, json::value_t::object, "an object"); }
  void array(const json& v, const std::string& at) const { type(v, at, json::value_t::array, "an array"); }
  void string(const json& v, const std::string& at) const { type(v, at, json::value_t::string, "a string"); }
  void boolean(const json& v, const std::string& at) const { type(v, at, json::value_t::boolean, "true or false"); }

  void number(const json& v, const std::string& at, Sign sign) const {
    type(v, at, json::value_t::number_float, "a number");
    const double x = v.get<double>();
    const char* want = sign == Sign::positive ? "a positive number" : sign == Sign::non_negative ? "a number of 0 or more" : "a number";
    if (!std::isfinite(x) || std::fabs(x) > kMaxResultsMagnitude)
      fail(at, fmt::format("{} is not accepted: {} of magnitude at most {:g}", v.dump(), want, kMaxResultsMagnitude));
    if ((sign == Sign::positive && !(x > 0)) || (sign == Sign::non_negative && x < 0))
      fail(at, fmt::format("{} is not accepted: {}", v.dump(), want));
  }

  void integer(const json& v, const std::string& at, long long lo, long long hi) const {
    type(v, at, json::value_t::number_integer, "an integer");
    const bool ok = v.is_number_unsigned()
                        ? v.get<unsigned long long>() <= static_cast<unsigned long long>(hi) &&
                              static_cast<long long>(v.get<unsigned long long>()) >= lo
                        : v.get<long long>() >= lo && v.get<long long>() <= hi;
    if (!ok) fail(at, fmt::format("{} is not accepted: an integer from {} to {}", v.dump(), lo, hi));
  }

  // A member that must be there.
  const json& need(const json& obj, const char* key, const std::string& at) const {
    auto it = obj.find(key);
    if (it == obj.end()) fail(at, fmt::format("no \"{}\"", key));
    return *it;
  }
  // A member that may be missing: null when it is.
  static const json* maybe(const json& obj, const char* key) {
    auto it = obj.find(key);
    return it == obj.end() ? nullptr : &*it;
  }

  void strings(const json& v, const std::string& at) const {
    array(v, at);
    for (size_t i = 0; i < v.size(); ++i) string(v[i], fmt::format("{}[{}]", at, i));
  }

  void outcome(const json& v, const std::string& at) const {
    string(v, at);
    if (!outcome_from_string(v.get<std::string>()))
      fail(at, fmt::format("{} is not an outcome (ok, invalid, timeout, crashed, failed, limit)", v.dump()));
  }

  void context(const json& c, const std::string& at) const {
    object(c, at);
    for (const char* key : {"date", "host", "cpu_model", "kernel", "compiler", "cxx_flags", "build_type",
                            "cmbench_version", "git_commit", "governor", "cpuidle", "git_describe"})
      if (const json* v = maybe(c, key); v && !v->is_null()) string(*v, at + "." + key);
    for (const char* key : {"cores_online", "cores_available", "cores"})
      if (const json* v = maybe(c, key); v && !v->is_null()) integer(*v, at + "." + key, 0, 1 << 20);
    for (const char* key : {"git_dirty", "mixed"})
      if (const json* v = maybe(c, key); v && !v->is_null()) boolean(*v, at + "." + key);
    for (const char* key : {"libraries", "kernel_limits", "free_page_reporting"})
      if (const json* v = maybe(c, key); v && !v->is_null()) object(*v, at + "." + key);
    if (const json* r = maybe(c, "free_page_reporting"); r && r->is_object()) {
      const std::string in = at + ".free_page_reporting";
      if (const json* on = maybe(*r, "on")) boolean(*on, in + ".on");
      for (const char* key : {"page_reporting_order", "max_order"})
        if (const json* v = maybe(*r, key)) integer(*v, in + "." + key, 0, 64);
    }
  }

  // Metrics as a repetition records them: known ones by their sign, any
  // other (a workload's own, Probe::metric) a bounded number; latency_ns and
  // memory_method as documented.
  // `ok`: of an ok repetition, whose figures are results; a repetition that
  // failed after its timed region may carry metrics of no work (zero
  // operations, zero time per operation), which are only bounded.
  void metrics(const json& m, const std::string& at, bool ok) const {
    object(m, at);
    for (const auto& [key, v] : m.items()) {
      const std::string where = at + "." + key;
      if (key == metrics::memory_method.name) {
        string(v, where);
      } else if (key == metrics::latency_ns.name) {
        object(v, where);
        for (const auto& [p, x] : v.items()) number(x, where + "." + p, Sign::non_negative);
      } else if (key == metrics::memory_peak_bytes.name) {
        // -1: not measured.
        number(v, where, Sign::any);
        if (v.get<double>() < -1) fail(where, fmt::format("{} is not accepted: bytes, or -1 for not measured", v.dump()));
      } else if (key == metrics::memory_per_unit_bytes.name) {
        number(v, where, Sign::any);  // a difference of two readings: noise may make it negative
      } else if (v.is_object() || v.is_array() || v.is_string() || v.is_boolean() || v.is_null()) {
        // A workload's own structured metric: the depth limit bounds it.
      } else {
        number(v, where, ok && must_be_positive(key) ? Sign::positive : Sign::non_negative);
      }
    }
  }

  void repetition(const json& r, const std::string& at) const {
    object(r, at);
    outcome(need(r, "outcome", at), at + ".outcome");
    if (const json* v = maybe(r, "elapsed_s")) number(*v, at + ".elapsed_s", Sign::non_negative);
    if (const json* v = maybe(r, "stopped_s")) number(*v, at + ".stopped_s", Sign::non_negative);
    if (const json* v = maybe(r, "started_s")) number(*v, at + ".started_s", Sign::non_negative);
    if (const json* v = maybe(r, "message")) string(*v, at + ".message");
    if (const json* v = maybe(r, "errno")) integer(*v, at + ".errno", 0, 4095);
    if (const json* v = maybe(r, "signal")) integer(*v, at + ".signal", 0, 128);
    if (const json* v = maybe(r, "metrics"); v && !v->is_null()) metrics(*v, at + ".metrics", r["outcome"] == "ok");
    if (const json* v = maybe(r, "cell_rusage"); v && !v->is_null()) {
      object(*v, at + ".cell_rusage");
      for (const auto& [key, x] : v->items()) number(x, at + ".cell_rusage." + key, Sign::non_negative);
    }
    if (const json* v = maybe(r, "memory_limit"); v && !v->is_null()) object(*v, at + ".memory_limit");
    if (const json* v = maybe(r, "crash"); v && !v->is_null()) object(*v, at + ".crash");
    if (r["outcome"] == "ok" && !(r.contains("metrics") && r["metrics"].is_object()))
      fail(at, "an ok repetition without metrics");
  }

  void summary(const json& s, const std::string& at, bool positive) const {
    object(s, at);
    integer(need(s, "n", at), at + ".n", 1, 1'000'000);
    for (const char* key : {"median", "min", "max"})
      number(need(s, key, at), at + "." + key, positive ? Sign::positive : Sign::any);
    if (const json* v = maybe(s, "mean")) number(*v, at + ".mean", positive ? Sign::positive : Sign::any);
    for (const char* key : {"stddev", "cv", "mad"})
      if (const json* v = maybe(s, key)) number(*v, at + "." + key, Sign::non_negative);
    if (!(s["min"].get<double>() <= s["median"].get<double>() && s["median"].get<double>() <= s["max"].get<double>()))
      fail(at, "min <= median <= max does not hold");
  }

  void cell(const json& c, const std::string& at) const {
    object(c, at);
    for (const char* key : {"name", "workload", "model"}) {
      string(need(c, key, at), at + "." + key);
      if (c[key].get<std::string>().empty()) fail(at + "." + key, "empty");
    }
    outcome(need(c, "outcome", at), at + ".outcome");
    if (const json* v = maybe(c, "params")) {
      object(*v, at + ".params");
      for (const auto& [key, x] : v->items()) string(x, at + ".params." + key);
    }
    for (const char* key : {"operation", "message"})
      if (const json* v = maybe(c, key)) string(*v, at + "." + key);
    if (const json* v = maybe(c, "errno")) integer(*v, at + ".errno", 0, 4095);
    if (const json* v = maybe(c, "signal")) integer(*v, at + ".signal", 0, 128);
    if (const json* v = maybe(c, "pinned")) boolean(*v, at + ".pinned");
    if (const json* v = maybe(c, "warnings")) strings(*v, at + ".warnings");
    if (const json* v = maybe(c, "notes")) object(*v, at + ".notes");
    if (const json* v = maybe(c, "crash"); v && !v->is_null()) object(*v, at + ".crash");
    if (const json* v = maybe(c, "context")) context(*v, at + ".context");
    for (const char* key : {"warmup", "repetitions"})
      if (const json* v = maybe(c, key)) {
        array(*v, at + "." + key);
        for (size_t i = 0; i < v->size(); ++i) repetition((*v)[i], fmt::format("{}.{}[{}]", at, key, i));
      }
    if (c["outcome"] == "ok" && (!c.contains("repetitions") || c["repetitions"].empty()))
      fail(at, "an ok cell without a measured repetition");
    if (const json* v = maybe(c, "aggregates"); v && !v->is_null()) {
      object(*v, at + ".aggregates");
      for (const auto& [key, s] : v->items()) summary(s, at + ".aggregates." + key, must_be_positive(key));
    }
  }

  void selection(const json& s, const std::string& at) const {
    object(s, at);
    for (const char* key : {"preset", "filter", "shard"})
      if (const json* v = maybe(s, key)) string(*v, at + "." + key);
    if (const json* v = maybe(s, "shard"); v && !v->get<std::string>().empty()) {
      // I/N in digits (merge counts the slices up to N).
      const std::string& t = v->get_ref<const std::string&>();
      const auto slash = t.find('/');
      auto digits = [](const std::string& d) {
        return !d.empty() && d.size() <= 6 && d.find_first_not_of("0123456789") == std::string::npos;
      };
      if (slash == std::string::npos || !digits(t.substr(0, slash)) || !digits(t.substr(slash + 1)) ||
          std::stol(t.substr(0, slash)) < 1 || std::stol(t.substr(0, slash)) > std::stol(t.substr(slash + 1)))
        fail(at + ".shard", fmt::format("{} is not accepted: I/N with 1 <= I <= N <= 999999", v->dump()));
    }
    for (const char* key : {"models", "workloads", "params"})
      if (const json* v = maybe(s, key)) strings(*v, at + "." + key);
    if (const json* v = maybe(s, "repetitions")) {
      integer(*v, at + ".repetitions", -1, 1000);
      if (v->get<long long>() == 0) fail(at + ".repetitions", "0 is not accepted: -1 (the preset's) or 1 to 1000");
    }
    if (const json* v = maybe(s, "warmup")) integer(*v, at + ".warmup", -1, 100);
    if (const json* v = maybe(s, "timeout_s")) {
      number(*v, at + ".timeout_s", Sign::positive);
      if (v->get<double>() > 86400) fail(at + ".timeout_s", fmt::format("{} is not accepted: 0.1 to 86400 seconds", v->dump()));
    }
    if (const json* v = maybe(s, "pin")) {
      string(*v, at + ".pin");
      if (*v != "auto" && *v != "off") fail(at + ".pin", fmt::format("{} is not accepted: auto or off", v->dump()));
    }
    if (const json* v = maybe(s, "memory_limit_bytes"); v && !v->is_null())
      integer(*v, at + ".memory_limit_bytes", 0, std::numeric_limits<long long>::max());
  }

  void document(const json& doc) const {
    context(need(doc, "context", "the document"), "context");
    if (const json* v = maybe(doc, "command")) strings(*v, "command");
    if (const json* v = maybe(doc, "resumed_by")) strings(*v, "resumed_by");
    if (const json* v = maybe(doc, "complete")) boolean(*v, "complete");
    if (const json* v = maybe(doc, "wall_s"); v && !v->is_null()) number(*v, "wall_s", Sign::non_negative);
    if (const json* v = maybe(doc, "models")) {
      object(*v, "models");
      for (const auto& [name, m] : v->items()) {
        const std::string where = "models." + name;
        object(m, where);
        // The traits the presets and the report select models by.
        for (const char* key : {"kernel_scheduled", "process_tree"})
          if (const json* t = maybe(m, key)) boolean(*t, where + "." + key);
        for (const char* key : {"unit_ceiling", "unit_budget"})
          if (const json* t = maybe(m, key)) integer(*t, where + "." + key, 0, std::numeric_limits<long long>::max());
        if (const json* t = maybe(m, "workers_param")) string(*t, where + ".workers_param");
      }
    }
    if (const json* v = maybe(doc, "workloads")) {
      object(*v, "workloads");
      for (const auto& [name, w] : v->items()) {
        const std::string where = "workloads." + name;
        object(w, where);
        for (const char* key : {"summary", "operation", "units_param"})
          if (const json* t = maybe(w, key)) string(*t, where + "." + key);
      }
    }
    if (const json* v = maybe(doc, "options")) {
      object(*v, "options");
      if (const json* p = maybe(*v, "preset")) string(*p, "options.preset");
      if (const json* p = maybe(*v, "repetitions")) integer(*p, "options.repetitions", 1, 1000);
      if (const json* p = maybe(*v, "warmup")) integer(*p, "options.warmup", 0, 100);
      if (const json* p = maybe(*v, "timeout_s")) number(*p, "options.timeout_s", Sign::positive);
      if (const json* p = maybe(*v, "selection")) selection(*p, "options.selection");
    }
    if (const json* v = maybe(doc, "merged_from")) {
      array(*v, "merged_from");
      for (size_t i = 0; i < v->size(); ++i) object((*v)[i], fmt::format("merged_from[{}]", i));
    }
    const json& cells = doc["cells"];
    for (size_t i = 0; i < cells.size(); ++i) cell(cells[i], fmt::format("cells[{}]", i));
  }

 private:
  const std::string& path_;
};

}  // namespace

void validate_results(const json& doc, const std::string& path) { Checker(path).document(doc); }

}  // namespace cmbench
