#pragma once
// What a runtime tells the cell's crash handler (harness/sandbox/crash.cpp)
// about the unit it was running when a signal ended the process: which
// fiber, where its stack is and how it is protected. A runtime registers one
// probe; the handler calls it from the signal handler, so the probe must be
// async-signal-safe: read thread-locals and plain fields, no locks, no
// allocation. It costs nothing until a crash: the runtime keeps the state it
// reads for its own reasons (the running fiber, its stack bounds).
#include <atomic>
#include <cstddef>

namespace cmbench {

struct RunningUnit {
  // The fiber's identity (its control block) and a function that names it:
  // the entry the runtime calls to start it (the parent symbolises it).
  const void* id = nullptr;
  const void* entry = nullptr;
  // The usable stack [stack_bottom, stack_bottom + stack_size); null before
  // the fiber got one.
  const void* stack_bottom = nullptr;
  std::size_t stack_size = 0;
  // A guard page below the stack (an overflow faults there), else only a
  // canary (checked when the runtime switches away from the fiber).
  bool guarded = false;
  // For an unguarded stack: the canary was still intact at the crash.
  bool canary_intact = true;
  // The thread ran the scheduler's own context, not a fiber.
  bool scheduler_context = false;
};

// Fills `unit` and returns true when this thread runs a unit of the
// registering runtime; false otherwise.
using RunningUnitProbe = bool (*)(RunningUnit& unit) noexcept;

inline std::atomic<RunningUnitProbe> g_running_unit_probe{nullptr};

inline void set_running_unit_probe(RunningUnitProbe probe) noexcept {
  g_running_unit_probe.store(probe, std::memory_order_release);
}

}  // namespace cmbench
