// What the cell's crash handler learns about the fiber that was running
// (harness/cell/crash_probe.hpp). Called from a signal handler: it reads the
// thread-local worker and the running control block's plain fields, and
// nothing else.
#include "harness/cell/crash_probe.hpp"
#include "models/fiber/scheduler.hpp"

namespace cmbench::fiber {

bool Scheduler::running_unit(RunningUnit& unit) noexcept {
  const Worker* w = current_worker_;
  if (!w || !w->current) return false;
  const ControlBlock* cb = w->current;
  unit.id = cb;
  if (cb == &w->main) {
    unit.scheduler_context = true;
    return true;
  }
  // The function the fiber was spawned with, through the trampoline that
  // calls it (ControlBlock::run_inline<F> or run_heap<F>): its symbol names F.
  unit.entry = reinterpret_cast<const void*>(cb->run);
  unit.stack_bottom = cb->stack_bottom;
  unit.stack_size = cb->stack_size;
  unit.guarded = cb->guarded;
  unit.canary_intact = cb->guarded || !cb->stack_bottom || StackPool::canary_intact(cb);
  return true;
}

}  // namespace cmbench::fiber
