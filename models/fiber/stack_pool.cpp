#include "models/fiber/stack_pool.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <new>

#include "harness/cell/errors.hpp"
#include "models/fiber/invariant.hpp"

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

// A quarter of vm.max_map_count: a guard that mprotect() makes costs about
// two mappings (the guard and the stack it splits off), so the guards use
// about half of what the kernel allows and leave the rest to the program.
// Guard regions cost no mapping; the same budget bounds their system calls.
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

// Linux 6.13's lightweight guard regions (include/uapi/asm-generic/mman-common.h);
// Debian 12's headers predate them.
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

}  // namespace

bool StackPool::kernel_has_guard_regions() noexcept {
  static const bool has = [] {
    const std::size_t page = page_size();
    void* p = mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return false;
    const bool ok = madvise(p, page, MADV_GUARD_INSTALL) == 0;  // EINVAL before 6.13
    munmap(p, page);
    return ok;
  }();
  return has;
}

StackPool::StackPool(std::size_t stack_size, Guards guards)
    : page_(page_size()),
      size_(round_up(stack_size < page_ ? page_ : stack_size, page_)),
      colors_(stack_colors(size_)),
      guard_budget_(read_guard_budget()),
      guards_(guards != Guards::automatic ? guards
              : kernel_has_guard_regions() ? Guards::regions
                                           : Guards::mprotect) {}

StackPool::~StackPool() {
  for (const Slab& slab : slabs_) {
    unpoison(slab.base, slab.bytes);
    munmap(slab.base, slab.bytes);
  }
}

// Not inlined (nor release()): they read the thread-local stock, and spawn()
// is inlined into fibers that, in M:N mode, may have moved to another thread
// since they last computed a thread-local's address.
[[gnu::noinline]] ControlBlock* StackPool::acquire() {
  if (shared_) {
    if (Cache* c = my_cache()) {
      if (c->size == 0) refill(*c);
      if (c->size > 0) return c->blocks[--c->size];
    }
  }
  MaybeLock guard(lock_, shared_);
  if (!free_blocks_) grow_blocks();
  if (in_use_ + reserved_ == carved_) carve();
  ControlBlock* cb = free_blocks_;
  free_blocks_ = cb->next;
  cb->next = nullptr;
  ++reserved_;
  return cb;
}

void StackPool::attach_stack(ControlBlock* cb) noexcept {
  MaybeLock guard(lock_, shared_);
  CMBENCH_FIBER_INVARIANT(reserved_ > 0, "a stack is attached only to a fiber that reserved one at spawn");
  --reserved_;
  ++in_use_;
  if (!free_guarded_.empty()) {
    take_free(cb, free_guarded_);
  } else if (!free_unguarded_.empty()) {
    take_free(cb, free_unguarded_);
  } else {
    // Fresh slots in the order they were carved (bottom up in each slab),
    // so that the slot beneath, whose top holds this one's canary, is
    // resident already.
    while (fresh_slot_ == slabs_[fresh_slab_].carved) {
      ++fresh_slab_;
      fresh_slot_ = 0;
      CMBENCH_FIBER_INVARIANT(fresh_slab_ < slabs_.size(),
                              "every reserved stack is a free or a fresh slot (in_use_ + reserved_ <= carved_)");
    }
    const Slab& slab = slabs_[fresh_slab_];
    // Slot k's color: k % colors (a mask: colors_ is a power of two).
    cb->stack_color = static_cast<uint16_t>((fresh_slot_ & (colors_ - 1)) * kColorStep);
    cb->stack_bottom = bottom_of(slab, fresh_slot_++);
    cb->stack_size = size_;
    cb->guarded = slab.guarded;
    ++touched_;
  }
}

// A free list's entry is the stack's bottom, which is page-aligned, with its
// color's index in the low bits: the color stays the slot's, and reading it
// back costs no division.
uintptr_t StackPool::free_entry(const ControlBlock* cb) noexcept {
  return reinterpret_cast<uintptr_t>(cb->stack_bottom) | cb->stack_color / kColorStep;
}

