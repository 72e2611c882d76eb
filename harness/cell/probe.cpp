#include "harness/cell/probe.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <iterator>
#include <new>
#include <stdexcept>
#include <string_view>

// Valgrind's client requests: a few no-op instructions when the cell runs
// natively, and under callgrind (`run --count instructions`) they confine
// its counting to the timed region. Without the header the requests are
// absent and the runner finds no count, which it reports as a failure.
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define CMBENCH_COUNT_START() \
  do {                        \
    CALLGRIND_ZERO_STATS;     \
    CALLGRIND_START_INSTRUMENTATION; \
  } while (0)
#define CMBENCH_COUNT_STOP() CALLGRIND_STOP_INSTRUMENTATION
#define CMBENCH_COUNT_RESUME() CALLGRIND_START_INSTRUMENTATION
#else
#define CMBENCH_COUNT_START() (void)0
#define CMBENCH_COUNT_STOP() (void)0
#define CMBENCH_COUNT_RESUME() (void)0
#endif

#include "harness/cell/errors.hpp"
#include "harness/cell/sample_clock.hpp"
#include "harness/results/metrics.hpp"

namespace cmbench {

namespace {

double seconds(const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; }

}  // namespace

Probe::~Probe() {
  if (hists_) munmap(hists_, map_bytes_);
}

std::span<Histogram> Probe::latency_histograms(size_t units) {
  if (hists_) {
    munmap(hists_, map_bytes_);
    hists_ = nullptr;
  }
  nhists_ = units;
  map_bytes_ = sizeof(Histogram) * (units == 0 ? 1 : units);
  // Shared so that forked children record into the same histograms; the
  // mapping is touched here, before the timed region, so page faults on
  // first use do not land inside it.
  void* mem = mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) throw_errno("mmap(latency histograms)");
  hists_ = static_cast<Histogram*>(mem);
  for (size_t i = 0; i < units; ++i) new (&hists_[i]) Histogram();
  // Before the timed region and before the model forks, so every unit's
  // samples share one calibration.
  calibrate_sample_clock();
  note("sample_clock", sample_clock_description());
  return {hists_, units};
}

Probe::Usage Probe::read_usage() {
  Usage u;
  getrusage(RUSAGE_SELF, &u.self);
  getrusage(RUSAGE_CHILDREN, &u.children);
  return u;
}

void Probe::start() {
  start_usage_ = read_usage();
  start_ns_ = now_ns();
  // Last, so that reading the clock and rusage is not counted.
  CMBENCH_COUNT_START();
}

void Probe::stop() {
  // First, and before the injected delay, whose spin count depends on time.
  CMBENCH_COUNT_STOP();
  if (injected_delay_ns_ > 0) {
    // Busy, like the work it stands for: CPU time grows with wall time.
    const int64_t until = now_ns() + injected_delay_ns_;
    while (now_ns() < until) {
    }
  }
  stop_ns_ = now_ns();
  stop_usage_ = read_usage();
}

Probe::MemoryReading Probe::read_memory() const {
  MemoryReading m;
  m.user = process_tree_ ? tree_resident_bytes(getpid()) : self_rss_bytes();
  m.kernel = read_kernel_memory();
  return m;
}

template <typename F>
void Probe::untimed(F&& read) {
  const bool timing = start_ns_ != 0 && stop_ns_ == 0;
  Usage before{};
  int64_t t0 = 0;
  if (timing) {
    CMBENCH_COUNT_STOP();
    before = read_usage();
    t0 = now_ns();
  }
  read();
  if (timing) {
    excluded_ns_ += now_ns() - t0;
    Usage after = read_usage();
    excluded_user_s_ += seconds(after.self.ru_utime) - seconds(before.self.ru_utime);
    excluded_sys_s_ += seconds(after.self.ru_stime) - seconds(before.self.ru_stime);
    excluded_nvcsw_ += after.self.ru_nvcsw - before.self.ru_nvcsw;
    excluded_nivcsw_ += after.self.ru_nivcsw - before.self.ru_nivcsw;
    // Memory readings (parsing /proc) are no more counted than timed.
    CMBENCH_COUNT_RESUME();
  }
}

void Probe::memory_baseline() {
  if (passes_done_ > 0) return;
  untimed([&] { mem_base_ = read_memory(); });
}

void Probe::memory_parked(uint64_t units) {
  if (passes_done_ > 0) return;
  untimed([&] { mem_parked_ = read_memory(); });
  mem_units_ = units;
}

void Probe::exclude_child_usage(const rusage& u) {
  excluded_user_s_ += seconds(u.ru_utime);
  excluded_sys_s_ += seconds(u.ru_stime);
  excluded_nvcsw_ += u.ru_nvcsw;
  excluded_nivcsw_ += u.ru_nivcsw;
}

void Probe::verify(const Verdict& verdict) {
  verified_ = true;
  verdict_ = verdict;
}

void Probe::note(const std::string& key, nlohmann::json value) { notes_[key] = std::move(value); }

void Probe::metric(const std::string& name, double value) {
  // The names metrics() writes itself and the runner adds (memory_peak_bytes)
  // are the table's rows from the probe and the runner.
  const metrics::Metric* known = metrics::find(name);
  if (name.empty() || (known && metrics::reserved(*known)))
    throw std::invalid_argument("Probe::metric: '" + name +
                                "' is empty or a metric the harness writes itself");
  extra_metrics_[name] = value;
}

