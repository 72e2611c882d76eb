#pragma once
// Fiber control blocks and stacks.
//
// A fiber's control block (what the scheduler, the wait queues and its
// JoinHandles know of it) and its stack are two things, handed out at two
// moments: spawn() takes a control block and stores the fiber's function in
// it; the stack is attached when the fiber first runs, and both go back to
// the pool when it finishes. A fiber that is queued but has not started
// therefore costs a control block (192 bytes) and no stack page: in skynet
// at 1,000,000 leaves, Go's run-queue order keeps 69,132 fibers alive at the
// peak, but only 10,663 stacks are ever touched (the notes stacks_mapped
// and stacks_touched) — and the first touch of a stack page is a page fault
// that costs more than everything else a skynet fiber does (about 2 us on
// the 2-core VM the suite was tuned on). Go allocates the stack in newproc,
// at spawn.
//
// Spawn still reserves the stack: it carves a slot (maps a slab, protects a
// guard page) whenever fewer slots are carved than fibers are alive, so that
// a fiber that cannot get a stack fails at spawn() with LimitError, where
// the caller can handle it, and starting a fiber cannot fail. Carving writes
// nothing into the slot: its pages become resident when the fiber runs.
//
// Stacks are carved out of large mappings ("slabs"), not mapped one by one:
// a million fibers must not cost a million mmap() calls, and — the hard
// limit — every mapping and every guard page is a memory mapping the kernel
// counts against vm.max_map_count (65,530 by default). A guard page that
// mprotect() makes splits its slab, so each guarded stack costs about two
// mappings, and guarding every stack so would stop a process near 32,000
// fibers. A kernel with lightweight guard regions (Linux 6.13) marks the
// guard page in the page table instead, with no mapping, for about a sixth
// of mprotect's time (Guards below), and the pool uses them where it can;
// the budget stays, because a guard still costs a system call per stack
// (about 0.3 us, a fifth of the first page fault it would add to), where
// a canary costs nothing. So:
//   - the first `guard_budget()` stacks (a quarter of vm.max_map_count, read
//     when the pool is made: 16,382 by default, about half the mapping budget,
//     leaving the rest to the program) each get a guard page below them (a
//     guard region or PROT_NONE): an overflow dies at once with SIGSEGV;
//   - stacks beyond the budget have no guard page. The 256 bytes just below
//     such a stack are a canary instead, which the scheduler checks every
//     time it switches away from a fiber (canary_intact()), together with
//     the fiber's stack pointer at that moment (which must stay 256 bytes
//     above the bottom); a fiber that has written there has overflowed, and
//     the runtime aborts with a message saying so instead of running on with
//     corrupted memory. The canary is the top of the slot beneath (every
//     slot keeps its top 256 bytes free for it; below a slab's lowest slot
//     one spare page holds it). That page is resident anyway: fresh slots
//     are handed out in the order they were carved, bottom up, so the slot
//     beneath started a fiber first, whose first frames are at its top.
//     Reading the canary therefore costs no page fault, where a canary in
//     the stack's own lowest page, never otherwise touched, cost one (the
//     zero page mapped in) per stack: a million of them in spawn at
//     1,000,000. The canary value is zero, what a fresh anonymous page
//     holds, so that it costs no write. 256 bytes, because a call chain
//     whose frames are each at most that big cannot pass the canary without
//     pushing a return address into it. What a canary cannot see: an
//     overflow that writes only zeros there, a frame bigger than 256 bytes
//     that skips it entirely, and corruption done between the overflow and
//     the next switch — the guard pages are the strong protection, the
//     canary the affordable one.
// Slabs are mapped with MAP_NORESERVE and grow geometrically (64 stacks, then
// twice as many each time, up to 4,096); a fiber's first frames (Boost.Context's
// record, the function's frame) make the top page of its stack resident, and
// most fibers touch no other.
//
// A finished fiber's stack goes back to a LIFO free list (its top page is
// resident and likely still in cache) and the next fiber to start takes it
// from there before any fresh slot, without a system call. Guarded stacks
// have a free list of their own, served first: whenever fewer fibers are
// running than the guard budget, they all run on guarded stacks, the
// stronger protection, and their switches read no canary. Control blocks
// come from arrays of them and go back to a free list; both are freed when
// the pool is destroyed.
#include <boost/context/fiber.hpp>
#include <boost/context/preallocated.hpp>
#include <boost/context/stack_context.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "models/fiber/intrusive.hpp"
#include "models/fiber/spinlock.hpp"
#include "models/stack_color.hpp"

