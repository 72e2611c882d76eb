#pragma once
// What a workload implementation sees of the harness: the timed region, the
// per-unit latency histograms, the verification verdict and notes about how
// the implementation works. The harness owns the clock, rusage and memory
// readings so that every model is measured the same way.
#include <nlohmann/json.hpp>
#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <span>
#include <string>

#include "harness/cell/histogram.hpp"
#include "harness/cell/memory.hpp"

namespace cmbench {

// Monotonic nanoseconds (CLOCK_MONOTONIC through the vDSO). System-wide, so a
// timestamp taken in one forked process can be compared in another.
inline int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The result of checking a run's work after its timed region.
struct Verdict {
  bool ok = false;
  std::string message;  // what was expected and what was found; empty when ok

  static Verdict pass() { return {true, {}}; }
  static Verdict fail(std::string message) { return {false, std::move(message)}; }
};

class Probe {
 public:
  Probe() = default;
  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;
  ~Probe();

  // `units` empty histograms, one per recording unit, in an anonymous shared
  // mapping so forked children can record into them. Call before start();
  // merge happens after the run. Each call replaces the previous set.
  std::span<Histogram> latency_histograms(size_t units);

  // Bracket the timed region. Everything between them is measured: wall time
  // (steady clock) and CPU time and context switches (getrusage of this
  // process and of its reaped children, so a process model must reap its
  // children before stop()).
  void start();
  void stop();

  // Verification after the timed region; a failed verdict makes the cell
  // `invalid` and its numbers are not reported as results.
  void verify(const Verdict& verdict);

  // How the implementation works where that is part of what is measured,
  // e.g. note("continuation", "inline") or note("lock", "none: ...").
  void note(const std::string& key, nlohmann::json value);

  // Memory per unit (spawn, sleepers, ...): call memory_baseline() before
  // the units exist and memory_parked(n) while all n are alive and parked.
  // Both read memory the same way for every model — this process's resident
  // memory (VmRSS), or for a process model the resident memory of this
  // process and its descendants with each page counted once
  // (tree_resident_bytes) — plus the machine-wide kernel memory the units
  // cost (KernelStack, PageTables, Slab). Time spent reading is excluded
  // from the timed region's wall and CPU time.
  void memory_baseline();
  void memory_parked(uint64_t units);

  // A metric of the workload's own beside the harness's (ns_per_op, ...):
  // written into the cell's metrics object under `name`, e.g.
  // metric("jain_index", 0.97). Every name must also be in the metric table
  // (harness/results/metrics.hpp) with its unit, direction and description.
  // A later call with the same name replaces the value. Throws
  // std::invalid_argument for a name the harness writes itself, so a
  // workload cannot overwrite a measured figure.
  void metric(const std::string& name, double value);

  // Leaves a helper process's CPU time and context switches out of the timed
  // region's (e.g. echo's load generator, a reaped child of the cell).
  void exclude_child_usage(const rusage& usage);

  // Set by the cell runner: the model's units are processes.
  void set_process_tree(bool on) { process_tree_ = on; }

  // The number of operations the timed region performed, when it differs
  // from the workload's nominal count.
  void set_operations(uint64_t ops) { operations_ = ops; }

  // Passes (run --min-time): the cell runner may run the workload several
  // times in one process, so that a short timed region adds up to a
  // repetition long enough to measure. Between two passes it calls
  // next_pass(), which adds this pass's figures (wall and CPU time,
  // context switches, operations, latency samples) to the repetition's and
  // makes the probe ready for the next run(). Memory per unit is read in the
  // first pass only: it describes N live units in a fresh process, where a
  // later pass would reuse the pages the first one left resident.
  void next_pass();
  int passes() const { return passes_done_ + 1; }
  // Test-only (the regression gate's tests): stop() spins this long before
  // it reads the clock, as if every operation had taken a fixed delay more.
  void inject_delay(int64_t ns) { injected_delay_ns_ = ns; }

  // --- read by the cell runner ---
  bool started() const { return start_ns_ != 0; }
  bool stopped() const { return stop_ns_ != 0; }
  bool verified() const { return verified_; }
  const Verdict& verdict() const { return verdict_; }
  uint64_t operations() const { return operations_; }
  // Metrics of the timed region, the merged histogram and the notes.
  nlohmann::json metrics() const;
  const nlohmann::json& notes() const { return notes_; }
  Histogram merged_latency() const;

 private:
  struct Usage {
    rusage self{};
    rusage children{};
  };
  static Usage read_usage();
  struct MemoryReading {
    long long user = -1;  // VmRSS, or the tree's (tree_resident_bytes)
    KernelMemory kernel;
  };
  MemoryReading read_memory() const;
  // The figures a pass adds to the repetition's.
  struct Totals {
    int64_t wall_ns = 0;
    double user_s = 0, sys_s = 0;
    long nvcsw = 0, nivcsw = 0;
    uint64_t operations = 0;
    void add(const Totals& o);
  };
  Totals this_pass() const;
  // Runs `read` and leaves the time and CPU it took out of the timed region.
  template <typename F>
  void untimed(F&& read);

  Histogram* hists_ = nullptr;
  size_t nhists_ = 0;
  size_t map_bytes_ = 0;
  int64_t start_ns_ = 0;
  int64_t stop_ns_ = 0;
  Usage start_usage_{};
  Usage stop_usage_{};
  bool verified_ = false;
  Verdict verdict_;
  uint64_t operations_ = 0;
  nlohmann::json notes_ = nlohmann::json::object();
  nlohmann::json extra_metrics_ = nlohmann::json::object();
  bool process_tree_ = false;
  int64_t excluded_ns_ = 0;
  int64_t injected_delay_ns_ = 0;
  double excluded_user_s_ = 0, excluded_sys_s_ = 0;
  long excluded_nvcsw_ = 0, excluded_nivcsw_ = 0;
  Totals earlier_;  // the passes before this one
  // Their latency samples. A member, zeroed when the probe is made, rather
  // than a copy in metrics(): a cell that ran out of address space
  // (--memory-limit) cannot grow its stack by another 40 KiB histogram.
  Histogram earlier_latency_;
  int passes_done_ = 0;
  MemoryReading mem_base_, mem_parked_;
  uint64_t mem_units_ = 0;
};

}  // namespace cmbench
