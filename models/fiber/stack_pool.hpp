#pragma once
// Fiber stacks and the control block that lives at the top of each one.
//
// Every stack is one mmap() of `stack_size` bytes (rounded up to whole pages)
// plus one PROT_NONE guard page below it, so that a fiber overflowing its
// stack dies with a clean SIGSEGV instead of silently writing over a
// neighbour. Mapping and protecting pages are system calls, so a finished
// fiber's stack goes back to a free list and the next spawn() takes it from
// there: a program that keeps spawning short fibers maps only as many stacks
// as it ever had alive at once. Stacks are unmapped when the pool is
// destroyed.
//
// Each guarded stack costs two memory mappings (the guard and the stack), so
// vm.max_map_count (65,530 by default) caps a process at about 32,000 live
// fibers; mmap/mprotect then fail with ENOMEM, which surfaces as LimitError.
#include <boost/context/fiber.hpp>
#include <boost/context/preallocated.hpp>
#include <boost/context/stack_context.hpp>

#include <cstddef>
#include <cstdint>

#include "models/fiber/intrusive.hpp"

namespace cmbench::fiber {

class Scheduler;

// What the runtime knows about one fiber. It is constructed once per mapped
// stack, at the stack's top, and reused by every fiber that runs on that
// stack; `generation` counts the fibers that finished on it, so a JoinHandle
// can tell "my fiber finished" from "a later fiber now uses this stack".
struct ControlBlock {
  // The suspended fiber; empty while it runs and after it finished.
  boost::context::fiber ctx;
  // The one queue the fiber is in: the run queue, a mutex's waiters or a
  // joined fiber's joiners. Never two at once.
  ControlBlock* next = nullptr;
  // The scheduler's list of live fibers, so shutdown can reach parked ones.
  ControlBlock* live_prev = nullptr;
  ControlBlock* live_next = nullptr;
  // The pool's lists: every mapped stack, and the free ones.
  ControlBlock* mapped_next = nullptr;
  ControlBlock* free_next = nullptr;
  Scheduler* sched = nullptr;
  IntrusiveQueue<ControlBlock> joiners;
  uint64_t generation = 0;
  // Set by shutdown: the fiber's next park or yield throws FiberCancelled.
  bool cancelled = false;
  // The usable stack [bottom, bottom + size), for AddressSanitizer's
  // fiber-switch annotations.
  const void* stack_bottom = nullptr;
  std::size_t stack_size = 0;
  void* asan_fake_stack = nullptr;
};

class StackPool {
 public:
  // `stack_size` usable bytes per stack, rounded up to whole pages.
  explicit StackPool(std::size_t stack_size);
  ~StackPool();
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;

  // A control block on a free stack, mapping a new stack when none is free.
  // Throws LimitError (ENOMEM: memory or vm.max_map_count) or SystemError.
  ControlBlock* acquire();
  // Returns a finished fiber's stack to the free list.
  void release(ControlBlock* cb) noexcept;

  // Where Boost.Context may build the fiber on `cb`'s stack: everything below
  // the control block.
  boost::context::preallocated preallocated(ControlBlock* cb) const noexcept;
  ControlBlock* from_stack(const boost::context::stack_context& sctx) const noexcept;

  std::size_t stack_size() const noexcept { return size_; }
  std::size_t guard_size() const noexcept { return page_; }
  std::size_t mapped() const noexcept { return mapped_; }
  std::size_t free_count() const noexcept { return free_; }

 private:
  std::size_t page_;
  std::size_t size_;
  std::size_t mapped_ = 0;
  std::size_t free_ = 0;
  ControlBlock* mapped_list_ = nullptr;
  ControlBlock* free_list_ = nullptr;
};

// The StackAllocator Boost.Context keeps in each fiber's record: stacks come
// from the pool (already allocated and handed over through `preallocated`),
// and deallocate() — which Boost calls when the fiber's function returned —
// puts the stack back on the pool's free list instead of unmapping it.
class PoolStackAllocator {
 public:
  explicit PoolStackAllocator(StackPool& pool) noexcept : pool_(&pool) {}
  boost::context::stack_context allocate();
  void deallocate(boost::context::stack_context& sctx) noexcept {
    pool_->release(pool_->from_stack(sctx));
  }

 private:
  StackPool* pool_;
};

}  // namespace cmbench::fiber
