#include "harness/cell.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <nlohmann/json.hpp>
#include <thread>

#include "harness/errors.hpp"
#include "harness/memory.hpp"
#include "harness/outcome.hpp"
#include "harness/registry.hpp"

namespace cmbench {

namespace {

void write_all(int fd, const std::string& text) {
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the parent is gone; nothing useful to do
    off += static_cast<size_t>(n);
  }
}

// Test-only fault injection, so the fault tests exercise the real cell
// protocol: CMBENCH_FAULT=<kind>[@<substring of the cell name>]. It acts
// before the workload runs, in the cell process, exactly where a broken
// implementation would misbehave.
void inject_fault(const std::string& name) {
  const char* env = std::getenv("CMBENCH_FAULT");
  if (!env || !*env) return;
  std::string spec = env;
  std::string kind = spec.substr(0, spec.find('@'));
  if (auto at = spec.find('@'); at != std::string::npos && name.find(spec.substr(at + 1)) == std::string::npos)
    return;
  if (kind == "hang") {
    for (;;) pause();
  } else if (kind == "hang-tree") {
    // Grandchildren that outlive their parent must be found and killed too.
    for (int i = 0; i < 3; ++i)
      if (fork() == 0)
        for (;;) pause();
    for (;;) pause();
  } else if (kind == "segv") {
    raise(SIGSEGV);
  } else if (kind == "abort") {
    std::abort();
  } else if (kind == "exit") {
    _exit(3);
  } else if (kind == "leak-child") {
    // A unit left running after the cell returns: the harness must notice.
    if (fork() == 0)
      for (;;) pause();
  } else if (kind == "throw") {
    throw std::runtime_error("injected failure");
  }
}

}  // namespace

Outcome classify(const Probe& probe, std::string& message) {
  if (!probe.started() || !probe.stopped()) {
    message = "the implementation did not mark its timed region (start/stop)";
    return Outcome::failed;
  }
  if (!probe.verified()) {
    message = "the implementation did not verify its result";
    return Outcome::failed;
  }
  if (!probe.verdict().ok) {
    message = probe.verdict().message;
    return Outcome::invalid;
  }
  return Outcome::ok;
}

int run_cell_child(const std::string& workload, const std::string& model,
                   const std::map<std::string, std::string>& given, int result_fd) {
  nlohmann::json out;
  Outcome outcome = Outcome::ok;
  const Entry* entry = find_entry(workload, model);
  if (!entry) {
    out["outcome"] = to_string(Outcome::failed);
    out["message"] = fmt::format("no implementation of {} in model {}", workload, model);
    write_all(result_fd, out.dump());
    return 2;
  }
  Probe probe;
  try {
    const Params params = make_params(cell_param_defs(*entry), given);
    inject_fault(workload + "/" + model);
    probe.set_process_tree(entry->model->process_tree);
    entry->impl->run(params, probe);
    std::string message;
    outcome = classify(probe, message);
    if (!message.empty()) out["message"] = message;
    if (probe.operations() == 0) probe.set_operations(entry->workload->operations(params));
  } catch (const LimitError& e) {
    outcome = Outcome::limit;
    out["message"] = e.what();
    out["errno"] = e.err();
  } catch (const SystemError& e) {
    outcome = Outcome::failed;
    out["message"] = e.what();
    out["errno"] = e.err();
  } catch (const std::bad_alloc&) {
    outcome = Outcome::limit;
    out["message"] = "out of memory (std::bad_alloc)";
    out["errno"] = ENOMEM;
  } catch (const std::system_error& e) {
    int err = e.code().value();
    outcome = is_limit_errno(err) ? Outcome::limit : Outcome::failed;
    out["message"] = e.what();
    out["errno"] = err;
  } catch (const std::exception& e) {
    outcome = Outcome::failed;
    out["message"] = e.what();
  }
  out["outcome"] = to_string(outcome);
  if (probe.stopped()) out["metrics"] = probe.metrics();
  out["notes"] = probe.notes();
  // The cell's own peak resident memory. It is read here, from /proc, and
  // not from ru_maxrss, which survives execve and would carry the parent's.
  out["vm_hwm_bytes"] = proc_status_bytes("self", "VmHWM");
  write_all(result_fd, out.dump());
  return 0;
}

const char* to_string(Outcome o) {
  switch (o) {
    case Outcome::ok: return "ok";
    case Outcome::invalid: return "invalid";
    case Outcome::timeout: return "timeout";
    case Outcome::crashed: return "crashed";
    case Outcome::failed: return "failed";
    case Outcome::limit: return "limit";
  }
  return "failed";
}

std::optional<Outcome> outcome_from_string(const std::string& s) {
  for (Outcome o : {Outcome::ok, Outcome::invalid, Outcome::timeout, Outcome::crashed,
                    Outcome::failed, Outcome::limit})
    if (s == to_string(o)) return o;
  return std::nullopt;
}

}  // namespace cmbench
