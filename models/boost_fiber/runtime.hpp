#pragma once
// The boost-fiber model's shared pieces: Boost.Fiber (round_robin on one
// thread) used the way its documentation and examples use it. Everything here
// is Boost.Fiber's own primitives; this header only answers the two traps the
// suite meets with them:
//
// 1. Stacks. Boost.Fiber's default stack allocator gives every fiber 128 KiB
//    of malloc'd memory, and a fiber needs more than 8 KiB: measured with a
//    stack painted before use, a fiber that does nothing reaches 5.9 KiB
//    (Boost.Fiber keeps its context object and Boost.Context's record at the
//    top of the fiber's own stack, and its start and termination path through
//    the scheduler is deep) and the suite's fibers reach 9.2 KiB (prodcons,
//    pingpong, counter; echo's Asio calls 7 KiB). Every workload therefore
//    creates its fibers with boost::fibers::pooled_fixedsize_stack of
//    `stack_size` bytes (the model parameter, default 16 KiB, at least
//    12 KiB): Boost.Pool hands out fixed-size stacks carved from large
//    malloc'd blocks and takes them back when a fiber ends, the idiomatic
//    choice for a million fibers. It has no guard page (a guard page costs one
//    memory mapping each and vm.max_map_count stops near 32,000 of them), so
//    an overflow is not caught, hence the margin. Blocks grow geometrically
//    from kFirstBlock stacks up to kStacksPerBlock, never beyond, so no single
//    allocation is larger than kStacksPerBlock chunks. The stacks are colored
//    (models/stack_color.hpp says why): a chunk is stack_size plus one color
//    step, 256 bytes, and a fiber gets all of it, so each stack's top lies
//    256 bytes further along its page than the one before (16 offsets for
//    any stack size that is a whole number of pages). The fiber model's pool
//    gets there differently, by lowering the top of page-sized slots, because
//    its slots must stay whole pages for their guard pages. Memory: a parked
//    fiber touches its top page and its chunk's lowest one, which Boost.Pool
//    writes when it threads its free list through every chunk of a new
//    block. Chunks are no longer a whole number of pages, so a chunk's top
//    frames and the next chunk's lowest word sometimes share a page.
//
// 2. Capacity. boost::fibers::buffered_channel<T>(n) accepts only a power of
//    two n >= 2 and holds n - 1 values (one slot tells full from empty).
//    ExactChannel maps the suite's capacity B exactly: B + 1 a power of two
//    -> buffered_channel(B + 1) alone; any other B -> buffered_channel of the
//    next power of two above B (room for at least B) plus a counting
//    semaphore of B credits (Credits: an atomic count, and a
//    boost::fibers::mutex and condition_variable to park on): a sender
//    takes a credit before push() and a receiver gives one back after pop(),
//    so at most B values are sent and not yet received, and push() itself
//    never finds the buffer full.
//    B = 0 is boost::fibers::unbuffered_channel (a rendezvous: push() returns
//    only once a receiver has taken the value), used directly by the
//    workloads.
//
// 3. Threads (the model's `threads` parameter). With 1, the default, every
//    fiber runs on the cell's thread under round_robin. With N > 1 the
//    fibers run on N threads under Boost.Fiber's work_stealing algorithm, as
//    its documentation and its work_stealing example set it up (WorkStealing
//    below): every one of the N threads installs work_stealing(N), they meet
//    at a barrier before any fiber runs, the N - 1 helper threads then wait
//    on a fibers::condition_variable until the work is done (their
//    schedulers meanwhile run the fibers they steal), and the fibers'
//    channels and mutexes are Boost.Fiber's, which are safe across threads.
//    work_stealing's idle threads do not sleep (its `suspend` flag off, as in
//    the example: a suspended thread is woken only for a fiber readied from
//    another thread, never to steal, so it would stay asleep while others
//    have work), so a worker without work spins looking for some: on an
//    oversubscribed machine that costs the busy ones CPU, which the scaling
//    rows show. The pooled stacks are then shared by several threads, and
//    Boost.Pool is not thread-safe: StackAllocator takes a lock around it.
//    work_stealing keeps its scheduler table in static storage sized once
//    per process (std::call_once), so WorkStealing can be set up once per
//    process: a cell is a process. A workload honours threads > 1 where
//    everything its fibers share is a Boost.Fiber primitive, guarded by one,
//    atomic, or read only after the joins: prodcons and skynet (the
//    core-scaling preset's), counter and pingpong; the others refuse it
//    (one_thread_only) until their shared state is made safe.
#include <boost/fiber/all.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "harness/cell/errors.hpp"
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "models/stack_color.hpp"

