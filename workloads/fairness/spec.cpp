#include "workloads/fairness/spec.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <new>
#include <string>

namespace cmbench::fairness {

namespace {

// Hogs that yield every 2 ms over `slice_budget`, and hogs that never yield
// over `never_budget`. A never-yielding hog computes its whole budget in one
// stretch, so its work_ms is set to the budget: work_ms is then, in both
// rows, how long a hog computes without yielding, which the report's
// starvation rule compares the bystanders' worst wait with. The never budget
// is long against a kernel time slice (a few ms) and Go's 10 ms preemption,
// so that a preempted hog's bystanders are told apart from starved ones.
// `never_hogs` of them: a bystander behind H preempted hogs waits up to
// H x 10 ms in Go at gomaxprocs 1, which must stay well under half the
// never budget (the starvation rule's threshold).
std::vector<PresetGroup> sizes(const std::string& slice_budget, const std::string& never_budget,
                               const std::string& hogs = "4", const std::string& never_hogs = "4",
                               const std::string& work_ms = "2", const std::string& pairs = "2") {
  return {{.grids = {{{"hogs", {hogs}}, {"work_ms", {work_ms}}, {"budget_ms", {slice_budget}},
                      {"yield", {"slice"}}, {"pairs", {pairs}}},
                     {{"hogs", {never_hogs}}, {"work_ms", {never_budget}}, {"budget_ms", {never_budget}},
                      {"yield", {"never"}}, {"pairs", {pairs}}}}}};
}

}  // namespace

const WorkloadSpec& spec() {
  static const WorkloadSpec s{
      .name = "fairness",
      .summary =
      "H hogs compute (yielding every work_ms, or never) while bystander pairs ping-pong: Jain's "
      "index over the hogs' progress, the bystanders' worst latency",
      .params = {
          ParamDef::integer("hogs", "computing units (H)", 4, 1, 1000),
          ParamDef::integer("work_ms", "milliseconds of computation between two yields (nominal: "
                                       "work units at the spec's fixed rate)",
                            2, 1, 10'000),
          ParamDef::integer("budget_ms", "milliseconds of computation per hog in all (nominal)", 50, 1,
                            100'000),
          ParamDef::choice("yield",
                           "slice: a hog yields after every work_ms; never: it computes its whole "
                           "budget without yielding",
                           "slice", {"slice", "never"}),
          ParamDef::integer("pairs", "bystander ping-pong pairs (P)", 2, 0, 64),
      },
      .operation = "work unit",
      .operations = [](const Params& p) { return p.u("hogs") * budget_units(p); },
      .validate = [](const Params& p) -> std::optional<std::string> {
        if (p.u("work_ms") > p.u("budget_ms"))
          return fmt::format("parameter 'work_ms': {} is more than budget_ms ({}); accepted: "
                             "work_ms <= budget_ms",
                             p.u("work_ms"), p.u("budget_ms"));
        return std::nullopt;
      },
      .units_param = "hogs",
      .presets =
          {
              // Default: within the matrix's ten minutes (about 40 s of a
              // loaded 2-core VM for both rows in all seven models): ten
              // 2 ms slices per hog, and two hogs that never yield for 100 ms.
              {"default", sizes("20", "100", "4", "2")},
              {"quick", sizes("10", "20")},
              {"full", sizes("200", "200")},
              // The least that runs each code path (hogs that yield and
              // hogs that do not): every repetition costs a cell process on
              // each side of the A/B.
              {"ci", sizes("2", "2", "2", "2", "1", "1")},
          },
      .smoke = {{"hogs", {"1", "3"}}, {"work_ms", {"1"}}, {"budget_ms", {"3"}}, {"yield", {"slice", "never"}},
                {"pairs", {"1"}}},
      // One pass per repetition: Jain's index and the bystanders' worst
      // wait are figures of one run (the hogs' progress when the first hog
      // ends its budget), which a second pass would replace, not add to;
      // and a run lasts at least hogs x budget_ms / cores, long enough.
      .passes_in_process = false,
  };
  return s;
}

[[gnu::noinline]] uint64_t work_unit(uint64_t x) noexcept {
  for (uint64_t i = 0; i < kUnitSteps; ++i) x = x * kLcgMul + kLcgInc;
  return x;
}

uint64_t lcg_jump(uint64_t x, uint64_t steps) noexcept {
  // F. Brown, "Random number generation with arbitrary strides" (1994): the
  // map x -> a x + c applied n times is x -> A x + C, built from the binary
  // digits of n by composing the maps for 1, 2, 4, ... steps.
  uint64_t acc_mul = 1, acc_inc = 0;
  uint64_t cur_mul = kLcgMul, cur_inc = kLcgInc;
  while (steps > 0) {
    if (steps & 1) {
      acc_mul *= cur_mul;
      acc_inc = acc_inc * cur_mul + cur_inc;
    }
    cur_inc = (cur_mul + 1) * cur_inc;
    cur_mul *= cur_mul;
    steps >>= 1;
  }
  return acc_mul * x + acc_inc;
}

uint64_t work_units(const Params& params) { return params.u("work_ms") * kUnitsPerMs; }
uint64_t budget_units(const Params& params) { return params.u("budget_ms") * kUnitsPerMs; }
bool yields(const Params& params) { return params.s("yield") == "slice"; }

double jain_index(std::span<const uint64_t> x) noexcept {
  double sum = 0, squares = 0;
  for (uint64_t v : x) {
    const double d = static_cast<double>(v);
    sum += d;
    squares += d * d;
  }
  if (x.empty() || squares == 0) return 1.0;
  return sum * sum / (static_cast<double>(x.size()) * squares);
}

// --- Board ---

std::size_t Board::bytes(uint64_t hogs) noexcept { return sizeof(Header) + hogs * sizeof(Slot); }

Board::Board(void* mem, uint64_t hogs) noexcept
    : header_(new (mem) Header{}),
      slots_(reinterpret_cast<Slot*>(static_cast<std::byte*>(mem) + sizeof(Header))),
      hogs_(hogs) {
  header_->first.store(hogs + 1);
  for (uint64_t h = 0; h < hogs; ++h) {
    new (&slots_[h]) Slot{};
    slots_[h].state = seed_of(h);
  }
}

void Board::work(uint64_t h, uint64_t n) noexcept {
  Slot& s = slots_[h];
  uint64_t x = s.state;
  uint64_t done = s.units.load(std::memory_order_relaxed);
  for (uint64_t i = 0; i < n; ++i) {
    x = work_unit(x);
    s.units.store(++done, std::memory_order_relaxed);
  }
  s.state = x;
}

void Board::finish(uint64_t h) noexcept {
  if (!header_->taken.exchange(true, std::memory_order_acq_rel)) {
    for (uint64_t i = 0; i < hogs_; ++i)
      slots_[i].snapshot = slots_[i].units.load(std::memory_order_relaxed);
    header_->first.store(h, std::memory_order_release);
  }
  header_->finished.fetch_add(1, std::memory_order_acq_rel);
}

bool Board::all_finished() const noexcept {
  return header_->finished.load(std::memory_order_acquire) == hogs_;
}

uint64_t Board::units(uint64_t h) const noexcept { return slots_[h].units.load(std::memory_order_acquire); }
uint64_t Board::state(uint64_t h) const noexcept { return slots_[h].state; }

std::vector<uint64_t> Board::snapshot() const {
  std::vector<uint64_t> out(hogs_);
  for (uint64_t h = 0; h < hogs_; ++h) out[h] = slots_[h].snapshot;
  return out;
}

uint64_t Board::first() const noexcept {
  const uint64_t f = header_->first.load(std::memory_order_acquire);
  return f < hogs_ ? f : hogs_;
}

void LocalBoard::Free::operator()(void* p) const noexcept { std::free(p); }

namespace {

void* aligned_board(uint64_t hogs) {
  const std::size_t n = (Board::bytes(hogs) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, n);
  if (!p) throw std::bad_alloc();
  return p;
}

}  // namespace

LocalBoard::LocalBoard(uint64_t hogs) : mem_(aligned_board(hogs)), board_(mem_.get(), hogs) {}

// --- verification and report ---

Verdict verify(const Params& params, const Board& board, std::span<const bystanders::Tally> pairs,
               std::span<const Histogram> hists) {
  const uint64_t budget = budget_units(params);
  if (board.hogs() != params.u("hogs"))
    return Verdict::fail(fmt::format("expected {} hogs, the board has {}", params.u("hogs"), board.hogs()));
  for (uint64_t h = 0; h < board.hogs(); ++h) {
    if (board.units(h) != budget)
      return Verdict::fail(fmt::format("hog {} computed {} units, expected {}", h, board.units(h), budget));
    const uint64_t want = lcg_jump(seed_of(h), budget * kUnitSteps);
    if (board.state(h) != want)
      return Verdict::fail(fmt::format("hog {} ended in state {:#x}, expected {:#x}: its computation "
                                       "was not the spec's",
                                       h, board.state(h), want));
  }
  if (!board.all_finished()) return Verdict::fail("not every hog counted itself finished");
  const uint64_t first = board.first();
  if (first >= board.hogs()) return Verdict::fail("no hog took the progress snapshot");
  const std::vector<uint64_t> snap = board.snapshot();
  if (snap[first] != budget)
    return Verdict::fail(fmt::format("the first hog to finish ({}) had {} units in the snapshot, "
                                     "expected its whole budget of {}",
                                     first, snap[first], budget));
  for (uint64_t h = 0; h < board.hogs(); ++h)
    if (snap[h] > budget)
      return Verdict::fail(fmt::format("hog {} had {} units in the snapshot, more than its budget", h, snap[h]));
  if (pairs.size() != params.u("pairs"))
    return Verdict::fail(fmt::format("expected {} bystander pairs, got {}", params.u("pairs"), pairs.size()));
  return bystanders::verify(pairs, hists);
}

double measure_unit_ns() {
  // Five timings of 20 units each (about 0.1 ms apiece); the median.
  std::vector<double> t;
  uint64_t x = 1;
  for (int i = 0; i < 5; ++i) {
    const int64_t t0 = now_ns();
    for (int u = 0; u < 20; ++u) x = work_unit(x);
    t.push_back(static_cast<double>(now_ns() - t0) / 20);
  }
  // Keep x alive: the timings must be of real work.
  asm volatile("" : : "r"(x));
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void report(Probe& probe, const Params& params, const Board& board,
            std::span<const bystanders::Tally> pairs, std::span<const Histogram> hists,
            const std::string& yield_how) {
  const std::vector<uint64_t> snap = board.snapshot();
  probe.metric("jain_index", jain_index(snap));
  uint64_t worst = 0;
  for (const Histogram& h : hists) worst = std::max(worst, h.max());
  probe.metric("bystander_max_latency_ns", static_cast<double>(worst));
  probe.note("progress_at_first_finish", snap);
  probe.note("first_finisher", board.first());
  probe.note("work_unit", fmt::format("{} steps of the LCG x = x * {:#x} + {:#x}; {} units per nominal "
                                      "millisecond",
                                      kUnitSteps, kLcgMul, kLcgInc, kUnitsPerMs));
  probe.note("unit_ns", measure_unit_ns());
  probe.note("units_per_slice", work_units(params));
  probe.note("units_per_hog", budget_units(params));
  probe.note("yield", yield_how);
  probe.note("bystander_round_trips", bystanders::round_trips(pairs));
}

}  // namespace cmbench::fairness
