#pragma once
// Fiber stacks and the control block that lives at the top of each one.
//
// Stacks are carved out of large mappings ("slabs"), not mapped one by one:
// a million fibers must not cost a million mmap() calls, and — the hard
// limit — every mapping and every guard page is a memory mapping the kernel
// counts against vm.max_map_count (65,530 by default). A guard page inside a
// slab splits it, so each guarded stack costs about two mappings, and
// guarding every stack would stop a process near 32,000 fibers. So:
//   - the first `guard_budget()` stacks (a quarter of vm.max_map_count, read
//     when the pool is made: 16,382 by default, about half the mapping budget,
//     leaving the rest to the program) each get a PROT_NONE guard page below
//     them: an overflow dies at once with SIGSEGV;
//   - stacks beyond the budget have no guard page. The 256 bytes just below
//     such a stack are a canary instead, which the scheduler checks every
//     time it switches away from a fiber (canary_intact()), together with
//     the fiber's stack pointer at that moment (which must stay 256 bytes
//     above the bottom); a fiber that has written there has overflowed, and
//     the runtime aborts with a message saying so instead of running on with
//     corrupted memory. The canary is the top of the slot beneath, above
//     that slot's control block (every slot keeps its top 256 bytes free for
//     it; below a slab's lowest slot one spare page holds it). That page is
//     resident anyway: slots are carved bottom up, so the slot beneath was
//     carved first and its control block written there. Reading the canary
//     therefore costs no page fault, where a canary in the stack's own
//     lowest page, never otherwise touched, cost one (the zero page mapped
//     in) per stack: a million of them in spawn at 1,000,000. The canary
//     value is zero, what a fresh anonymous page holds, so that it costs no
//     write. 256 bytes, because a call chain whose frames are each at most
//     that big cannot pass the canary without pushing a return address into
//     it. What a canary cannot see: an overflow that writes only zeros
//     there, a frame bigger than 256 bytes that skips it entirely, and
//     corruption done between the overflow and the next switch — the guard
//     pages are the strong protection, the canary the affordable one.
// Slabs are mapped with MAP_NORESERVE and grow geometrically (64 stacks, then
// twice as many each time, up to 4,096), and a slot is only touched when it is
// first handed out: its control block at the top of the stack is the one page
// a fresh fiber makes resident (Boost.Context's record and the fiber's first
// frames sit just below it, in the same page when they are small).
//
// A finished fiber's stack goes back to a LIFO free list (its top page is
// likely still in cache) and the next spawn() takes it from there without a
// system call. Guarded stacks have a free list of their own, served first:
// whenever fewer fibers are alive than the guard budget, they all run on
// guarded stacks, the stronger protection, and their switches read no canary
// (skynet's live count rises and falls: its fibers mostly reuse stacks). Slabs are unmapped when the pool is destroyed.
#include <boost/context/fiber.hpp>
#include <boost/context/preallocated.hpp>
#include <boost/context/stack_context.hpp>

#include <cstddef>
#include <atomic>
#include <cstdint>
#include <vector>

#include "models/fiber/intrusive.hpp"
#include "models/fiber/spinlock.hpp"

namespace cmbench::fiber {

class Scheduler;

// What the runtime knows about one fiber. It is constructed once per stack
// slot, at the stack's top, and reused by every fiber that runs on that
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
  // The pool's free list.
  ControlBlock* free_next = nullptr;
  Scheduler* sched = nullptr;
  IntrusiveQueue<ControlBlock> joiners;
  // Guards `joiners` and the end of `generation` when the scheduler runs on
  // several threads (a join and the fiber's finish may race).
  SpinLock join_lock;
  // Atomic for JoinHandle::done() on another thread; written by finish()
  // alone (a load and a store, no read-modify-write).
  std::atomic<uint64_t> generation{0};
  // Set by shutdown: the fiber's next park or yield throws FiberCancelled.
  bool cancelled = false;
  // The stack has a guard page below it (else only the canary protects it).
  bool guarded = false;
  // The usable stack [bottom, bottom + size): for the canary check and for
  // AddressSanitizer's fiber-switch annotations.
  const void* stack_bottom = nullptr;
  std::size_t stack_size = 0;
  void* asan_fake_stack = nullptr;
#if defined(__SANITIZE_THREAD__)
  // ThreadSanitizer's context for the fiber running on this stack (only in
  // a TSan build: the scheduler creates it at the first switch to the fiber
  // and destroys it once the fiber has finished).
  void* tsan_fiber = nullptr;
#endif
};

class StackPool {
 public:
  // The bytes just below every unguarded stack (the top of the slot
  // beneath it) that must stay zero.
  static constexpr std::size_t kCanaryBytes = 256;

  // `stack_size` usable bytes per stack, rounded up to whole pages.
  explicit StackPool(std::size_t stack_size);
  ~StackPool();
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;

  // A control block on a free stack, carving (and mapping) a new one when
  // none is free. Throws LimitError (ENOMEM: memory or vm.max_map_count) or
  // SystemError.
  ControlBlock* acquire();
  // Returns a finished fiber's stack to the free list.
  void release(ControlBlock* cb) noexcept;

  // False when the fiber on `cb` has written into its stack's canary.
  static bool canary_intact(const ControlBlock* cb) noexcept;

  // Where Boost.Context may build the fiber on `cb`'s stack: everything below
  // the control block.
  boost::context::preallocated preallocated(ControlBlock* cb) const noexcept;
  ControlBlock* from_stack(const boost::context::stack_context& sctx) const noexcept;

  std::size_t stack_size() const noexcept { return size_; }
  std::size_t guard_size() const noexcept { return page_; }
  // Stacks carved so far (each is either free or in use by a live fiber).
  std::size_t mapped() const noexcept { return carved_; }
  std::size_t free_count() const noexcept { return free_; }
  // How many stacks get a guard page; the rest rely on the canary.
  std::size_t guard_budget() const noexcept { return guard_budget_; }
  std::size_t guarded() const noexcept { return guarded_; }
  std::size_t slabs() const noexcept { return slabs_.size(); }
  // Several threads acquire and release from now on (the M:N mode): take
  // the pool's lock. Off, the pool is the one thread's and takes no lock.
  void set_shared(bool shared) noexcept { shared_ = shared; }

 private:
  struct Slab {
    char* base;
    std::size_t bytes;
    std::size_t slot_bytes;  // stack plus its guard page, if any
    std::size_t slots;
    std::size_t carved;
    bool guarded;
  };
  ControlBlock* carve();
  void map_slab();
  char* bottom_of(const Slab& slab, std::size_t slot) const noexcept;

  std::size_t page_;
  std::size_t size_;
  std::size_t guard_budget_;
  std::size_t carved_ = 0;
  std::size_t guarded_ = 0;
  std::size_t free_ = 0;
  std::size_t next_slab_slots_ = 64;
  ControlBlock* free_guarded_ = nullptr;    // LIFO, served first
  ControlBlock* free_unguarded_ = nullptr;  // LIFO
  std::vector<Slab> slabs_;
  bool shared_ = false;
  SpinLock lock_;
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