namespace cmbench::boost_fiber {

namespace fibers = boost::fibers;

// The largest block Boost.Pool allocates for stacks, in stacks.
inline constexpr std::size_t kStacksPerBlock = 1024;
// The first block, in stacks (Boost.Pool doubles it for every new block).
inline constexpr std::size_t kFirstBlock = 64;

// The suite's stack allocator: pooled_fixedsize_stack (header comment, 1) of
// chunks one color step longer than stack_size, behind a lock when fibers
// run on several threads (3). Copies share the pool and the lock, as
// pooled_fixedsize_stack's copies share their pool.
class StackAllocator {
 public:
  StackAllocator(uint64_t stack_size, bool shared)
      : pool_(static_cast<std::size_t>(stack_size) + kStackColorStep, kFirstBlock, kStacksPerBlock),
        lock_(shared ? std::make_shared<std::mutex>() : nullptr) {}
  boost::context::stack_context allocate() {
    if (!lock_) return pool_.allocate();
    std::lock_guard guard(*lock_);
    return pool_.allocate();
  }
  void deallocate(boost::context::stack_context& sc) noexcept {
    if (!lock_) return pool_.deallocate(sc);
    std::lock_guard guard(*lock_);
    pool_.deallocate(sc);
  }

 private:
  fibers::pooled_fixedsize_stack pool_;
  std::shared_ptr<std::mutex> lock_;
};

inline StackAllocator stack_allocator(uint64_t stack_size, unsigned threads = 1) {
  return StackAllocator(stack_size, threads > 1);
}

// The model's `threads` parameter (0: one per core); 1 when the cell has no
// such parameter.
inline unsigned threads_of(const Params& params) {
  if (!params.has("threads")) return 1;
  const auto n = static_cast<unsigned>(params.u("threads"));
  if (n != 0) return n;
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : cores;
}

// Runs the calling thread's fibers, and those they create, on `threads`
// threads under work_stealing (header comment, 3) from construction to
// destruction; with threads <= 1 it does nothing. Construct it before the
// first fiber, join every fiber before it is destroyed. The destructor
// releases and joins the helper threads and puts round_robin back on this
// thread. Throws SystemError when work_stealing was set up before in this
// process, LimitError when a helper thread cannot be created.
class WorkStealing {
 public:
  explicit WorkStealing(unsigned threads) : threads_(threads) {
    if (threads_ <= 1) return;
    static std::atomic<bool> used{false};
    if (used.exchange(true))
      throw SystemError("boost-fiber: work_stealing can be set up once per process (its scheduler table "
                        "is static), and it was already",
                        0);
    ready_.emplace(threads_);
    helpers_.reserve(threads_ - 1);
    for (unsigned i = 1; i < threads_; ++i) {
      try {
        helpers_.emplace_back([this] {
          fibers::use_scheduling_algorithm<fibers::algo::work_stealing>(threads_);
          ready_->arrive_and_wait();
          std::unique_lock<fibers::mutex> lock(mutex_);
          done_cv_.wait(lock, [this] { return done_; });
        });
      } catch (const std::system_error& e) {
        // The helpers made so far wait at the barrier for threads that will
        // never come: they cannot be released, so the process must end.
        throw_errno("std::thread (work_stealing helper)", e.code().value());
      }
    }
    fibers::use_scheduling_algorithm<fibers::algo::work_stealing>(threads_);
    ready_->arrive_and_wait();
  }
  WorkStealing(const WorkStealing&) = delete;
  WorkStealing& operator=(const WorkStealing&) = delete;
  ~WorkStealing() {
    if (threads_ <= 1) return;
    {
      std::unique_lock<fibers::mutex> lock(mutex_);
      done_ = true;
    }
    done_cv_.notify_all();
    for (std::thread& t : helpers_) t.join();
    fibers::use_scheduling_algorithm<fibers::algo::round_robin>();
  }

