#include "harness/sandbox/pin.hpp"

#include <fmt/format.h>
#include <sched.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "harness/cell/cpus.hpp"
#include "harness/registry/registry.hpp"

namespace cmbench {

std::optional<std::string> not_on_one_thread(const std::string& workload, const std::string& model,
                                             const std::map<std::string, std::string>& params) {
  const ModelInfo* m = find_model(model);
  if (m && m->kernel_scheduled)
    return fmt::format("{}/{}: its units are {}", workload, model, m->process_tree ? "processes" : "kernel threads");
  if (!m || !m->one_thread)
    return fmt::format("{}/{}: its runtime is not known to run every unit on one thread (the model's trait "
                       "one_thread)",
                       workload, model);
  if (!m->workers_param.empty()) {
    // Given, or the model's default.
    std::string workers = "1";
    for (const ParamDef& d : m->params)
      if (d.name == m->workers_param) workers = d.default_value;
    if (auto it = params.find(m->workers_param); it != params.end()) workers = it->second;
    if (workers != "1")
      return fmt::format("{}/{}: {}:{} runs its units on several kernel threads; only {}:1 runs them on one",
                         workload, model, m->workers_param, workers, m->workers_param);
  }
  return std::nullopt;
}

bool pinned_cell(const std::string& workload, const std::string& model,
                 const std::map<std::string, std::string>& params) {
  const WorkloadSpec* w = find_workload(workload);
  if (!w || w->own_threads) return false;  // a load generator is sent elsewhere (apply_pin)
  if (const ModelInfo* m = find_model(model); m && m->kernel_scheduled) {
    if (!w->hands_off) return false;
    std::map<std::string, std::string> all = params;
    for (const ParamDef& d : w->params) all.emplace(d.name, d.default_value);
    return w->hands_off(Params(std::move(all)));
  }
  return !not_on_one_thread(workload, model, params);
}

bool can_pin() {
  cpu_set_t set;
  CPU_ZERO(&set);
  return sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 1;
}

std::string apply_pin() {
  unsetenv(kLoadGenCpusEnv);  // only a pin of this process's own says where
  const char* env = std::getenv(kPinEnv);
  if (!env || !*env) return "";
  const std::string text = env;
  unsetenv(kPinEnv);  // the pin itself is inherited; the variable need not be
  if (text != "1") return fmt::format("{}='{}' is not accepted; accepted: 1", kPinEnv, text);
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0)
    return fmt::format("--pin: sched_getaffinity: {}", std::strerror(errno));
  const int cpu = sched_getcpu();
  if (cpu < 0) return fmt::format("--pin: sched_getcpu: {}", std::strerror(errno));
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0)
    return fmt::format("--pin: sched_setaffinity(CPU {}): {}", cpu, std::strerror(errno));
  CPU_CLR(cpu, &allowed);
  if (CPU_COUNT(&allowed) > 0) setenv(kLoadGenCpusEnv, cpu_list(allowed).c_str(), 1);
  return "";
}

}  // namespace cmbench
