#pragma once
#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>

namespace cmbench {

// Where and how a result was produced: date, host, CPU, cores, kernel,
// compiler and flags, build type, library versions, git commit, governor.
nlohmann::json collect_context();

// True when `context` (collect_context()'s) says idle CPUs halt without
// polling in a VM guest (cpuidle "haltpoll, guest_halt_poll_ns=0"): there,
// a blocked thread's or process's wake-up onto an idle vCPU is a trip
// through the hypervisor, several times the kernel's own switch.
bool idle_cpus_halt_at_once(const nlohmann::json& context);

// One sentence that says so and where it is explained, for the console
// summary and the report's verdicts.
extern const char* const kHaltAtOnceNote;

// What collect_context() records as "free_page_reporting": null when no
// virtio balloon offers free page reporting (VIRTIO_BALLOON_F_REPORTING, bit
// 5 of the device's `features` string, one '0' or '1' per bit) or the
// kernel has no page_reporting_order; else {"on": the guest reports free
// blocks to the host, "page_reporting_order": the smallest order it reports,
// "max_order": the largest order the buddy allocator has}. An order above
// max_order reports nothing: "on" is false.
nlohmann::json describe_free_page_reporting(const std::string& balloon_features,
                                            const std::string& reporting_order, int max_order);

// True when `context` says the guest hands freed memory back to its host
// (free_page_reporting.on): the first touch of a page the host took
// back faults in the host too, so cells whose time is mostly first-touch
// page faults vary with how much the host reclaimed since the last cell.
bool host_reclaims_free_memory(const nlohmann::json& context);

// The same in words, for the report's context table: "not recorded" (an
// older result), "none" (null), "on: ..." or "off: ...".
std::string free_page_reporting_text(const nlohmann::json& context);

// One paragraph that says so, how to turn it off, and where it is explained,
// for the console summary and scripts/perf-check. `context` gives the order
// that turns it off.
std::string host_reclaim_note(const nlohmann::json& context);

// How steady the machine's own speed was over a run: the CV of the speed
// loop (ref_loop_ns, harness/cell/speed.hpp) over each ok cell's
// repetitions, over the cells that ran at least 3. Time per operation
// cannot be expected to repeat more closely than the CPU it ran on: when
// the loop's CV at the median cell is above kSteadyMachineCv, a run's
// stability figures describe the machine, not the models.
struct MachineSteadiness {
  size_t cells = 0;      // cells with the loop's CV (ok, 3 repetitions or more)
  double median_cv = 0;  // the loop's CV at the median cell
  double p90_cv = 0;     // and at the 90th percentile (nearest rank)
  size_t above = 0;      // cells whose loop CV was above kSteadyMachineCv
};
// The in-process stability target of issue 16 (CV <= 3%); on the 2-core
// development VM the median cell's loop CV was 2.0-2.5% in a quiet hour
// and 3.8-5.3% in a noisy one (results/README.md).
inline constexpr double kSteadyMachineCv = 0.03;
// Empty when no cell has the loop's figures (an older result, --count runs,
// fewer than 3 repetitions). `run_doc` is a results file's document.
std::optional<MachineSteadiness> machine_steadiness(const nlohmann::json& run_doc);
bool machine_unsteady(const MachineSteadiness& s);
// "the speed loop's CV over a cell's repetitions: median 5.3%, 90th
// percentile 11.4%; above 3% in 180 of 193 cells", for the report's context
// table.
std::string machine_steadiness_text(const MachineSteadiness& s);
// One paragraph for the console summary when machine_unsteady(): what was
// measured, what it means for the cells' CVs, and what to do.
std::string machine_steadiness_note(const MachineSteadiness& s);

// "Release", "Debug", ... as built.
const char* build_type();

}  // namespace cmbench
