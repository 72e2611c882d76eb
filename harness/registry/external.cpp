#include "harness/registry/external.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "harness/cell/errors.hpp"
#include "harness/registry/registry.hpp"

namespace cmbench {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Reads one manifest, naming the file and the field in every error.
class ManifestReader {
 public:
  explicit ManifestReader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw ManifestError(fmt::format("{}: field '{}': {}", file_, field, what));
  }

  static const char* type_name(const json& v) {
    if (v.is_string()) return "a string";
    if (v.is_boolean()) return "a boolean";
    if (v.is_number_integer() || v.is_number_unsigned()) return "an integer";
    if (v.is_number()) return "a number";
    if (v.is_array()) return "an array";
    if (v.is_object()) return "an object";
    return "null";
  }

  const json* find(const json& obj, const char* key) const {
    auto it = obj.find(key);
    return it == obj.end() ? nullptr : &*it;
  }

  std::string string(const json& obj, const std::string& prefix, const char* key, bool required,
                     std::string fallback = "") const {
    const json* v = find(obj, key);
    if (!v) {
      if (required) fail(prefix + key, "missing; accepted: a string");
      return fallback;
    }
    if (!v->is_string()) fail(prefix + key, fmt::format("is {}; accepted: a string", type_name(*v)));
    return v->get<std::string>();
  }

  bool boolean(const json& obj, const std::string& prefix, const char* key, bool fallback) const {
    const json* v = find(obj, key);
    if (!v) return fallback;
    if (!v->is_boolean()) fail(prefix + key, fmt::format("is {}; accepted: true | false", type_name(*v)));
    return v->get<bool>();
  }

  // An integer, or a string parse_int reads ("1G", "64Ki").
  int64_t integer(const json& obj, const std::string& prefix, const char* key, bool required,
                  int64_t fallback = 0) const {
    const json* v = find(obj, key);
    if (!v) {
      if (required) fail(prefix + key, "missing; accepted: an integer");
      return fallback;
    }
    if (v->is_number_integer()) return v->get<int64_t>();
    if (v->is_number_unsigned() && v->get<uint64_t>() <= uint64_t(INT64_MAX)) return v->get<int64_t>();
    if (v->is_string())
      if (auto parsed = parse_int(v->get<std::string>())) return *parsed;
    fail(prefix + key, fmt::format("is {}; accepted: an integer (1000, 10k, 1G, 64Ki)",
                                   v->is_string() ? fmt::format("'{}'", v->get<std::string>()) : type_name(*v)));
  }

  const json& object(const json& obj, const std::string& prefix, const char* key, bool required) const {
    static const json empty = json::object();
    const json* v = find(obj, key);
    if (!v) {
      if (required) fail(prefix + key, "missing; accepted: an object");
      return empty;
    }
    if (!v->is_object()) fail(prefix + key, fmt::format("is {}; accepted: an object", type_name(*v)));
    return *v;
  }

  const json& array(const json& obj, const std::string& prefix, const char* key, bool required) const {
    static const json empty = json::array();
    const json* v = find(obj, key);
    if (!v) {
      if (required) fail(prefix + key, "missing; accepted: an array");
      return empty;
    }
    if (!v->is_array()) fail(prefix + key, fmt::format("is {}; accepted: an array", type_name(*v)));
    return *v;
  }

  // A typo in a field name would otherwise pass unnoticed, with its value
  // replaced by the default: every field must be one the format defines.
  void only(const json& obj, const std::string& prefix, const std::set<std::string>& known) const {
    for (const auto& [key, value] : obj.items())
      if (!known.count(key))
        fail(prefix + key, fmt::format("is not a field of a manifest (format {}); accepted: {}", kManifestVersion,
                                       fmt::join(known, ", ")));
  }