 private:
  unsigned threads_;
  std::optional<std::latch> ready_;
  fibers::mutex mutex_;
  fibers::condition_variable done_cv_;
  bool done_ = false;
  std::vector<std::thread> helpers_;
};

// The unsupported() of a workload written for one thread only.
inline std::optional<std::string> one_thread_only(const Params& params, const char* shares) {
  if (threads_of(params) == 1) return std::nullopt;
  return fmt::format(
      "parameter 'threads': the boost-fiber model runs this workload on one thread only: its fibers share {} "
      "unguarded (models/boost_fiber/runtime.hpp, 3); accepted: threads=1 (prodcons, skynet, counter and "
      "pingpong take more)",
      shares);
}

// The smallest power of two >= n (n >= 1).
constexpr uint64_t next_pow2(uint64_t n) {
  uint64_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

// The buffered_channel capacity ExactChannel uses for B >= 1 (at least 2, a
// power of two, holding at least B values), and whether credits are needed
// on top of it to hold exactly B.
constexpr uint64_t buffered_capacity_for(uint64_t b) { return next_pow2(b + 1) < 2 ? 2 : next_pow2(b + 1); }
constexpr bool needs_credits(uint64_t b) { return buffered_capacity_for(b) - 1 != b; }

// A counting semaphore in Boost.Fiber's primitives (it has none of its own),
// in the "benaphore" shape so that a credit costs one atomic operation while
// any is free: `count_` is the free credits minus the fibers waiting for one.
// Only a fiber that finds none parks, on a boost::fibers::condition_variable
// (with its fibers::mutex), the pattern Boost.Fiber's documentation uses;
// only a release that finds a waiter takes the mutex to hand its credit over.
// Measured on the default prodcons cell (B = 1024), a plain mutex + condition
// variable semaphore doubled the CPU time per message, which would have
// measured the semaphore rather than Boost.Fiber's channel.
class Credits {
 public:
  explicit Credits(uint64_t n) : count_(static_cast<int64_t>(n)) {}
  void acquire() {
    if (count_.fetch_sub(1, std::memory_order_acq_rel) > 0) return;
    std::unique_lock<fibers::mutex> lk(mutex_);
    cv_.wait(lk, [this] { return handed_ > 0; });
    --handed_;
  }
  void release() {
    if (count_.fetch_add(1, std::memory_order_acq_rel) >= 0) return;
    {
      std::unique_lock<fibers::mutex> lk(mutex_);
      ++handed_;
    }
    cv_.notify_one();
  }
  // Takes a credit if one is free, without parking.
  bool try_acquire() {
    int64_t c = count_.load(std::memory_order_relaxed);
    while (c > 0)
      if (count_.compare_exchange_weak(c, c - 1, std::memory_order_acq_rel)) return true;
    return false;
  }

 private:
  std::atomic<int64_t> count_;
  fibers::mutex mutex_;
  fibers::condition_variable cv_;
  uint64_t handed_ = 0;  // credits released to waiters, not yet taken
};

// A channel of exactly B >= 1 slots (see the header comment). push() parks
// while B values are in flight; pop() returns false once the channel is
// closed and drained.
template <typename T>
class ExactChannel {
 public:
  explicit ExactChannel(uint64_t b)
      : channel_(static_cast<std::size_t>(buffered_capacity_for(b))),
        exact_(!needs_credits(b)),
        credits_(b) {}

  fibers::channel_op_status push(const T& v) {
    if (!exact_) credits_.acquire();
    return channel_.push(v);
  }
  bool pop(T& v) {
    if (channel_.pop(v) != fibers::channel_op_status::success) return false;
    if (!exact_) credits_.release();
    return true;
  }
  void close() noexcept { channel_.close(); }
  // For the tests: a push that does not park (false when B are in flight).
  bool try_push(const T& v) {
    if (!exact_ && !credits_.try_acquire()) return false;
    if (channel_.try_push(v) == fibers::channel_op_status::success) return true;
    if (!exact_) credits_.release();
    return false;
  }
  bool uses_credits() const { return !exact_; }

  // How B maps onto Boost.Fiber, for probe.note().
  static std::string describe(uint64_t b) {
    const uint64_t cap = buffered_capacity_for(b);
    std::string s = "boost::fibers::buffered_channel(" + std::to_string(cap) + ") holds " +
                    std::to_string(cap - 1) + " values";
    if (needs_credits(b))
      s += "; a counting semaphore (an atomic count; fibers::mutex + condition_variable to park) of " + std::to_string(b) +
           " credits keeps exactly " + std::to_string(b) + " in flight";
    else
      s += " = capacity exactly";
    return s;
  }

 private:
  fibers::buffered_channel<T> channel_;
  bool exact_;
  Credits credits_;
};

// Before the timed region: creates this thread's Boost.Fiber scheduler (its
// main context, dispatcher fiber and round_robin), which Boost.Fiber does
// lazily on first use, so that the one-off set-up is not counted as the
// workload's (the fiber model likewise builds its Scheduler before start()),
// and records the notes every implementation shares.
inline void prepare(Probe& probe, uint64_t stack_size, unsigned threads = 1) {
  boost::this_fiber::yield();
  probe.note("scheduler",
             threads == 1 ? std::string("Boost.Fiber's round_robin (the default algorithm), one thread, "
                                        "cooperative; fibers are launched with launch::post (queued, not "
                                        "run at once)")
                          : "Boost.Fiber's work_stealing(" + std::to_string(threads) + ") on " +
                                std::to_string(threads) +
                                " threads (idle workers spin looking for fibers to steal), cooperative; "
                                "fibers are launched with launch::post");
  probe.note("threads", threads);
  probe.note("stack_size", stack_size);
  probe.note("stack_allocator",
             "boost::fibers::pooled_fixedsize_stack: Boost.Pool blocks of up to " +
                 std::to_string(kStacksPerBlock) + " stacks, reused when a fiber ends, colored as the fiber model's" +
                 (threads > 1 ? std::string(", behind a std::mutex (threads > 1)") : std::string()));
  probe.note("stack_protection", "none (no guard page)");
}

}  // namespace cmbench::boost_fiber