void StackPool::take_free(ControlBlock* cb, std::vector<uintptr_t>& from) noexcept {
  const uintptr_t entry = from.back();
  from.pop_back();
  cb->guarded = &from == &free_guarded_;
  cb->stack_bottom = reinterpret_cast<const void*>(entry & ~uintptr_t{kMaxColors - 1});
  cb->stack_size = size_;
  cb->stack_color = static_cast<uint16_t>((entry & (kMaxColors - 1)) * kColorStep);
}

[[gnu::noinline]] void StackPool::release(ControlBlock* cb) noexcept {
  if (cb->stack_bottom) {
    // A stack handed to the next fiber, or back to the system, must carry
    // no AddressSanitizer poison from this one (see unpoison()).
    unpoison(cb->stack_bottom, size_);
    if (shared_) {
      if (Cache* c = my_cache()) {
        if (c->size == Cache::kSize) {
          // Half back to the pool, the older half: the newer stacks are warmer.
          MaybeLock guard(lock_, true);
          for (std::size_t i = 0; i < Cache::kSize / 2; ++i) free_locked(c->blocks[i]);
          std::copy(c->blocks.begin() + Cache::kSize / 2, c->blocks.end(), c->blocks.begin());
          c->size -= Cache::kSize / 2;
        }
        cb->next = nullptr;
        c->blocks[c->size++] = cb;  // keeps its stack (in_use_ counts it)
        return;
      }
    }
    MaybeLock guard(lock_, shared_);
    free_locked(cb);
    return;
  }
  MaybeLock guard(lock_, shared_);
  --reserved_;
  cb->next = free_blocks_;
  free_blocks_ = cb;
}

void StackPool::free_locked(ControlBlock* cb) noexcept {
  (cb->guarded ? free_guarded_ : free_unguarded_).push_back(free_entry(cb));  // capacity reserved
  cb->stack_bottom = nullptr;
  cb->stack_size = 0;
  --in_use_;
  cb->next = free_blocks_;
  free_blocks_ = cb;
}

void StackPool::bind_cache(Cache& cache) noexcept {
  cache.pool = this;
  tls_cache_ = &cache;
}

void StackPool::unbind_cache(Cache& cache) noexcept {
  {
    MaybeLock guard(lock_, shared_);
    for (std::size_t i = 0; i < cache.size; ++i) free_locked(cache.blocks[i]);
    cache.size = 0;
  }
  if (tls_cache_ == &cache) tls_cache_ = nullptr;
}

// Up to half a cache of free blocks, each given a free stack now: only
// stacks that fibers have used (their pages resident already), never a
// fresh slot, which stays for attach_stack() to hand out when a fiber
// first runs. And only stacks that no fiber has reserved: every fiber
// spawned and not yet started counts on one (free_count() > 0), so taking
// theirs would leave attach_stack() without a slot to hand out.
void StackPool::refill(Cache& cache) noexcept {
  MaybeLock guard(lock_, true);
  while (cache.size < Cache::kSize / 2 && free_blocks_ && free_count() > 0 &&
         !(free_guarded_.empty() && free_unguarded_.empty())) {
    ControlBlock* cb = free_blocks_;
    free_blocks_ = cb->next;
    cb->next = nullptr;
    take_free(cb, free_guarded_.empty() ? free_unguarded_ : free_guarded_);
    ++in_use_;
    cache.blocks[cache.size++] = cb;
  }
}

