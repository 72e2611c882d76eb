#pragma once
// run --pin: a cell whose units all run on one thread of its own process
// runs pinned to one CPU, as pyperf's --affinity and `taskset` pin a
// benchmark, so that the kernel does not move it between CPUs in the middle
// of its timed region (a migration refills caches and the branch predictor
// and waits for the other CPU). What it changed on the 2-core development
// VM is in results/README.md ("Pinned cells"): the median cell's CV of time
// per operation about halved, the medians unchanged.
//
// Only those cells, by traits (harness/registry/registry.hpp), never by
// name: a cell of threads, processes or an M:N runtime needs every core, and
// pinning it would measure one core's contention instead. Not pinned either:
// a workload that starts threads of its own (WorkloadSpec::own_threads:
// blocking's offload pools), which would inherit the pin, and a model not
// known to run its units one at a time on one thread (ModelInfo::one_thread
// false). Go at gomaxprocs:1 is pinned: its goroutines run on one P, and its
// runtime's own threads (sysmon, mostly asleep) share the CPU, as under
// `taskset`.
//
// A pinned cell that a load generator loads (WorkloadSpec::load_generator:
// echo, idle) sends the generator to the other CPUs it was allowed, as a
// network benchmark runs its client on cores the server does not use. Left
// to the kernel, the two shared a CPU in some processes and not in others,
// and the cell's figures moved with that (results/README.md, "Pinned
// cells").
#include <map>
#include <optional>
#include <string>

#include "harness/cell/cpus.hpp"

namespace cmbench {

// The values --pin takes: auto (the default: the cells above are pinned)
// and off.
inline constexpr const char* kPinAuto = "auto";
inline constexpr const char* kPinOff = "off";

// The environment variable through which the runner asks the cell process
// to pin itself (before the workload runs; every thread it starts inherits
// the pin).
inline constexpr const char* kPinEnv = "CMBENCH_PIN";

// Why the cell's units do not all run on one thread of the cell process, in
// one sentence; nothing when they do: a model with the trait one_thread
// (fiber, boost-fiber, coro, uv, go) with its workers parameter at 1 or not
// given.
std::optional<std::string> not_on_one_thread(const std::string& workload, const std::string& model,
                                             const std::map<std::string, std::string>& params);

// Whether --pin auto pins this cell: its workload starts no threads of its
// own, and either its units run on one thread (above) or they are kernel
// tasks that hand the work on one at a time (WorkloadSpec::hands_off:
// pingpong, ring, prodcons 1x1 at capacity 0), which on one CPU measure the
// kernel's switch rather than a wake-up across CPUs (results/README.md,
// "Pinned cells"). The params need not be complete: a workload parameter
// not given is read at its default.
bool pinned_cell(const std::string& workload, const std::string& model,
                 const std::map<std::string, std::string>& params);

// Whether this process may run on more than one CPU (else a pin changes
// nothing, and none is made).
bool can_pin();

// In the cell process, when the runner asked (kPinEnv): pins it to the CPU it
// is running on, the one the kernel chose for it at exec, where the
// scheduler places a new program on the idlest CPU. So two runs side by side
// (ctest -j2) get a CPU each rather than both a fixed one. Sets
// kLoadGenCpusEnv (harness/cell/cpus.hpp) to the CPUs it leaves, and removes
// any inherited value when it pins nothing. Returns an error message when it
// cannot.
std::string apply_pin();

}  // namespace cmbench