namespace cmbench::fiber {

class Scheduler;

// What the runtime knows about one fiber, in three whole cache lines (the
// first holds what a switch and a wait queue touch). Control blocks are
// pooled and reused by later fibers; `generation` counts the fibers that
// finished on one, so a JoinHandle can tell "my fiber finished" from "a
// later fiber now uses this control block".
struct alignas(64) ControlBlock {
  // A function object up to this size (and no more aligned than a pointer
  // pair) is kept in the control block until the fiber starts; a bigger one
  // is allocated on the heap.
  static constexpr std::size_t kInlineFunction = 64;

  // The suspended fiber; empty before it started, while it runs and after
  // it finished.
  boost::context::fiber ctx;
  // The one wait queue the fiber is in: a mutex's waiters, a joined fiber's
  // joiners, or a channel's parked senders or receivers. Never two at once.
  ControlBlock* next = nullptr;
  // While the fiber is parked on a channel: its receive's result or its
  // send's record, on its own stack (channel.hpp).
  void* wait = nullptr;
  // The scheduler's list of live fibers, so shutdown can reach parked ones.
  ControlBlock* live_prev = nullptr;
  ControlBlock* live_next = nullptr;
  Scheduler* sched = nullptr;
  IntrusiveQueue<ControlBlock> joiners;
  // Guards `joiners` and the end of `generation` when the scheduler runs on
  // several threads (a join and the fiber's finish may race).
  SpinLock join_lock;
  // Set by shutdown: the fiber's next park or yield throws FiberCancelled.
  bool cancelled = false;
  // The stack has a guard page below it (else only the canary protects it).
  bool guarded = false;
  // How much lower than the top of its slot the stack starts
  // (StackPool::kColorStep), set with stack_bottom.
  uint16_t stack_color = 0;
  // Atomic for JoinHandle::done() on another thread; written by finish()
  // alone (a load and a store, no read-modify-write).
  std::atomic<uint64_t> generation{0};
  // The usable stack [bottom, bottom + size) once the fiber has started
  // (null before, except on a block from a worker's stock, StackPool::Cache,
  // which keeps the stack its last fiber ran on): for the canary check,
  // the prefetch of a parked fiber's frames and AddressSanitizer's
  // fiber-switch annotations.
  const void* stack_bottom = nullptr;
  std::size_t stack_size = 0;
  void* asan_fake_stack = nullptr;
#if defined(__SANITIZE_THREAD__)
  // ThreadSanitizer's context for the fiber (only in a TSan build: the
  // scheduler creates it at the first switch to the fiber and destroys it
  // once the fiber has finished).
  void* tsan_fiber = nullptr;
#endif
  // The fiber's function until it starts: run(cb, true) moves it onto the
  // fiber's stack, destroys the stored one and calls it; run(cb, false)
  // only destroys it (a fiber unwound before it started).
  void (*run)(ControlBlock*, bool call) = nullptr;
  alignas(16) unsigned char function[kInlineFunction];

  template <typename F>
  void store(F&& fn);

 private:
  template <typename Fn>
  static void run_inline(ControlBlock* cb, bool call);
  template <typename Fn>
  static void run_heap(ControlBlock* cb, bool call);
};

#if !defined(__SANITIZE_THREAD__)
static_assert(sizeof(ControlBlock) == 192, "a control block is three cache lines");
#endif

class StackPool {
 public:
  // The bytes just below every unguarded stack (the top of the slot
  // beneath it) that must stay zero.
  static constexpr std::size_t kCanaryBytes = 256;

  // How a guard page is protected:
  //   regions   a lightweight guard region (Linux 6.13's MADV_GUARD_INSTALL):
  //             a marker in the page table, so the slab stays one mapping;
  //   mprotect  mprotect(PROT_NONE), which splits the slab's mapping in three
  //             (the guard is a mapping of its own);
  //   automatic regions where the kernel has them, else mprotect.
  // An overflow into either dies with SIGSEGV. On the development VM, for
  // 16,000 stacks: 230-346 ns per guard page with a region against
  // 1.3-2.1 us with mprotect, whose thousands of small mappings also made
  // each stack's first page fault slower (1.5-1.7 us against 2.0-4.2 us).
  enum class Guards { automatic, regions, mprotect };
  // True when this kernel installs guard regions (probed once per process).
  static bool kernel_has_guard_regions() noexcept;

