#include "harness/sandbox/external.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

#include "harness/cell/errors.hpp"
#include "harness/cell/outcome.hpp"
#include "harness/registry/external.hpp"
#include "harness/registry/registry.hpp"
#include "harness/sandbox/runner.hpp"
#include "harness/results/metrics.hpp"

namespace cmbench {

namespace {

// A runtime that reserves address space when it starts (Go reserves about
// 680 MiB before any goroutine exists) aborts at once under a lower
// RLIMIT_AS. Rather than that crash, the limit is refused as the resource it
// is, with the figure the manifest gives.
void check_memory_limit(const ExternalProgram& program, const std::string& model) {
  if (program.min_address_space == 0) return;
  rlimit as{};
  if (getrlimit(RLIMIT_AS, &as) != 0 || as.rlim_cur == RLIM_INFINITY || as.rlim_cur >= program.min_address_space)
    return;
  throw LimitError(fmt::format("the {} model's program needs at least {} bytes of address space to start "
                               "(min_address_space in {}), more than the memory limit allows, and cannot run",
                               model, program.min_address_space, program.manifest),
                   ENOMEM);
}

}  // namespace

void exec_external(const ExternalProgram& program, const std::string& workload, const std::string& model,
                   const Params& params, int result_fd, int passes) {
  check_memory_limit(program, model);
  std::vector<std::string> args = {program.executable, "cell", "--workload", workload, "--model", model};
  for (const auto& [key, value] : params.all()) {
    args.push_back("--param");
    args.push_back(key + "=" + value);
  }
  args.push_back("--result-fd");
  args.push_back(std::to_string(result_fd));
  args.push_back("--passes");
  args.push_back(std::to_string(passes));
  // echo's load generator is cmbench's own (`cmbench loadgen`), so every
  // model is measured by the same client.
  args.push_back("--cmbench");
  args.push_back(self_exe());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The version the harness speaks, for a program that speaks several.
  ::setenv("CMBENCH_CELL_PROTOCOL", std::to_string(program.protocol).c_str(), 1);
  // The cell dies with the runner (harness/sandbox/cell.cpp), but its
  // handler does not survive the exec, and a runtime may catch and drop the
  // signal it was sent (Go does): SIGKILL instead, which nothing catches.
  if (const char* runner = std::getenv(kRunnerPidEnv); runner && *runner) ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  ::execv(program.executable.c_str(), argv.data());
  const int err = errno;
  throw_errno(fmt::format("execv {} (the {} model's program, from {})", program.executable, model, program.manifest),
              err);
}

void check_external_result(const RepetitionRequest& req, RepetitionResult& res) {
  const Entry* entry = find_entry(req.workload, req.model);
  if (!entry || !entry->model->external || res.outcome != Outcome::ok) return;
  if (!res.metrics.is_object() || !res.metrics.contains(metrics::operations.name) ||
      !res.metrics[metrics::operations.name].is_number()) {
    res.outcome = Outcome::failed;
    res.message = "the program reported ok without metrics.operations (docs/cell-protocol.md)";
    return;
  }
  if (!entry->workload->operations_exact) return;
  const uint64_t want =
      entry->workload->operations(make_params(cell_param_defs(*entry), req.params)) * static_cast<uint64_t>(req.passes);
  const uint64_t got = res.metrics[metrics::operations.name].get<uint64_t>();
  if (got != want) {
    res.outcome = Outcome::invalid;
    res.message = fmt::format("the program reported {} operations; the {} spec counts {} for these parameters{}",
                              got, req.workload, want, req.passes > 1 ? fmt::format(" and {} passes", req.passes) : "");
  }
}

}  // namespace cmbench
