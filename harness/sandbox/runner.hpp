#pragma once
// The parent side of a cell: runs one repetition in a fresh child process of
// this binary, with a watchdog, and records how it ended and what it cost.
#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "harness/cell/outcome.hpp"

namespace cmbench {

struct RepetitionRequest {
  std::string workload;
  std::string model;
  std::map<std::string, std::string> params;
  double timeout_s = 120;
  // Sample the resident memory of the cell's process tree while it runs
  // (process models; tree_resident_bytes), instead of trusting the cell's
  // own VmHWM.
  bool sample_tree_memory = false;
  // The cmbench binary to run the cell in; empty: this very binary.
  std::string executable;
  // When set and it becomes non-zero (a signal handler's flag), the
  // repetition is stopped at once: its process group is killed and the
  // result says `interrupted`.
  const volatile sig_atomic_t* stop = nullptr;
  // The cell's memory limit in bytes; 0: none. The cell process sets it on
  // itself as RLIMIT_AS before the workload runs (posix_spawn cannot set a
  // child's limits), so every process the cell forks inherits it. Kept last,
  // with a default, so that aggregate initialisers that stop earlier work.
  uint64_t memory_limit_bytes = 0;
  // --keep-core: a folder where the core file of a cell that crashes is
  // kept (the cell raises RLIMIT_CORE and runs in a fresh folder under it);
  // empty: cores are left to the system's settings.
  std::string core_dir = {};
  // How many times the cell runs its workload in this repetition (the
  // `cmbench cell --passes` argument; run --min-time chooses it).
  int passes = 1;
  // --count instructions: the cell runs under Valgrind's callgrind and its
  // timed region's instructions and simulated cache misses are added to its
  // metrics (harness/sandbox/instructions.hpp). The caller has checked that
  // the cell may be counted (count_refusal).
  bool count_instructions = false;
  // --pin: the cell process pins itself to the CPU it starts on before the
  // workload runs (harness/sandbox/pin.hpp).
  bool pin = false;
  // The cell's units run on several threads: the runner times the cores'
  // round trip just before and just after the cell process
  // (ref_cross_cpu_ns, harness/cell/speed.hpp).
  bool cross_cpu = false;
};

struct RepetitionResult {
  Outcome outcome = Outcome::failed;
  std::string message;
  int err = 0;     // errno (or 0)
  int signal = 0;  // the signal that ended the cell (crashed, timeout)
  nlohmann::json metrics;  // timed-region metrics from the cell, plus memory
  nlohmann::json notes;
  nlohmann::json cell_rusage;  // wait4() of the whole cell process (and its reaped children)
  double elapsed_s = 0;        // the whole repetition, process start to reap
  bool interrupted = false;    // stopped by `stop`: not a result
  // {"bytes": N, "method": "RLIMIT_AS"} when the repetition ran under a
  // memory limit; null otherwise.
  nlohmann::json memory_limit;
  // crashed: what the cell's crash handler recorded (harness/sandbox/crash.hpp),
  // symbolised; with --keep-core also where the core file went. Null otherwise.
  nlohmann::json crash;
  // Seconds the cell process spent stopped (SIGSTOP, SIGTSTP) while it ran:
  // its wall-clock figures include them.
  double stopped_s = 0;
  // When it started, in seconds from the start of the run (`run` sets it;
  // -1: not recorded).
  double started_s = -1;
};

// The environment variable through which the runner hands the memory limit
// (in bytes) to the cell process, which applies it to itself.
inline constexpr const char* kMemoryLimitEnv = "CMBENCH_MEMORY_LIMIT";
// The runner's pid, so that a cell can tell that the runner died before the
// cell asked to be told (PR_SET_PDEATHSIG); and --keep-core's request.
inline constexpr const char* kRunnerPidEnv = "CMBENCH_RUNNER_PID";
inline constexpr const char* kKeepCoreEnv = "CMBENCH_KEEP_CORE";
// The signal a cell gets when the thread that started it dies (the runner
// killed, even by SIGKILL): its handler kills the cell's whole process group.
int cell_death_signal() noexcept;
// The smallest limit accepted: below it the cell cannot even load its
// libraries, and the outcome would say nothing about the workload.
inline constexpr uint64_t kMinMemoryLimit = uint64_t{16} << 20;

// Parses a memory size as --memory-limit takes it: plain bytes, or a number
// with K, M, G or T (powers of 1024, as ulimit and docker read them; KiB,
// MiB, GiB, TiB are accepted too). Nothing when the text is not a size.
std::optional<uint64_t> parse_memory_size(std::string_view text);
// "512 MiB", "1.5 GiB", "4096 bytes".
std::string memory_size_text(uint64_t bytes);

// Makes this process the reaper of orphaned descendants, so grandchildren a
// cell leaves behind are ours to find, kill and reap. Call once before cells run.
void become_subreaper();

RepetitionResult run_repetition(const RepetitionRequest& req);

}  // namespace cmbench
