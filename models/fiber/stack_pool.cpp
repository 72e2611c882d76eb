#include "models/fiber/stack_pool.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <new>

#include "harness/errors.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace cmbench::fiber {

namespace {

std::size_t page_size() noexcept {
  long p = sysconf(_SC_PAGESIZE);
  return p > 0 ? static_cast<std::size_t>(p) : 4096;
}

std::size_t round_up(std::size_t n, std::size_t unit) noexcept {
  return (n + unit - 1) / unit * unit;
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

// The control block sits at the top of the stack, cache-line aligned, so that
// its place follows from the stack's bounds alone.
ControlBlock* block_at_top(char* top) noexcept {
  auto addr = (reinterpret_cast<std::uintptr_t>(top) - sizeof(ControlBlock)) &
              ~static_cast<std::uintptr_t>(63);
  return reinterpret_cast<ControlBlock*>(addr);
}

}  // namespace

StackPool::StackPool(std::size_t stack_size)
    : page_(page_size()), size_(round_up(stack_size < page_ ? page_ : stack_size, page_)) {}

StackPool::~StackPool() {
  ControlBlock* cb = mapped_list_;
  while (cb) {
    ControlBlock* next = cb->mapped_next;
    char* base = static_cast<char*>(const_cast<void*>(cb->stack_bottom)) - page_;
    unpoison(cb->stack_bottom, size_);
    cb->~ControlBlock();
    munmap(base, page_ + size_);
    cb = next;
  }
}

ControlBlock* StackPool::acquire() {
  if (ControlBlock* cb = free_list_) {
    free_list_ = cb->free_next;
    cb->free_next = nullptr;
    --free_;
    unpoison(cb->stack_bottom, preallocated(cb).size);
    return cb;
  }
  const std::size_t total = page_ + size_;
  void* mem = mmap(nullptr, total, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (mem == MAP_FAILED) throw_errno("mmap(fiber stack)");
  // The guard page is the lowest page: stacks grow down into it.
  if (mprotect(mem, page_, PROT_NONE) != 0) {
    int err = errno;
    munmap(mem, total);
    throw_errno("mprotect(fiber stack guard page)", err);
  }
  char* bottom = static_cast<char*>(mem) + page_;
  ControlBlock* cb = new (block_at_top(bottom + size_)) ControlBlock();
  cb->stack_bottom = bottom;
  cb->stack_size = size_;
  cb->mapped_next = mapped_list_;
  mapped_list_ = cb;
  ++mapped_;
  return cb;
}

void StackPool::release(ControlBlock* cb) noexcept {
  cb->free_next = free_list_;
  free_list_ = cb;
  ++free_;
}

// The stack Boost.Context sees is everything below the control block: its
// stack_context's sp is the control block's address and its size reaches
// down to the guard page. Boost then puts its own record (the fiber's
// function object) just below sp.
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