  ParamDef param(const json& p, const std::string& prefix) const {
    if (!p.is_object()) fail(prefix, fmt::format("is {}; accepted: an object", type_name(p)));
    only(p, prefix + ".", {"name", "help", "default", "min", "max", "allowed", "choices"});
    const std::string name = string(p, prefix + ".", "name", true);
    const std::string help = string(p, prefix + ".", "help", true);
    const std::string field = prefix + ".default";
    const json* def = find(p, "default");
    if (!def) fail(field, "missing; accepted: the parameter's default value");
    ParamDef d;
    if (find(p, "choices")) {
      const json& choices = array(p, prefix + ".", "choices", true);
      std::vector<std::string> words;
      for (const auto& c : choices) {
        if (!c.is_string()) fail(prefix + ".choices", "has a non-string element; accepted: an array of strings");
        words.push_back(c.get<std::string>());
      }
      if (words.empty()) fail(prefix + ".choices", "is empty; accepted: at least one word");
      if (!def->is_string()) fail(field, fmt::format("is {}; accepted: one of the choices", type_name(*def)));
      d = ParamDef::choice(name, help, def->get<std::string>(), words);
    } else {
      const int64_t min = integer(p, prefix + ".", "min", true);
      const int64_t max = integer(p, prefix + ".", "max", true);
      if (min > max) fail(prefix + ".max", fmt::format("{} is below min ({})", max, min));
      std::vector<int64_t> allowed;
      for (const auto& a : array(p, prefix + ".", "allowed", false)) {
        if (!a.is_number_integer()) fail(prefix + ".allowed", "has a non-integer element; accepted: integers");
        allowed.push_back(a.get<int64_t>());
      }
      d = ParamDef::integer(name, help, integer(p, prefix + ".", "default", true), min, max, allowed);
    }
    if (auto err = check_value(d, d.default_value)) fail(field, *err);
    return d;
  }

 private:
  std::string file_;
};

std::set<std::string>& loaded_manifests() {
  static std::set<std::string> loaded;
  return loaded;
}

}  // namespace

