#include "harness/registry/registry.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <stdexcept>

#include "harness/registry/external.hpp"

// Declarations of everything the manifest names. The manifest is generated
// by the build from the one list, harness/registry/registry.txt (see
// harness/registry/registry.cmake).
#define CMBENCH_WORKLOAD(w) \
  namespace cmbench::w {    \
  const WorkloadSpec& spec(); \
  }
#define CMBENCH_MODEL(m)        \
  namespace cmbench::models::m { \
  const ModelInfo& info();      \
  }
#define CMBENCH_ENTRY(w, m, source) \
  namespace cmbench::impls {         \
  extern const Impl w##_##m;         \
  }
#include "harness/registry/manifest.def"
#undef CMBENCH_WORKLOAD
#undef CMBENCH_MODEL
#undef CMBENCH_ENTRY

namespace cmbench {

namespace {

// The registry: the built-in workloads, models and entries from the
// manifest, then the models added at run time (external models). Filled
// before the first lookup returns, and only ever appended to, so the
// pointers handed out stay valid: the added models live in a deque.
struct Registry {
  std::vector<const WorkloadSpec*> workloads = {
#define CMBENCH_WORKLOAD(w) &w::spec(),
#define CMBENCH_MODEL(m)
#define CMBENCH_ENTRY(w, m, source)
#include "harness/registry/manifest.def"
#undef CMBENCH_WORKLOAD
#undef CMBENCH_MODEL
#undef CMBENCH_ENTRY
  };
  std::vector<const ModelInfo*> models = {
#define CMBENCH_WORKLOAD(w)
#define CMBENCH_MODEL(m) &models::m::info(),
#define CMBENCH_ENTRY(w, m, source)
#include "harness/registry/manifest.def"
#undef CMBENCH_WORKLOAD
#undef CMBENCH_MODEL
#undef CMBENCH_ENTRY
  };
  std::vector<Entry> entries = {
#define CMBENCH_WORKLOAD(w)
#define CMBENCH_MODEL(m)
#define CMBENCH_ENTRY(w, m, source) Entry{&w::spec(), &models::m::info(), &impls::w##_##m, source},
#include "harness/registry/manifest.def"
#undef CMBENCH_WORKLOAD
#undef CMBENCH_MODEL
#undef CMBENCH_ENTRY
  };
  std::deque<ModelInfo> added_models;
  std::deque<std::string> added_sources;
};

Registry& registry() {
  static Registry r;
  return r;
}

// The external models of the default folder join the registry before its
// first lookup answers, so that every cmbench (and every test) sees the
// models the build installed beside it (go) without a flag. The flag guards
// against the loading's own lookups.
Registry& loaded_registry() {
  static bool loading = false;
  static bool loaded = false;
  Registry& r = registry();
  if (!loaded && !loading) {
    loading = true;
    try {
      load_default_external_models();
    } catch (...) {
      loading = false;
      throw;
    }
    loading = false;
    loaded = true;
  }
  return r;
}

}  // namespace

const std::vector<const WorkloadSpec*>& all_workloads() { return registry().workloads; }

const std::vector<const ModelInfo*>& all_models() { return loaded_registry().models; }

const std::vector<Entry>& all_entries() { return loaded_registry().entries; }

const ModelInfo& add_model(ModelInfo model, const std::vector<std::pair<const WorkloadSpec*, std::string>>& entries) {
  Registry& r = registry();
  for (const auto* m : r.models)
    if (m->name == model.name) throw std::invalid_argument(fmt::format("there is a model '{}' already", model.name));
  const ModelInfo& added = r.added_models.emplace_back(std::move(model));
  r.models.push_back(&added);
  for (const auto& [workload, source] : entries) {
    const std::string& kept = r.added_sources.emplace_back(source);
    r.entries.push_back(Entry{workload, &added, nullptr, kept.c_str()});
  }
  // Entries stay ordered by workload, as the manifest orders them, so an
  // added model's cells fall in with the others of each workload.
  std::stable_sort(r.entries.begin(), r.entries.end(), [&r](const Entry& a, const Entry& b) {
    auto index = [&r](const WorkloadSpec* w) { return std::find(r.workloads.begin(), r.workloads.end(), w) - r.workloads.begin(); };
    return index(a.workload) < index(b.workload);
  });
  return added;
}

const WorkloadSpec* find_workload(const std::string& name) {
  for (const auto* w : all_workloads())
    if (w->name == name) return w;
  return nullptr;
}

const ModelInfo* find_model(const std::string& name) {
  for (const auto* m : all_models())
    if (m->name == name) return m;
  return nullptr;
}

bool passes_in_process(const Entry& entry, const Params& params) {
  if (!entry.workload->passes_in_process) return false;
  const ModelInfo& m = *entry.model;
  if (!m.workers_set_up_once || m.workers_param.empty() || !params.has(m.workers_param)) return true;
  return params.u(m.workers_param) == 1;
}

bool passes_in_fresh_processes(const Entry& entry, const Params& params) {
  return entry.workload->passes_in_fresh_processes && !passes_in_process(entry, params);
}

const Entry* find_entry(const std::string& workload, const std::string& model) {
  for (const auto& e : all_entries())
    if (e.workload->name == workload && e.model->name == model) return &e;
  return nullptr;
}

std::vector<ParamDef> cell_param_defs(const Entry& entry) {
  std::vector<ParamDef> defs = entry.workload->params;
  defs.insert(defs.end(), entry.model->params.begin(), entry.model->params.end());
  return defs;
}

}  // namespace cmbench