  // `stack_size` usable bytes per stack, rounded up to whole pages.
  explicit StackPool(std::size_t stack_size, Guards guards = Guards::automatic);
  ~StackPool();
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;

  // A free control block, with a stack reserved for it: a slot is carved
  // (and a slab mapped) when every carved one is taken or reserved. Throws
  // LimitError (ENOMEM: memory or vm.max_map_count) or SystemError.
  ControlBlock* acquire();
  // Gives `cb` its reserved stack: a finished fiber's, guarded ones first,
  // else the next fresh slot. Cannot fail.
  void attach_stack(ControlBlock* cb) noexcept;
  // Returns a control block and its stack (or its reservation, if it never
  // started) to the pool.
  void release(ControlBlock* cb) noexcept;

  // False when the fiber on `cb` has written into its stack's canary.
  static bool canary_intact(const ControlBlock* cb) noexcept;
  // Prefetches what resuming the parked fiber on `cb` reads first (nothing
  // if it has not started): the frames from its saved context up to the
  // stack's top (the first kPrefetchLines of them when it is parked
  // deeper) and, on an unguarded stack, the canary its next switch checks.
  // Resuming a million fibers whose stacks went cold, one after the other,
  // is otherwise a chain of cache misses each resume waits for.
  static void prefetch_resume(const ControlBlock* cb) noexcept;
  // Prefetches the lines of `cb` that prefetch_resume() reads.
  static void prefetch_control(const ControlBlock* cb) noexcept {
    __builtin_prefetch(cb, 0, 3);
    __builtin_prefetch(&cb->stack_size, 0, 3);
  }
  static constexpr std::size_t kPrefetchLines = 16;
  static constexpr std::size_t kCacheLine = 64;

  // Where Boost.Context may build the fiber on `cb`'s stack: all of it but
  // the slot's top kCanaryBytes (the canary of the stack above) and its
  // color.
  boost::context::preallocated preallocated(const ControlBlock* cb) const noexcept;

  // Stack coloring (models/stack_color.hpp): slot k of a slab starts lower
  // by (k % colors) steps (ControlBlock::stack_color), at most 1,792 bytes
  // for 16 KiB and up, so that a parked spawn fiber's 936 bytes of frames
  // stay within the top page.
  static constexpr std::size_t kColorStep = kStackColorStep;
  static constexpr std::size_t kMaxColors = kMaxStackColors;

  std::size_t stack_size() const noexcept { return size_; }
  std::size_t guard_size() const noexcept { return page_; }
  // Stack slots carved so far (each free, reserved or in use).
  std::size_t mapped() const noexcept { return carved_; }
  // Of those, the ones a fiber has ever run on: the slots whose top page
  // became resident.
  std::size_t touched() const noexcept { return touched_; }
  // Carved slots that no live fiber holds or has reserved.
  std::size_t free_count() const noexcept { return carved_ - in_use_ - reserved_; }
  // How many stacks get a guard page; the rest rely on the canary.
  std::size_t guard_budget() const noexcept { return guard_budget_; }
  // How guard pages are protected: Guards::regions or Guards::mprotect.
  Guards guards() const noexcept { return guards_; }
  std::size_t guarded() const noexcept { return guarded_; }
  std::size_t slabs() const noexcept { return slabs_.size(); }
  // Several threads acquire and release from now on (the M:N mode): take
  // the pool's lock. Off, the pool is the one thread's and takes no lock.
  void set_shared(bool shared) noexcept { shared_ = shared; }

  // M:N: one worker's stock of finished fibers' control blocks, each with
  // its stack still attached (Go's per-P free list of goroutines, p.gFree).
  // While it is bound to the worker's thread, acquire() and release() on
  // that thread take from and give to it without the pool's lock; it is
  // refilled from the free stacks and spilled back half at a time, under
  // the lock. A block taken from it has its stack already, so start() has
  // nothing to attach. Without it, every fiber's life took the pool's lock
  // three times, and skynet at threads:0 spent 45% of its samples in
  // acquire, attach_stack and release (perf record, 2 workers).
  struct Cache {
    static constexpr std::size_t kSize = 64;  // Go: 64 per P
    StackPool* pool = nullptr;
    std::size_t size = 0;
    std::array<ControlBlock*, kSize> blocks{};
  };
  // Makes `cache` this thread's stock for this pool.
  void bind_cache(Cache& cache) noexcept;
  // Gives back what `cache` holds and unbinds it from this thread.
  void unbind_cache(Cache& cache) noexcept;

