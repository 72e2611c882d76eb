#include "harness/registry/registry.hpp"

#include <algorithm>

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

const std::vector<const WorkloadSpec*>& all_workloads() {
  static const std::vector<const WorkloadSpec*> all = {
#define CMBENCH_WORKLOAD(w) &w::spec(),
#define CMBENCH_MODEL(m)
#define CMBENCH_ENTRY(w, m, source)
#include "harness/registry/manifest.def"
#undef CMBENCH_WORKLOAD
#undef CMBENCH_MODEL
#undef CMBENCH_ENTRY
  };
  return all;
}

const std::vector<const ModelInfo*>& all_models() {
  static const std::vector<const ModelInfo*> all = {
#define CMBENCH_WORKLOAD(w)
#define CMBENCH_MODEL(m) &models::m::info(),
#define CMBENCH_ENTRY(w, m, source)
#include "harness/registry/manifest.def"
#undef CMBENCH_WORKLOAD
#undef CMBENCH_MODEL
#undef CMBENCH_ENTRY
  };
  return all;
}

const std::vector<Entry>& all_entries() {
  static const std::vector<Entry> all = {
#define CMBENCH_WORKLOAD(w)
#define CMBENCH_MODEL(m)
#define CMBENCH_ENTRY(w, m, source) Entry{&w::spec(), &models::m::info(), &impls::w##_##m, source},
#include "harness/registry/manifest.def"
#undef CMBENCH_WORKLOAD
#undef CMBENCH_MODEL
#undef CMBENCH_ENTRY
  };
  return all;
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
