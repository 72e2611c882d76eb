// spawn in the thread model: N std::threads, each announces that it is
// parked and then blocks on one shared release latch; once all N have
// announced, the creator releases them all at once and joins every one.
//
// Why std::latch for both the announcement and the release: it is the C++20
// primitive for exactly "wait until N things happened" and "wait until one
// thing happened". The release is one count_down() that wakes every waiter
// with a single futex wake-all, and no waiter has to re-acquire a mutex on
// the way out, as it would after condition_variable::notify_all(), where N
// threads queue for one mutex. The price is the primitive's own: libstdc++'s
// latch wait spins briefly before it blocks on the futex (12 pause
// instructions, then 4 sched_yield() calls), which shows up as involuntary
// context switches while the threads park. Measured with 10,000 threads, a
// mutex + condition variable park costs about the same in total: cheaper to
// park (no yields), dearer to release (the mutex queue).
//
// The stack of each thread is what std::thread gives (models/thread/stack.hpp):
// glibc's default, the RLIMIT_STACK soft limit (8 MiB of address space
// here), mapped lazily, plus one guard page. It is deliberately not changed:
// that is what a thread costs a program that does not tune it. Only the
// touched pages are resident, which is what memory per unit shows; the size
// is recorded in the notes.
//
// Where the kernel stops: every thread takes a PID out of pid_max (32,768
// here, shared with every process on the machine), and every stack costs
// two memory mappings (the stack and its guard page) out of vm.max_map_count
// (65,530), so creation fails with EAGAIN a little under 32,768 threads,
// whichever of the two runs out first. std::thread reports it as
// std::system_error; the threads made so far are released and joined, and
// the cell ends with a LimitError naming the count reached.
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <latch>
#include <new>
#include <system_error>
#include <thread>
#include <vector>

#include "harness/cell/errors.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/thread/stack.hpp"
#include "workloads/spawn/spec.hpp"

namespace cmbench::spawn {
namespace {

// The N threads and the two latches they use. The destructor releases and
// joins whatever exists, so no exit path — a failed creation included —
// leaves a thread running or blocked on a latch that is about to be
// destroyed.
class Crew {
 public:
  explicit Crew(uint64_t n) : parked_latch_(static_cast<std::ptrdiff_t>(n)) {
    // Reserved before the timed region, so the loop allocates nothing but
    // the threads themselves.
    threads_.reserve(n);
  }
  Crew(const Crew&) = delete;
  Crew& operator=(const Crew&) = delete;
  ~Crew() {
    release();
    join();
  }

  // Creates one thread that announces itself and parks. Returns 0, or the
  // errno of a failed creation (the thread was not created).
  int add() {
    try {
      threads_.emplace_back([this] {
        // Relaxed: the counts are read only after the threads are joined,
        // and join() orders everything a thread did before the read.
        parked_.fetch_add(1, std::memory_order_relaxed);
        parked_latch_.count_down();
        release_.wait();
        finished_.fetch_add(1, std::memory_order_relaxed);
      });
      return 0;
    } catch (const std::system_error& e) {
      return e.code().value();
    } catch (const std::bad_alloc&) {
      return ENOMEM;
    }
  }

  // Blocks until every one of the n threads has announced it is parked.
  void wait_parked() { parked_latch_.wait(); }

  // Wakes every parked thread; harmless to call twice.
  void release() {
    if (!released_) {
      released_ = true;
      release_.count_down();
    }
  }

  void join() {
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

  uint64_t size() const noexcept { return threads_.size(); }
  uint64_t parked() const noexcept { return parked_.load(std::memory_order_relaxed); }
  uint64_t finished() const noexcept { return finished_.load(std::memory_order_relaxed); }

 private:
  std::latch parked_latch_;
  std::latch release_{1};
  bool released_ = false;
  std::atomic<uint64_t> parked_{0};
  std::atomic<uint64_t> finished_{0};
  // Declared last, so that, were the destructor's joins ever skipped, no
  // thread could outlive the latches and counters it uses.
  std::vector<std::thread> threads_;
};

void run(const Params& p, Probe& probe) {
  const uint64_t n = p.u("units");
  Crew crew(n);

  probe.memory_baseline();
  probe.start();
  for (uint64_t i = 0; i < n; ++i) {
    if (const int err = crew.add(); err != 0) {
      const uint64_t reached = crew.size();
      crew.release();
      crew.join();
      probe.note("reached", reached);
      const std::string what =
          limit_message(p, reached, "std::thread (pthread_create)", err);
      if (is_limit_errno(err)) throw LimitError(what, err);
      throw SystemError(what, err);
    }
  }
  crew.wait_parked();
  probe.memory_parked(n);
  crew.release();
  crew.join();
  probe.stop();

  probe.verify(verify(p, crew.parked(), crew.finished()));
  probe.note("threads", n);
  probe.note("park",
             "each thread counts down a std::latch(N) to announce itself, then waits on a shared "
             "std::latch(1); the creator waits for the first, then releases all with one "
             "count_down (one futex wake-all); libstdc++'s latch wait spins 12 pauses and 4 "
             "sched_yield() calls before blocking on the futex");
  probe.note("stack_bytes", models::thread::default_stack_bytes());
  probe.note("stack",
             "std::thread's default (glibc: the RLIMIT_STACK soft limit of address space per "
             "thread plus a guard page, resident only as touched); not changed");
}

}  // namespace
}  // namespace cmbench::spawn

CMBENCH_IMPL(spawn, thread, ::cmbench::spawn::run, nullptr)