 private:
  struct Slab {
    char* base;
    std::size_t bytes;
    std::size_t slot_bytes;  // stack plus its guard page, if any
    std::size_t slots;
    std::size_t carved;
    bool guarded;
  };
  Cache* my_cache() noexcept {
    Cache* c = tls_cache_;
    return c && c->pool == this ? c : nullptr;
  }
  void refill(Cache& cache) noexcept;
  // Under the lock: `cb`'s stack to its free list, `cb` to the free blocks.
  void free_locked(ControlBlock* cb) noexcept;
  static inline thread_local Cache* tls_cache_ = nullptr;

  void carve();
  void protect_guard(char* page);
  void map_slab();
  void grow_blocks();
  char* bottom_of(const Slab& slab, std::size_t slot) const noexcept;

  std::size_t page_;
  std::size_t size_;
  std::size_t colors_;
  std::size_t guard_budget_;
  Guards guards_;
  std::size_t carved_ = 0;
  std::size_t guarded_ = 0;
  std::size_t touched_ = 0;   // fresh slots handed out (slots [0, touched_) in carve order)
  std::size_t in_use_ = 0;    // stacks attached to live fibers (or held in a worker's stock)
  std::size_t reserved_ = 0;  // live fibers that have not started
  std::size_t next_slab_slots_ = 64;
  // The next fresh slot: slabs_[fresh_slab_], slot fresh_slot_.
  std::size_t fresh_slab_ = 0;
  std::size_t fresh_slot_ = 0;
  // Finished fibers' stacks (free_entry(): the bottom and the color), LIFO;
  // room for every carved slot is reserved when it is carved, so releasing
  // never allocates.
  std::vector<uintptr_t> free_guarded_;  // served first
  std::vector<uintptr_t> free_unguarded_;
  static uintptr_t free_entry(const ControlBlock* cb) noexcept;
  void take_free(ControlBlock* cb, std::vector<uintptr_t>& from) noexcept;
  std::vector<Slab> slabs_;
  // Control blocks: arrays of them, and the free ones (threaded through
  // `next`, which a free block does not otherwise use).
  std::vector<std::unique_ptr<ControlBlock[]>> blocks_;
  std::size_t next_blocks_ = 64;
  ControlBlock* free_blocks_ = nullptr;
  bool shared_ = false;
  SpinLock lock_;
};

// The StackAllocator Boost.Context keeps in each fiber's record. The stack
// was handed over through `preallocated`; deallocate() — which Boost calls
// once the fiber's function has returned, on the next fiber's context —
// gives the control block and the stack back to the pool.
class PoolStackAllocator {
 public:
  PoolStackAllocator(StackPool& pool, ControlBlock* cb) noexcept : pool_(&pool), cb_(cb) {}
  void deallocate(boost::context::stack_context&) noexcept { pool_->release(cb_); }

 private:
  StackPool* pool_;
  ControlBlock* cb_;
};

// ---------------------------------------------------------------------------

template <typename F>
void ControlBlock::store(F&& fn) {
  using Fn = std::decay_t<F>;
  if constexpr (sizeof(Fn) <= kInlineFunction && alignof(Fn) <= 16 &&
                std::is_nothrow_move_constructible_v<Fn>) {
    ::new (static_cast<void*>(function)) Fn(std::forward<F>(fn));
    run = &run_inline<Fn>;
  } else {
    Fn* heap = new Fn(std::forward<F>(fn));
    std::memcpy(function, &heap, sizeof heap);
    run = &run_heap<Fn>;
  }
}

// The function object is moved onto the calling frame — the fiber's stack —
// so that it is destroyed there, in the fiber, before the fiber finishes.
template <typename Fn>
void ControlBlock::run_inline(ControlBlock* cb, bool call) {
  Fn* stored = std::launder(reinterpret_cast<Fn*>(cb->function));
  if (!call) {
    stored->~Fn();
    return;
  }
  Fn body = std::move(*stored);
  stored->~Fn();
  body();
}

template <typename Fn>
void ControlBlock::run_heap(ControlBlock* cb, bool call) {
  Fn* raw = nullptr;
  std::memcpy(&raw, cb->function, sizeof raw);
  std::unique_ptr<Fn> stored(raw);
  if (!call) return;
  Fn body = std::move(*stored);
  stored.reset();
  body();
}

}  // namespace cmbench::fiber
