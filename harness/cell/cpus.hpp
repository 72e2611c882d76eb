#pragma once
// Where a pinned cell's load generator runs. `run --pin auto` pins a
// one-thread cell to the CPU it starts on (harness/sandbox/pin.hpp); the cell
// then names the other CPUs it was allowed in kLoadGenCpusEnv, and the load
// generator it starts (echo's and idle's `cmbench loadgen`, from C++ or Go)
// moves there first thing, so that server and client never share a CPU.
#include <sched.h>

#include <string>

namespace cmbench {

// The CPUs left to a pinned cell's load generator: "1" or "0,2,3". Unset
// when the cell is not pinned or was allowed one CPU only.
inline constexpr const char* kLoadGenCpusEnv = "CMBENCH_LOADGEN_CPUS";

// The CPUs of `set`, ascending, separated by commas ("" for none).
std::string cpu_list(const cpu_set_t& set);

// What apply_load_generator_cpus() did: `error` is empty when it moved the
// generator or had nothing to do; else it names the variable, and `err` is
// EINVAL for a value that is not a list of CPU numbers or the errno of the
// failed sched_setaffinity().
struct CpuMove {
  std::string error;
  int err = 0;
};

// In the load generator: moves it to the CPUs kLoadGenCpusEnv names, when
// set.
CpuMove apply_load_generator_cpus();

}  // namespace cmbench
