#pragma once
// fairness: H hog units compute, P bystander pairs ping-pong beside them
// (workloads/common/bystanders.hpp). It puts numbers on the notes' claim
// that coroutines "need no preemptive scheduling by the OS", and on its
// price: a unit that computes without yielding holds up every other unit of
// its thread. The kernel time-slices threads and processes; Go preempts a
// goroutine that has run for 10 ms (asynchronously, by signal, since Go
// 1.14); fibers, coroutines and callbacks run until they yield.
//
// The computation (work_unit below; Go's is hogUnit, the same steps) is a
// chain of kUnitSteps dependent 64-bit multiply-adds, the LCG
// x <- x * kLcgMul + kLcgInc (Knuth's MMIX constants): no compiler can
// shorten, vectorise or hoist it, each step waits for the previous one, so a
// unit costs the same cycles in C++ and in Go, and its result is checked
// after the run against the LCG's closed form (lcg_jump), so it cannot be
// skipped either. A hog's work is counted in units; work_ms and budget_ms
// are converted at kUnitsPerMs units per millisecond (work_units,
// budget_units), a fixed rate measured on the development VM, so every model
// does exactly the same work and the count is known in advance; the cell
// notes how long a unit took in it (unit_ns), so a reader on another machine
// can convert back.
//
// A hog computes budget_units(units) in all, publishing its count after
// every unit; with yield=slice it yields to the others after every
// work_units(units) (the model's own yield: this_fiber::yield,
// co_await asio::post, the next loop iteration, runtime.Gosched,
// sched_yield), with yield=never only when its budget is spent (it ends).
// Every model finishes either way.
//
// Progress, the quantity Jain's index is taken over: the number of work
// units each hog has completed at the moment the first hog completes its
// budget. That hog takes the snapshot (Board::finish), right after its last
// unit, reading every hog's published count; its own is the whole budget.
// Equal hogs served fairly have nearly equal counts then (index near 1); a
// scheduler that lets one hog run to its end before the others start gives
// (budget, 0, ..., 0), index 1/H.
//   jain_index = (sum x)^2 / (H * sum x^2), 1 for H = 1.
// The bystanders run until every hog has finished; their round trips are
// the latency histogram, whose max (bystander_max_latency_ns) is the longest
// any of them waited. The operation is one work unit.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "workloads/common/bystanders.hpp"

namespace cmbench::fairness {

const WorkloadSpec& spec();

inline constexpr uint64_t kLcgMul = 6364136223846793005ULL;
inline constexpr uint64_t kLcgInc = 1442695040888963407ULL;
// LCG steps per work unit.
inline constexpr uint64_t kUnitSteps = 4096;
// Work units per nominal millisecond: one core of the development VM. A
// unit is 16,384 cycles on any x86-64 core of the last decade (kUnitSteps
// steps of a 3-cycle multiply and a 1-cycle add, each waiting for the
// previous step): 4.4 us measured on the VM (its cores run at 3.7 GHz under
// load, above the 2.6 GHz /proc/cpuinfo reports), so 225 units a
// millisecond.
inline constexpr uint64_t kUnitsPerMs = 225;

// One work unit: kUnitSteps LCG steps from x. Out of line, so that a caller's
// loop of units cannot be merged into one.
uint64_t work_unit(uint64_t x) noexcept;
// x after `steps` LCG steps, in O(log steps) (Brown's jump-ahead).
uint64_t lcg_jump(uint64_t x, uint64_t steps) noexcept;

// The units of one slice (work_ms) and of a hog's whole budget (budget_ms).
uint64_t work_units(const Params& params);
uint64_t budget_units(const Params& params);
bool yields(const Params& params);  // yield=slice

// Hog h's starting state.
inline uint64_t seed_of(uint64_t h) noexcept { return 0x9e3779b97f4a7c15ULL * (h + 1); }

// Jain's fairness index of `x` (1 when every x is equal; 1/n when one has
// everything; 1 for an empty or all-zero set, where nobody got less).
double jain_index(std::span<const uint64_t> x) noexcept;

// The hogs' shared record: each hog's published count and state, who
// finished first, the snapshot. Plain memory and lock-free atomics, so a
// process model places it in a shared mapping (Board::bytes(H) bytes) and
// the in-process models on the heap (LocalBoard).
class Board {
 public:
  static std::size_t bytes(uint64_t hogs) noexcept;
  // Constructs the record in `mem` (bytes(hogs), 64-byte aligned, zeroed or not).
  Board(void* mem, uint64_t hogs) noexcept;

  uint64_t hogs() const noexcept { return hogs_; }
  // Hog h computes n more units, publishing its count after each.
  void work(uint64_t h, uint64_t n) noexcept;
  // Hog h has computed its whole budget: the first hog to call it takes the
  // snapshot. Then counts it finished.
  void finish(uint64_t h) noexcept;
  bool all_finished() const noexcept;

  uint64_t units(uint64_t h) const noexcept;
  uint64_t state(uint64_t h) const noexcept;
  std::vector<uint64_t> snapshot() const;
  // The first hog to finish; hogs() if none has.
  uint64_t first() const noexcept;

 private:
  struct alignas(64) Header {
    std::atomic<uint64_t> finished{0};
    std::atomic<uint64_t> first{0};  // hogs + 1 until a hog has taken the snapshot
    std::atomic<bool> taken{false};
  };
  struct alignas(64) Slot {
    std::atomic<uint64_t> units{0};
    uint64_t state = 0;
    uint64_t snapshot = 0;
  };
  static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<bool>::is_always_lock_free,
                "a record shared between processes must be lock-free");
  Header* header_;
  Slot* slots_;
  uint64_t hogs_;
};

// A Board on the heap, for the in-process models.
class LocalBoard {
 public:
  explicit LocalBoard(uint64_t hogs);
  Board& operator*() noexcept { return board_; }
  Board* operator->() noexcept { return &board_; }

 private:
  struct Free {
    void operator()(void* p) const noexcept;
  };
  std::unique_ptr<void, Free> mem_;
  Board board_;
};

// After the timed region: every hog computed its budget and ended in the
// state the LCG's closed form gives; the snapshot was taken by a hog that
// had its whole budget; the bystanders' checks.
Verdict verify(const Params& params, const Board& board, std::span<const bystanders::Tally> pairs,
               std::span<const Histogram> hists);

// After probe.stop(): jain_index, bystander_max_latency_ns and the shared
// notes (the snapshot, unit_ns measured here, the model's `yield`).
void report(Probe& probe, const Params& params, const Board& board,
            std::span<const bystanders::Tally> pairs, std::span<const Histogram> hists,
            const std::string& yield_how);

// The nanoseconds one work unit takes on this machine now: the median of a
// few short timings, made before the timed region (report() notes it).
double measure_unit_ns();

}  // namespace cmbench::fairness