Histogram Probe::merged_latency() const {
  Histogram all;
  for (size_t i = 0; i < nhists_; ++i) all.merge(hists_[i]);
  return all;
}

void Probe::Totals::add(const Totals& o) {
  wall_ns += o.wall_ns;
  user_s += o.user_s;
  sys_s += o.sys_s;
  nvcsw += o.nvcsw;
  nivcsw += o.nivcsw;
  operations += o.operations;
}

Probe::Totals Probe::this_pass() const {
  auto delta = [&](auto field) {
    return (stop_usage_.self.*field) - (start_usage_.self.*field) +
           (stop_usage_.children.*field) - (start_usage_.children.*field);
  };
  auto cpu = [&](timeval rusage::*field) {
    return seconds(stop_usage_.self.*field) - seconds(start_usage_.self.*field) +
           seconds(stop_usage_.children.*field) - seconds(start_usage_.children.*field);
  };
  Totals t;
  t.wall_ns = stop_ns_ - start_ns_ - excluded_ns_;
  t.user_s = cpu(&rusage::ru_utime) - excluded_user_s_;
  t.sys_s = cpu(&rusage::ru_stime) - excluded_sys_s_;
  t.nvcsw = delta(&rusage::ru_nvcsw) - excluded_nvcsw_;
  t.nivcsw = delta(&rusage::ru_nivcsw) - excluded_nivcsw_;
  t.operations = operations_;
  return t;
}

void Probe::next_pass() {
  earlier_.add(this_pass());
  for (size_t k = 0; k < nhists_; ++k) earlier_latency_.merge(hists_[k]);
  ++passes_done_;
  // What the next run() sets again; the notes, the process-tree flag, the
  // injected delay and the first pass's memory readings stay.
  start_ns_ = stop_ns_ = 0;
  start_usage_ = stop_usage_ = Usage{};
  excluded_ns_ = 0;
  excluded_user_s_ = excluded_sys_s_ = 0;
  excluded_nvcsw_ = excluded_nivcsw_ = 0;
  verified_ = false;
  verdict_ = Verdict{};
  operations_ = 0;
  for (size_t k = 0; k < nhists_; ++k) hists_[k].reset();
}

nlohmann::json Probe::metrics() const {
  Totals t = earlier_;
  t.add(this_pass());
  nlohmann::json m;
  const double wall = static_cast<double>(t.wall_ns) / 1e9;
  m[metrics::wall_s.name] = wall;
  m[metrics::operations.name] = t.operations;
  m[metrics::passes.name] = passes();
  m[metrics::ops_per_s.name] = wall > 0 ? static_cast<double>(t.operations) / wall : 0.0;
  m[metrics::ns_per_op.name] = t.operations ? static_cast<double>(t.wall_ns) / static_cast<double>(t.operations) : 0.0;
  m[metrics::cpu_user_s.name] = t.user_s;
  m[metrics::cpu_sys_s.name] = t.sys_s;
  const long nvcsw = t.nvcsw;
  const long nivcsw = t.nivcsw;
  m[metrics::ctx_voluntary.name] = nvcsw;
  m[metrics::ctx_involuntary.name] = nivcsw;
  // Per operation, so models with different unit counts compare directly.
  const double ops = t.operations ? static_cast<double>(t.operations) : 1.0;
  m[metrics::cpu_ns_per_op.name] =
      (m[metrics::cpu_user_s.name].get<double>() + m[metrics::cpu_sys_s.name].get<double>()) * 1e9 / ops;
  m[metrics::ctx_per_op.name] = static_cast<double>(nvcsw + nivcsw) / ops;
  if (mem_units_ > 0 && mem_base_.user >= 0 && mem_parked_.user >= 0) {
    const double n = static_cast<double>(mem_units_);
    m[metrics::memory_units.name] = mem_units_;
    m[metrics::memory_baseline_bytes.name] = mem_base_.user;
    m[metrics::memory_parked_bytes.name] = mem_parked_.user;
    m[metrics::memory_per_unit_bytes.name] = static_cast<double>(mem_parked_.user - mem_base_.user) / n;
    m[metrics::memory_per_unit_method.name] =
        process_tree_ ? "resident memory of the process tree, each page once" : "VmRSS of the cell process";
    // Machine-wide: anything else running changes these too.
    m[metrics::kernel_per_unit_bytes.name] = {
        {"kernel_stack", static_cast<double>(mem_parked_.kernel.kernel_stack - mem_base_.kernel.kernel_stack) / n},
        {"page_tables", static_cast<double>(mem_parked_.kernel.page_tables - mem_base_.kernel.page_tables) / n},
        {"slab", static_cast<double>(mem_parked_.kernel.slab - mem_base_.kernel.slab) / n},
    };
  }
  for (const auto& [name, value] : extra_metrics_.items()) m[name] = value;
  Histogram lat = merged_latency();
  lat.merge(earlier_latency_);
  if (lat.count() > 0) {
    m[metrics::latency_ns.name] = {
        {"count", lat.count()},      {"min", lat.min()},           {"mean", lat.mean()},
        {"p50", lat.quantile(0.5)},  {"p90", lat.quantile(0.9)},   {"p99", lat.quantile(0.99)},
        {"p999", lat.quantile(0.999)}, {"max", lat.max()},
    };
  }
  return m;
}

}  // namespace cmbench
