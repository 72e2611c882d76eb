#include "models/fiber/stack_pool.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <new>

#include "harness/errors.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace cmbench::fiber {

namespace {

constexpr std::size_t kMaxSlabSlots = 4096;

std::size_t page_size() noexcept {
  long p = sysconf(_SC_PAGESIZE);
  return p > 0 ? static_cast<std::size_t>(p) : 4096;
}

std::size_t round_up(std::size_t n, std::size_t unit) noexcept {
  return (n + unit - 1) / unit * unit;
}

// A quarter of vm.max_map_count: each guarded stack costs about two mappings
// (the guard and the stack it splits off), so the guards use about half of
// what the kernel allows and leave the rest to the program.
std::size_t read_guard_budget() {
  std::size_t max_map_count = 65530;
  std::ifstream in("/proc/sys/vm/max_map_count");
  if (in) in >> max_map_count;
  return max_map_count / 4;
}

// A stack handed to a new fiber, or back to the system, must carry no
// AddressSanitizer poison from the last fiber that ran on it: Boost.Context's
// entry frame never returns (it switches away for good), so its redzones
// would otherwise outlive it, even past munmap(), and trip whatever is mapped
// there next.
void unpoison([[maybe_unused]] const void* bottom, [[maybe_unused]] std::size_t size) noexcept {
#if defined(__SANITIZE_ADDRESS__)
  ASAN_UNPOISON_MEMORY_REGION(bottom, size);
#endif
}

// The control block sits at the top of the stack, below the slot's top
// kCanaryBytes (the canary of the slot above), cache-line aligned, so that its
// place follows from the stack's bounds alone.
ControlBlock* block_at_top(char* top) noexcept {
  auto addr = (reinterpret_cast<std::uintptr_t>(top) - StackPool::kCanaryBytes -
               sizeof(ControlBlock)) &
              ~static_cast<std::uintptr_t>(63);
  return reinterpret_cast<ControlBlock*>(addr);
}

}  // namespace

StackPool::StackPool(std::size_t stack_size)
    : page_(page_size()),
      size_(round_up(stack_size < page_ ? page_ : stack_size, page_)),
      guard_budget_(read_guard_budget()) {}

StackPool::~StackPool() {
  for (const Slab& slab : slabs_) {
    for (std::size_t i = 0; i < slab.carved; ++i) {
      char* bottom = bottom_of(slab, i);
      unpoison(bottom, size_);
      block_at_top(bottom + size_)->~ControlBlock();
    }
    munmap(slab.base, slab.bytes);
  }
}

ControlBlock* StackPool::acquire() {
  MaybeLock guard(lock_, shared_);
  ControlBlock*& list = free_guarded_ ? free_guarded_ : free_unguarded_;
  if (ControlBlock* cb = list) {
    list = cb->free_next;
    cb->free_next = nullptr;
    --free_;
    unpoison(cb->stack_bottom, preallocated(cb).size);
    return cb;
  }
  return carve();
}

void StackPool::release(ControlBlock* cb) noexcept {
  MaybeLock guard(lock_, shared_);
  ControlBlock*& list = cb->guarded ? free_guarded_ : free_unguarded_;
  cb->free_next = list;
  list = cb;
  ++free_;
}

ControlBlock* StackPool::carve() {
  if (slabs_.empty() || slabs_.back().carved == slabs_.back().slots) map_slab();
  Slab& slab = slabs_.back();
  char* bottom = bottom_of(slab, slab.carved);
  if (slab.guarded) {
    // The guard page is the page below the stack: stacks grow down into it.
    // Protecting it splits the slab's mapping, which is what the budget pays.
    if (mprotect(bottom - page_, page_, PROT_NONE) != 0) throw_errno("mprotect(fiber stack guard page)");
    ++guarded_;
  }
  ++slab.carved;
  ++carved_;
  ControlBlock* cb = new (block_at_top(bottom + size_)) ControlBlock();
  cb->stack_bottom = bottom;
  cb->stack_size = size_;
  cb->guarded = slab.guarded;
  return cb;
}

// Maps the next slab: guarded while the guard budget lasts (and never more
// guarded slots than the budget has left), unguarded after.
void StackPool::map_slab() {
  if (slabs_.capacity() == slabs_.size()) slabs_.reserve(std::max<std::size_t>(16, 2 * slabs_.size()));
  const std::size_t guards_left = guard_budget_ - std::min(guard_budget_, guarded_);
  const bool guarded = guards_left > 0;
  std::size_t slots = next_slab_slots_;
  if (guarded) slots = std::min(slots, guards_left);
  next_slab_slots_ = std::min(kMaxSlabSlots, next_slab_slots_ * 2);
  const std::size_t slot_bytes = size_ + (guarded ? page_ : 0);
  // One page below the first slot: its guard page, or for an unguarded slab
  // the page whose top holds the first slot's canary.
  const std::size_t bytes = page_ + slots * slot_bytes - (guarded ? page_ : 0);
  // MAP_NORESERVE: a stack's pages are committed only as the fiber touches
  // them, so reserving a million 16 KiB stacks must not be refused as 16 GB
  // of commitment.
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (mem == MAP_FAILED) throw_errno("mmap(fiber stack slab)");
  slabs_.push_back(Slab{static_cast<char*>(mem), bytes, slot_bytes, slots, 0, guarded});
}

char* StackPool::bottom_of(const Slab& slab, std::size_t slot) const noexcept {
  return slab.base + page_ + slot * slab.slot_bytes;
}

// Reads the canary line without AddressSanitizer's checks: it is stack memory
// below every live frame, which ASan may have left poisoned.
__attribute__((no_sanitize_address)) bool StackPool::canary_intact(const ControlBlock* cb) noexcept {
  const auto* words = reinterpret_cast<const uint64_t*>(
      static_cast<const char*>(cb->stack_bottom) - kCanaryBytes);
  uint64_t any = 0;
  for (std::size_t i = 0; i < kCanaryBytes / sizeof(uint64_t); ++i) any |= words[i];
  return any == 0;
}

// The stack Boost.Context sees is everything below the control block: its
// stack_context's sp is the control block's address and its size reaches
// down to the bottom of the stack (the canary included: it is the part of
// the stack a fiber must never reach). Boost then puts its own record (the
// fiber's function object) just below sp.
boost::context::preallocated StackPool::preallocated(ControlBlock* cb) const noexcept {
  boost::context::stack_context sctx;
  sctx.sp = cb;
  sctx.size = static_cast<std::size_t>(reinterpret_cast<char*>(cb) -
                                       static_cast<const char*>(cb->stack_bottom));
  return boost::context::preallocated(sctx.sp, sctx.size, sctx);
}

ControlBlock* StackPool::from_stack(const boost::context::stack_context& sctx) const noexcept {
  char* bottom = static_cast<char*>(sctx.sp) - sctx.size;
  return block_at_top(bottom + size_);
}

boost::context::stack_context PoolStackAllocator::allocate() {
  return pool_->preallocated(pool_->acquire()).sctx;
}

}  // namespace cmbench::fiber