// One more array of control blocks (64, then twice as many each time, up to
// 4,096), onto the free list.
void StackPool::grow_blocks() {
  const std::size_t n = next_blocks_;
  try {
    if (blocks_.capacity() == blocks_.size()) blocks_.reserve(std::max<std::size_t>(16, 2 * blocks_.size()));
    blocks_.push_back(std::make_unique<ControlBlock[]>(n));
  } catch (const std::bad_alloc&) {
    throw LimitError("cmbench::fiber: no memory for fiber control blocks", ENOMEM);
  }
  next_blocks_ = std::min(kMaxSlabSlots, 2 * n);
  ControlBlock* array = blocks_.back().get();
  for (std::size_t i = n; i-- > 0;) {
    array[i].next = free_blocks_;
    free_blocks_ = &array[i];
  }
}

// Carves the next slot: its guard page is protected if its slab is guarded;
// nothing is written into it.
void StackPool::carve() {
  if (slabs_.empty() || slabs_.back().carved == slabs_.back().slots) map_slab();
  Slab& slab = slabs_.back();
  std::vector<uintptr_t>& free_list = slab.guarded ? free_guarded_ : free_unguarded_;
  // Room for every slot of its kind on its free list.
  const std::size_t of_kind = (slab.guarded ? guarded_ : carved_ - guarded_) + 1;
  try {
    if (free_list.capacity() < of_kind)
      free_list.reserve(std::max<std::size_t>(64, 2 * free_list.capacity()));
  } catch (const std::bad_alloc&) {
    throw LimitError("cmbench::fiber: no memory for the stack free list", ENOMEM);
  }
  if (slab.guarded) {
    // The guard page is the page below the stack: stacks grow down into it.
    protect_guard(bottom_of(slab, slab.carved) - page_);
    ++guarded_;
  }
  ++slab.carved;
  ++carved_;
}

void StackPool::protect_guard(char* page) {
  if (guards_ == Guards::regions) {
    if (madvise(page, page_, MADV_GUARD_INSTALL) != 0)
      throw_errno("madvise(MADV_GUARD_INSTALL, fiber stack guard page)");
  } else if (mprotect(page, page_, PROT_NONE) != 0) {
    throw_errno("mprotect(fiber stack guard page)");
  }
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

void StackPool::prefetch_resume(const ControlBlock* cb) noexcept {
  // boost::context::fiber is its saved context's address (fcontext_t), the
  // parked fiber's stack pointer; empty (null) before it started.
  static_assert(sizeof(boost::context::fiber) == sizeof(const char*));
  const char* sp;
  std::memcpy(&sp, static_cast<const void*>(&cb->ctx), sizeof sp);
  if (!sp || !cb->stack_bottom) return;
  // Up to the top of its frames, where Boost.Context's record is: below
  // the canary of the slot above and the slot's color.
  const char* top = static_cast<const char*>(cb->stack_bottom) + cb->stack_size - kCanaryBytes - cb->stack_color;
  const char* end = std::min(top, sp + kPrefetchLines * kCacheLine);
  for (const char* line = sp; line < end; line += kCacheLine) __builtin_prefetch(line, 0, 3);
  if (!cb->guarded)
    for (std::size_t at = 0; at < kCanaryBytes; at += kCacheLine)
      __builtin_prefetch(static_cast<const char*>(cb->stack_bottom) - kCanaryBytes + at, 0, 3);
}

// The stack Boost.Context sees is the whole slot but its top kCanaryBytes
// (the canary of the stack above) and then its color (cb->stack_color
// bytes, see StackPool::kColorStep): its stack_context's sp is there, and its size
// reaches down to the bottom of the stack (the canary included: it is the
// part of the stack a fiber must never reach). Boost then puts its own
// record (the fiber's function object) just below sp.
boost::context::preallocated StackPool::preallocated(const ControlBlock* cb) const noexcept {
  boost::context::stack_context sctx;
  char* bottom = static_cast<char*>(const_cast<void*>(cb->stack_bottom));
  sctx.size = size_ - kCanaryBytes - cb->stack_color;
  sctx.sp = bottom + sctx.size;
  return boost::context::preallocated(sctx.sp, sctx.size, sctx);
}

}  // namespace cmbench::fiber
