#include "models/fiber/scheduler.hpp"

#include <fmt/format.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define CMBENCH_FIBER_ASAN 1
#endif

namespace cmbench::fiber {

Scheduler::Scheduler(std::size_t stack_size) : pool_(stack_size) {}

Scheduler::~Scheduler() {
  if (live_ == 0) return;
  Scheduler* outer = current_scheduler_;
  current_scheduler_ = this;
  shutdown();
  current_scheduler_ = outer;
}

void Scheduler::run() {
  if (current_scheduler_ != nullptr)
    throw std::logic_error("cmbench::fiber::Scheduler::run() called inside a running scheduler");
  current_scheduler_ = this;
  struct Reset {
    ~Reset() { current_scheduler_ = nullptr; }
  } reset;

  // The thread only ever resumes here when no fiber is runnable, every fiber
  // has finished, or a fiber failed; so one pass normally suffices.
  while (live_ > 0 && !error_) {
    ControlBlock* next = runq_.pop();
    if (!next) break;
    switch_to(next);
  }
  const std::size_t stuck = error_ ? 0 : live_;
  if (live_ > 0) shutdown();
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  if (stuck > 0)
    throw FiberDeadlock(fmt::format(
        "cmbench::fiber: deadlock: {} fibers were parked and none could run; they were unwound",
        stuck));
}

void Scheduler::yield() {
  ControlBlock* self = current_;
  if (self == &main_) return;
  if (self->cancelled) throw FiberCancelled{};
  if (runq_.empty()) return;  // nothing else can run: carry on
  runq_.push(self);
  switch_to(runq_.pop());
  if (self->cancelled) throw FiberCancelled{};
}

void Scheduler::park() {
  ControlBlock* self = current_;
  if (self == &main_)
    throw std::logic_error(
        "cmbench::fiber: a blocking operation was called outside a fiber (it would park the "
        "thread that runs the scheduler)");
  if (self->cancelled) throw FiberCancelled{};
  switch_to(next_to_run());
  if (self->cancelled) throw FiberCancelled{};
}

ControlBlock* Scheduler::next_to_run() noexcept {
  if (stopping_) return &main_;
  ControlBlock* next = runq_.pop();
  return next ? next : &main_;
}

// One context switch. The fiber being left is saved by a function that
// Boost.Context runs on top of the fiber being entered, before that fiber
// continues: prev->ctx is therefore set before anything else can run, with
// no scheduler loop in between and no allocation (the lambda is copied onto
// the target's stack). Whoever later resumes `prev` does it the same way, so
// what resume_with() returns here is always an empty fiber.
void Scheduler::switch_to(ControlBlock* next) {
  ControlBlock* prev = current_;
  current_ = next;
#if defined(CMBENCH_FIBER_ASAN)
  switched_from_ = prev;
  __sanitizer_start_switch_fiber(&prev->asan_fake_stack, next->stack_bottom, next->stack_size);
#endif
  [[maybe_unused]] boost::context::fiber none =
      std::move(next->ctx).resume_with([prev](boost::context::fiber&& from) {
        prev->ctx = std::move(from);
        return boost::context::fiber{};
      });
#if defined(CMBENCH_FIBER_ASAN)
  asan_resumed(prev->asan_fake_stack);
#endif
}

// Called by a fiber's entry once its function has returned. The fiber it
// returns is resumed by Boost.Context, which then, on top of that fiber,
// destroys this fiber's record and hands the stack back to the pool.
boost::context::fiber Scheduler::finish(ControlBlock* self) noexcept {
  ++self->generation;
  while (ControlBlock* joiner = self->joiners.pop()) runq_.push(joiner);
  unlink_live(self);
  ControlBlock* next = next_to_run();
  current_ = next;
#if defined(CMBENCH_FIBER_ASAN)
  switched_from_ = self;
  // A null save slot tells ASan this stack is finished: free its fake stack.
  __sanitizer_start_switch_fiber(nullptr, next->stack_bottom, next->stack_size);
#endif
  return std::move(next->ctx);
}

void Scheduler::fail(std::exception_ptr error) noexcept {
  if (!error_) error_ = std::move(error);
  stopping_ = true;
}

// Unwinds every fiber that has not finished: each is marked cancelled and
// resumed, its park() or yield() throws FiberCancelled, its destructors run,
// its entry returns, and control comes back here. A fiber that never started
// skips its function altogether.
void Scheduler::shutdown() {
  stopping_ = true;
  while (ControlBlock* cb = live_list_) {
    cb->cancelled = true;
    switch_to(cb);
  }
  runq_.clear();
  stopping_ = false;
}

void Scheduler::link_live(ControlBlock* cb) noexcept {
  cb->live_prev = nullptr;
  cb->live_next = live_list_;
  if (live_list_) live_list_->live_prev = cb;
  live_list_ = cb;
  ++live_;
}

void Scheduler::unlink_live(ControlBlock* cb) noexcept {
  (cb->live_prev ? cb->live_prev->live_next : live_list_) = cb->live_next;
  if (cb->live_next) cb->live_next->live_prev = cb->live_prev;
  cb->live_prev = cb->live_next = nullptr;
  --live_;
}

// AddressSanitizer must be told about every stack switch, or it takes the
// fiber's stack for a huge frame of the thread's and reports false errors
// when an exception unwinds it. Boost.Context's fcontext switches are not
// annotated (only its ucontext build is), so the runtime annotates its own.
void Scheduler::asan_entered() noexcept {
#if defined(CMBENCH_FIBER_ASAN)
  asan_resumed(nullptr);
#endif
}

void Scheduler::asan_resumed([[maybe_unused]] void* fake_stack) noexcept {
#if defined(CMBENCH_FIBER_ASAN)
  const void* from_bottom = nullptr;
  std::size_t from_size = 0;
  __sanitizer_finish_switch_fiber(fake_stack, &from_bottom, &from_size);
  // The thread's own stack bounds are learnt the first time it switches away.
  if (switched_from_ == &main_) {
    main_.stack_bottom = from_bottom;
    main_.stack_size = from_size;
  }
#endif
}

void JoinHandle::join() {
  if (done()) return;
  Scheduler* s = cb_->sched;
  ControlBlock* self = s->running();
  if (!self)
    throw std::logic_error("cmbench::fiber::JoinHandle::join() must be called from a fiber");
  if (self == cb_) throw std::logic_error("cmbench::fiber: a fiber cannot join itself");
  cb_->joiners.push(self);
  try {
    s->park();
  } catch (...) {
    cb_->joiners.remove(self);
    throw;
  }
}

}  // namespace cmbench::fiber
