#pragma once
// The runtime's sanitizer glue: what AddressSanitizer and ThreadSanitizer
// must be told at every stack switch. In other builds every function here is
// empty and inlined away, so the switch path is what it is without them.
//
// AddressSanitizer must be told about every stack switch, or it takes the
// fiber's stack for a huge frame of the thread's and reports false errors
// when an exception unwinds it. Boost.Context's fcontext switches are not
// annotated (only its ucontext build is), so the runtime annotates its own:
// __sanitizer_start_switch_fiber() before the jump (with a null save slot
// when the stack is left for good, so ASan frees its fake stack), and
// __sanitizer_finish_switch_fiber() just after landing.
//
// ThreadSanitizer keeps a shadow call stack and a vector clock per thread of
// execution; a stack switch it is not told about makes it mix up two fibers'
// histories and report races (or crash) in perfectly sequential code. So in
// a TSan build every fiber gets a TSan fiber context, and every switch says
// where it goes. The switches synchronise (flags 0): the fibers of one
// thread run one at a time, each switch a happens-before edge, as they
// truly are; in M:N mode a fiber moves between threads only through a
// queue's lock or atomics, which TSan sees.
//
// Where the switch is announced matters, because TSan's shadow stack is
// pushed on entry to every instrumented function and popped on its exit:
// a frame entered under one context and left under another unbalances both
// (an underflow makes TSan itself crash at its next stack trace). The rule
// kept here: announce a switch only where no instrumented frame will return
// before the jump. In Scheduler::switch_to() that holds (Boost's resume_with
// is inlined into it and the helpers below are always inlined), so it
// announces the switch just before the jump (leaving()). finish() does not:
// after it returns, the finished fiber's entry(), its lambda and Boost's
// record still return before the jump. So finish() announces nothing
// (leaving_for_good()); the next fiber announces the switch itself when it
// lands (resumed(), after the jump in switch_to()), and a next fiber that
// has never run, which lands in Boost's entry code and pushes its first
// frames on the finished fiber's context, simply keeps that context as its
// own.
#include <cstddef>
#include <utility>

#include "models/fiber/stack_pool.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define CMBENCH_FIBER_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define CMBENCH_FIBER_TSAN 1
// The instrumentation's own entry point (not in tsan_interface.h); built()
// needs it to balance an entry that Boost.Context's fiber creation leaves.
extern "C" void __tsan_func_exit(void);
#endif

namespace cmbench::fiber::sanitizers {

#if defined(CMBENCH_FIBER_ASAN)
inline constexpr bool kAddress = true;
#else
inline constexpr bool kAddress = false;
#endif

#if defined(CMBENCH_FIBER_TSAN)
// The context of a fiber that finished, still TSan's current one until the
// fiber that runs after it lands (resumed()), which switches to its own
// and destroys this one.
inline thread_local void* tsan_finished = nullptr;
#endif

// Just before the jump from `prev` (which will be resumed later) to `next`;
// `main` is the thread's own context.
[[gnu::always_inline]] inline void leaving([[maybe_unused]] ControlBlock* prev,
                                           [[maybe_unused]] ControlBlock* next,
                                           [[maybe_unused]] ControlBlock* main) noexcept {
#if defined(CMBENCH_FIBER_ASAN)
  __sanitizer_start_switch_fiber(&prev->asan_fake_stack, next->stack_bottom, next->stack_size);
#endif
#if defined(CMBENCH_FIBER_TSAN)
  // The thread's own context, learnt each time it leaves it (run() may be
  // called from different threads over the scheduler's life).
  if (prev == main) main->tsan_fiber = __tsan_get_current_fiber();
  if (!next->tsan_fiber) next->tsan_fiber = __tsan_create_fiber(0);
  __tsan_switch_to_fiber(next->tsan_fiber, 0);
#endif
}

// Just before the last jump away from `self`, whose function has returned.
[[gnu::always_inline]] inline void leaving_for_good([[maybe_unused]] ControlBlock* self,
                                                    [[maybe_unused]] ControlBlock* next) noexcept {
#if defined(CMBENCH_FIBER_ASAN)
  // A null save slot tells ASan this stack is finished: free its fake stack.
  __sanitizer_start_switch_fiber(nullptr, next->stack_bottom, next->stack_size);
#endif
#if defined(CMBENCH_FIBER_TSAN)
  // No switch announced here (see the top of this file): a next fiber that
  // never ran inherits this context; one that did switches to its own when
  // it lands, and destroys this one.
  if (!next->tsan_fiber)
    next->tsan_fiber = std::exchange(self->tsan_fiber, nullptr);
  else
    tsan_finished = std::exchange(self->tsan_fiber, nullptr);
#endif
}

// ASan: where the thread came from; the thread's own stack bounds are learnt
// the first time it switches away.
[[gnu::always_inline]] inline void asan_landed([[maybe_unused]] void* fake_stack,
                                               [[maybe_unused]] ControlBlock* from,
                                               [[maybe_unused]] ControlBlock* main) noexcept {
#if defined(CMBENCH_FIBER_ASAN)
  const void* from_bottom = nullptr;
  std::size_t from_size = 0;
  __sanitizer_finish_switch_fiber(fake_stack, &from_bottom, &from_size);
  if (from == main) {
    main->stack_bottom = from_bottom;
    main->stack_size = from_size;
  }
#endif
}

// Just after `self` was resumed; `from` is the fiber the thread left (the
// worker's switched_from), `main` the thread's own context.
[[gnu::always_inline]] inline void resumed([[maybe_unused]] ControlBlock* self,
                                           [[maybe_unused]] ControlBlock* from,
                                           [[maybe_unused]] ControlBlock* main) noexcept {
  asan_landed(self->asan_fake_stack, from, main);
#if defined(CMBENCH_FIBER_TSAN)
  // If a finished fiber resumed `self`, TSan still runs that fiber's
  // context: switch to self's and destroy it.
  if (void* dead = std::exchange(tsan_finished, nullptr)) {
    __tsan_switch_to_fiber(self->tsan_fiber, 0);
    __tsan_destroy_fiber(dead);
  }
#endif
}

// At the first instruction of a new fiber (its entry()), on its own stack.
[[gnu::always_inline]] inline void entered(ControlBlock* from, ControlBlock* main) noexcept {
  asan_landed(nullptr, from, main);
}

// After Boost.Context built a fiber on its new stack (Scheduler::start()).
[[gnu::always_inline]] inline void built() noexcept {
#if defined(CMBENCH_FIBER_TSAN)
  // The constructor jumped onto the new stack, entered its fiber_entry there
  // and jumped back without leaving it, so ThreadSanitizer counted one
  // function entry on this context that no exit will match. Pop it, or each
  // start leaves a frame behind and a context that starts 65,536 fibers
  // overflows TSan's shadow stack.
  __tsan_func_exit();
#endif
}

}  // namespace cmbench::fiber::sanitizers
