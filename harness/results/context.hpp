#pragma once
#include <nlohmann/json.hpp>

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

// "Release", "Debug", ... as built.
const char* build_type();

}  // namespace cmbench