void load_external_model(const std::string& path, bool from_default_folder) {
  std::error_code ec;
  const fs::path canonical = fs::canonical(path, ec);
  if (ec) throw ManifestError(fmt::format("--external: cannot read '{}': {}", path, ec.message()));
  if (loaded_manifests().count(canonical.string())) return;
  std::ifstream in(canonical);
  if (!in || fs::is_directory(canonical))
    throw ManifestError(fmt::format("--external: cannot read '{}' (not a readable file)", path));
  json doc = json::parse(in, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    throw ManifestError(fmt::format("{}: not a JSON object (a model manifest; docs/cell-protocol.md)", path));
  const ManifestReader r(path);
  r.only(doc, "", {"format", "protocol", "name", "executable", "summary", "taxonomy", "traits", "params",
                   "workloads", "min_address_space", "uncountable", "last_words"});

  const int64_t format = r.integer(doc, "", "format", false, kManifestVersion);
  if (format != kManifestVersion)
    r.fail("format", fmt::format("{} is not a manifest format this cmbench reads; accepted: {}", format, kManifestVersion));
  auto program = std::make_shared<ExternalProgram>();
  program->manifest = canonical.string();
  program->from_default_folder = from_default_folder;
  const int64_t protocol = r.integer(doc, "", "protocol", true);
  if (protocol < 1 || protocol > kCellProtocolVersion)
    r.fail("protocol", fmt::format("{} is not a cell protocol version this cmbench speaks; accepted: 1..{}",
                                   protocol, kCellProtocolVersion));
  program->protocol = static_cast<int>(protocol);

  ModelInfo m;
  m.name = r.string(doc, "", "name", true);
  // The name is part of every cell's name (workload/model/params) and of
  // --models lists, so it is limited to what those can carry.
  if (m.name.empty() ||
      !std::all_of(m.name.begin(), m.name.end(), [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; }))
    r.fail("name", fmt::format("'{}' is not a model name; accepted: letters, digits, '-' and '_'", m.name));
  if (find_model(m.name)) r.fail("name", fmt::format("there is a model '{}' already", m.name));

  const std::string exe = r.string(doc, "", "executable", true);
  const fs::path exe_path = fs::path(exe).is_absolute() ? fs::path(exe) : canonical.parent_path() / exe;
  if (!fs::is_regular_file(exe_path, ec) || ::access(exe_path.c_str(), X_OK) != 0)
    r.fail("executable", fmt::format("'{}' is not an executable file", exe_path.lexically_normal().string()));
  program->executable = exe_path.lexically_normal().string();

  m.summary = r.string(doc, "", "summary", true);
  const json& tax = r.object(doc, "", "taxonomy", true);
  r.only(tax, "taxonomy.", {"unit", "scheduled_by", "isolation", "stack", "communication", "library"});
  m.taxonomy = Taxonomy{
      r.string(tax, "taxonomy.", "unit", true),          r.string(tax, "taxonomy.", "scheduled_by", true),
      r.string(tax, "taxonomy.", "isolation", false),    r.string(tax, "taxonomy.", "stack", false),
      r.string(tax, "taxonomy.", "communication", false), r.string(tax, "taxonomy.", "library", false),
  };
  const json& traits = r.object(doc, "", "traits", true);
  r.only(traits, "traits.",
         {"kernel_scheduled", "process_tree", "unit_ceiling", "unit_budget", "workers_param", "one_thread"});
  m.kernel_scheduled = r.boolean(traits, "traits.", "kernel_scheduled", false);
  m.process_tree = r.boolean(traits, "traits.", "process_tree", false);
  m.unit_ceiling = r.integer(traits, "traits.", "unit_ceiling", false, m.kernel_scheduled ? 32'768 : 1'000'000);
  m.unit_budget = r.integer(traits, "traits.", "unit_budget", false, m.unit_ceiling);
  if (m.unit_ceiling < 1) r.fail("traits.unit_ceiling", fmt::format("{} is below 1; accepted: 1 or more", m.unit_ceiling));
  if (m.unit_budget < 1) r.fail("traits.unit_budget", fmt::format("{} is below 1; accepted: 1 or more", m.unit_budget));
  m.workers_param = r.string(traits, "traits.", "workers_param", false);
  m.one_thread = r.boolean(traits, "traits.", "one_thread", false);
  if (m.one_thread && m.kernel_scheduled)
    r.fail("traits.one_thread", "true with kernel_scheduled true; accepted: false for a model whose units are kernel tasks");

  const json& params = r.array(doc, "", "params", false);
  for (size_t i = 0; i < params.size(); ++i) m.params.push_back(r.param(params[i], fmt::format("params[{}]", i)));
  if (!m.workers_param.empty() &&
      std::none_of(m.params.begin(), m.params.end(), [&](const ParamDef& p) { return p.name == m.workers_param; }))
    r.fail("traits.workers_param", fmt::format("'{}' is not one of the model's params", m.workers_param));

  std::vector<std::pair<const WorkloadSpec*, std::string>> entries;
  const json& workloads = r.array(doc, "", "workloads", true);
  if (workloads.empty()) r.fail("workloads", "is empty; accepted: the names of the workloads the program implements");
  std::vector<std::string> known;
  for (const auto* w : all_workloads()) known.push_back(w->name);
  for (size_t i = 0; i < workloads.size(); ++i) {
    const std::string field = fmt::format("workloads[{}]", i);
    std::string name, source;
    if (workloads[i].is_string()) {
      name = workloads[i].get<std::string>();
    } else if (workloads[i].is_object()) {
      r.only(workloads[i], field + ".", {"name", "source"});
      name = r.string(workloads[i], field + ".", "name", true);
      source = r.string(workloads[i], field + ".", "source", false);
      // The report counts the file's lines: relative to the manifest's
      // folder when it is there (a model outside the tree), else to
      // cmbench's source folder (go's workloads/<w>/go.go).
      if (!source.empty() && fs::path(source).is_relative() && fs::exists(canonical.parent_path() / source, ec))
        source = (canonical.parent_path() / source).lexically_normal().string();
    } else {
      r.fail(field, fmt::format("is {}; accepted: a workload's name, or {{\"name\", \"source\"}}",
                                ManifestReader::type_name(workloads[i])));
    }
    const WorkloadSpec* spec = find_workload(name);
    if (!spec) r.fail(field, fmt::format("unknown workload '{}'; accepted: {}", name, fmt::join(known, ", ")));
    for (const auto& p : m.params)
      for (const auto& wp : spec->params)
        if (p.name == wp.name)
          r.fail("params", fmt::format("'{}' is a parameter of workload {} already", p.name, name));
    if (std::any_of(entries.begin(), entries.end(), [&](const auto& e) { return e.first == spec; }))
      r.fail(field, fmt::format("workload '{}' is listed twice", name));
    entries.emplace_back(spec, source);
  }
  program->min_address_space = static_cast<uint64_t>(r.integer(doc, "", "min_address_space", false, 0));
  m.uncountable = r.string(doc, "", "uncountable", false);
  const json& last_words = r.array(doc, "", "last_words", false);
  for (size_t i = 0; i < last_words.size(); ++i) {
    const std::string field = fmt::format("last_words[{}]", i);
    if (!last_words[i].is_object())
      r.fail(field, fmt::format("is {}; accepted: an object", ManifestReader::type_name(last_words[i])));
    r.only(last_words[i], field + ".", {"pattern", "message", "errno", "errno_group", "outcome"});
    ExternalProgram::LastWords w;
    w.pattern = r.string(last_words[i], field + ".", "pattern", true);
    try {
      std::regex check(w.pattern);
    } catch (const std::regex_error& e) {
      r.fail(field + ".pattern", fmt::format("is not a regular expression (ECMAScript): {}", e.what()));
    }
    w.message = r.string(last_words[i], field + ".", "message", true);
    w.err = static_cast<int>(r.integer(last_words[i], field + ".", "errno", false, 0));
    w.errno_group = static_cast<int>(r.integer(last_words[i], field + ".", "errno_group", false, 0));
    if (w.errno_group < 0 || w.errno_group > 9)
      r.fail(field + ".errno_group", fmt::format("{} is not accepted; accepted: 0..9", w.errno_group));
    w.outcome = r.string(last_words[i], field + ".", "outcome", false);
    if (!w.outcome.empty() && w.outcome != "limit" && w.outcome != "failed")
      r.fail(field + ".outcome", fmt::format("'{}' is not accepted; accepted: limit | failed", w.outcome));
    program->last_words.push_back(std::move(w));
  }
  m.external = program;
  try {
    add_model(std::move(m), entries);
  } catch (const std::invalid_argument& e) {
    r.fail("name", e.what());
  }
  loaded_manifests().insert(canonical.string());
}

std::string default_external_folder() {
  if (const char* env = std::getenv("CMBENCH_MODELS_DIR"); env) return env;
  std::error_code ec;
  const fs::path exe_dir = fs::path(self_exe()).parent_path();
  for (const fs::path& candidate : {exe_dir / ".." / "lib" / "cmbench" / "models", exe_dir / "lib" / "cmbench" / "models"})
    if (fs::is_directory(candidate, ec)) return candidate.lexically_normal().string();
  return "";
}

void load_default_external_models() {
  const std::string folder = default_external_folder();
  if (folder.empty()) return;
  std::error_code ec;
  std::vector<fs::path> manifests;
  for (const auto& f : fs::directory_iterator(folder, ec))
    if (f.path().extension() == ".json") manifests.push_back(f.path());
  std::sort(manifests.begin(), manifests.end());
  for (const auto& m : manifests) load_external_model(m.string(), true);
}

}  // namespace cmbench
