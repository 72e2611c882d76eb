#pragma once
// blocking: B blocker units each make K calls that really block the calling
// OS thread, while P bystander pairs ping-pong beside them
// (workloads/common/bystanders.hpp). It puts a number on the notes' claim
// that "all of Go's system calls, synchronous I/O included, yield the CPU to
// other goroutines", and on what the other models do instead.
//
// The blocking call (blocking_call below, the same in every model; Go's is
// syscall.Nanosleep) is nanosleep(2) for delay_us, made through the system
// call itself: the kernel takes the calling thread off the CPU for that long,
// whatever runtime is on it. Never the runtime's own sleep (time.Sleep,
// this_fiber::sleep_until, a uv timer), which parks only the unit. The call
// is checked: one that returned before delay_us had passed did not block,
// and fails the run.
//
// How the call is made is the `offload` parameter:
//   inline  the unit calls it directly, as a newcomer to the model would;
//   pool    the model's idiomatic way to keep its scheduler free:
//     uv           uv_queue_work on libuv's threadpool (UV_THREADPOOL_SIZE
//                  threads, 4 unless the environment says otherwise: noted);
//     coro         asio::post of the call to an asio::thread_pool of
//                  kPoolThreads threads, the coroutine co_awaiting its result;
//     boost-fiber  kPoolThreads worker std::threads take calls from a queue
//                  and fulfil a boost::fibers::promise, the fiber waits on its
//                  future (parking only itself);
//     fiber        cmbench::fiber::offload(fn): the fiber parks while the
//                  runtime's small thread pool makes the call, as Go hands
//                  off its P when a goroutine enters a system call;
//     go           the same code as inline: the runtime already does it
//                  (a goroutine in a system call releases its P, and sysmon
//                  hands the P to another thread when the call lasts);
//     thread, process  blocking is their nature: the kernel runs the other
//                  units meanwhile; both values run the same code.
// Warm: what a model starts on demand to make blocking calls is started
// before the timed region, as in a server that has run for a while, so that
// the timed region holds the calls and not the threads' start (a thread's
// first run came 0.3 to 4.4 ms after the call that needed it on the 2-core
// VM, results/README.md). coro and boost-fiber make their pools of
// kPoolThreads threads then; uv runs one uv_queue_work that does nothing
// (libuv starts its whole threadpool at the first); fiber starts its
// offload pool's threads (start_offload_threads); go makes one call per
// blocker, all at once, so that the runtime has started the threads it
// hands blocked goroutines' Ps to (it keeps idle ones). Threads and
// processes have nothing to start: their units are the threads.
//
// kPoolThreads is libuv's default pool size, so that every pool in the suite
// has the same number of threads, and with blockers <= kPoolThreads every
// pool can make every blocker's call at once.
//
// A blocker makes its calls one after the other; between two calls a unit of
// a cooperative model yields to the others (the model's own yield: a unit
// that serves one request per call would park between requests; a unit that
// never yielded would starve every other unit however its call were made).
// Threads, processes and goroutines do not yield: their scheduler preempts.
// The bystanders run until the last blocker has made its last call.
//
// Reported: the bystanders' round-trip latency (the histogram: p50, p99,
// max) and throughput (bystander_round_trips_per_s), the blockers'
// throughput (blocking_calls_per_s; the operation is one blocking call),
// and the OS threads the cell used (os_threads_peak: the largest thread
// count of the cell process, /proc/self/stat, sampled after every blocking
// call and at the end of the timed region; for the process model, the tasks
// of the cell's process tree, counted once every unit exists).
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <span>
#include <string>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "workloads/common/bystanders.hpp"

namespace cmbench::blocking {

const WorkloadSpec& spec();

// The pool size of the models whose pool the suite sizes (coro,
// boost-fiber): libuv's default UV_THREADPOOL_SIZE.
inline constexpr unsigned kPoolThreads = 4;

// True for offload=pool.
bool pool_offload(const Params& params);

// The blocking call: nanosleep(2) of `delay_ns` through syscall(2),
// restarted for the remaining time if a signal interrupts it. Returns the
// nanoseconds it took on the monotonic clock.
int64_t blocking_call(int64_t delay_ns) noexcept;

// What a blocker tallies: calls made, and calls that returned before their
// delay had passed (so did not block).
struct Tally {
  uint64_t calls = 0;
  uint64_t early = 0;
};

// Records one call that took `took_ns` of a `delay_ns` call.
inline void called(Tally& t, int64_t took_ns, int64_t delay_ns) noexcept {
  ++t.calls;
  if (took_ns < delay_ns) ++t.early;
}

// The delay of one call, in nanoseconds.
inline int64_t delay_ns(const Params& params) { return static_cast<int64_t>(params.u("delay_us")) * 1000; }

// The largest thread count seen. sample() reads this process's thread count
// (/proc/self/stat, field num_threads: one open, read and close) and keeps
// the maximum; any thread may call it.
class ThreadPeak {
 public:
  void sample() noexcept;
  void observe(uint64_t n) noexcept;
  uint64_t peak() const noexcept { return peak_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> peak_{0};
};

// This process's thread count now; 0 if /proc cannot be read.
uint64_t threads_now() noexcept;
// The tasks (threads) of `root` and all its descendants now.
uint64_t tree_threads(pid_t root);

// After the timed region: blocker and bystander checks together.
Verdict verify(const Params& params, std::span<const Tally> blockers,
               std::span<const bystanders::Tally> pairs, std::span<const Histogram> hists);

// After probe.stop(): the workload's own metrics (blocking_calls_per_s,
// bystander_round_trips_per_s, os_threads_peak) and the notes every model
// shares.
void report(Probe& probe, const Params& params, std::span<const bystanders::Tally> pairs,
            uint64_t os_threads_peak, const std::string& how);

}  // namespace cmbench::blocking
