#pragma once
// The one table of metrics: every name a repetition's `metrics` object can
// carry (or that the harness derives from it, as latency_p99_ns from
// latency_ns.p99), with its unit, which way is better, what it means, and
// what each consumer needs of it: the results' aggregates and schema, the
// gate (compare), the history, the console table, the report and the
// exports. A consumer names a metric through the constants at the end
// (metrics::ns_per_op.name), never through a literal, so a name exists once.
//
// It lives in cmbench_core, which every other target links (the cell probe
// checks names against it too), so no consumer needs a new dependency. The
// Go probe (models/go) is another language and spells the names itself;
// tests/unit/metrics_test.cpp checks this table against what the probe and
// the runner write.
#include <cstddef>
#include <span>
#include <string_view>

namespace cmbench::metrics {

// Which way is better. `none`: a figure that describes the run rather than
// rates it (an operation count, a method's name), or a total that grows
// with the operation count, which calibration chooses.
enum class Direction { lower_is_better, higher_is_better, none };

// Who writes the metric into a repetition's metrics.
enum class Source {
  probe,      // Probe::metrics() in the cell (harness/cell/probe.cpp)
  runner,     // the parent, after the cell exited (harness/sandbox/runner.cpp)
  counter,    // `run --count instructions`, from Valgrind (harness/sandbox/instructions.cpp)
  workload,   // a workload's spec through Probe::metric
  flattened,  // not a key of its own: a percentile of latency_ns (latency_p99_ns = latency_ns.p99)
};

// What the regression gate (harness/stats/compare.*) does with a metric.
enum class Gate {
  no,     // not compared
  timed,  // compared over repetitions with a test and a minimum effect
  // A count that is the same in every run of the same binary (Valgrind's):
  // judged by the change of its median alone, printed as a plain number.
  exact,
};

// What each consumer needs of a metric, beside its name, unit, direction and
// description.
struct Uses {
  // Summarised over the repetitions into a cell's `aggregates`, and so in the
  // console table, the Google Benchmark counters and BMF by this name.
  bool aggregated = false;
  // The history looks for a step in it (harness/history): per-operation
  // costs, rates and latencies, not totals.
  bool judged = false;
  // Above zero in an ok repetition (the schema checks it).
  bool positive = false;
  Gate gate = Gate::no;
  // The gate's own minimum effect, 0 for CompareOptions::threshold (or
  // exact_threshold). Simulated cache misses repeat less exactly than
  // instructions (their counts depend on addresses and on the few paths
  // that read the clock): measured spreads between runs of the same binary
  // were up to 6.5% for D1 and 5% for LL misses per operation.
  double gate_threshold = 0;
  const char* short_label = "";   // a column of the console and gate tables ("time/op"); "" for none
  const char* report_label = "";  // the report's words ("time per operation"); "" when it names none
  // The Google Benchmark field that carries it instead of a counter
  // (harness/results/gbench.cpp); "" for a counter of its own name.
  const char* gbench_field = "";
  // Of a `flattened` row: the key of latency_ns it is ("p99").
  const char* latency_key = "";
};

struct Metric : Uses {
  const char* name;  // the wire name, in results files and exports
  const char* unit;  // "ns", "s", "1/s", "bytes", "count", "count/op", "ratio", "text"
  Direction direction;
  const char* description;  // one line
  Source source;
};

// One row: the five facts every metric has, then its uses by name.
constexpr Metric metric(const char* name, const char* unit, Direction direction, const char* description, Source source,
                        Uses uses = {}) {
  return Metric{uses, name, unit, direction, description, source};
}

using enum Direction;
using enum Source;

// Gate rows are in the order the gate prints them.
inline constexpr Metric kTable[] = {
    // Probe::metrics(): what every cell measures.
    metric("wall_s", "s", none, "wall time of the timed region, every pass together", probe,
           {.aggregated = true, .positive = true}),
    metric("operations", "count", none, "operations the timed region completed, every pass together", probe),
    metric("passes", "count", none, "times the timed region ran in this repetition (calibrated to --min-time)", probe),
    metric("ops_per_s", "1/s", higher_is_better, "operations per second of wall time", probe,
           {.aggregated = true,
            .judged = true,
            .positive = true,
            .short_label = "ops/s",
            .report_label = "throughput",
            .gbench_field = "items_per_second"}),
    metric("ns_per_op", "ns", lower_is_better, "wall time per operation", probe,
           {.aggregated = true,
            .judged = true,
            .positive = true,
            .gate = Gate::timed,
            .short_label = "time/op",
            .report_label = "time per operation",
            .gbench_field = "real_time"}),
    metric("cpu_user_s", "s", lower_is_better, "user CPU time of the timed region, the cell's child processes included",
           probe, {.aggregated = true, .report_label = "user CPU time"}),
    metric("cpu_sys_s", "s", lower_is_better,
           "kernel CPU time of the timed region, the cell's child processes included", probe,
           {.aggregated = true, .report_label = "kernel CPU time"}),
    metric(
        "cpu_ns_per_op", "ns", lower_is_better, "CPU time (user and kernel) per operation", probe,
        {.aggregated = true, .judged = true, .gate = Gate::timed, .short_label = "cpu/op", .gbench_field = "cpu_time"}),
    metric("ref_loop_ns", "ns", none,
           "the CPU's speed around the repetition: a fixed loop of 1,000,000 dependent multiply-adds, timed in the "
           "cell just before and just after the workload, the mean of the two (harness/cell/speed.hpp)",
           probe, {.aggregated = true, .positive = true}),
    metric("ref_cross_cpu_ns", "ns", none,
           "the cores' round trip around the repetition of a cell whose units run on several threads: one cache "
           "line handed between two threads pinned to the first two CPUs allowed, timed by the runner just before "
           "and just after the cell process, the mean of the two (harness/cell/speed.hpp)",
           runner, {.aggregated = true, .positive = true}),
    metric("ctx_voluntary", "count", none, "voluntary context switches in the timed region", probe,
           {.aggregated = true}),
    metric("ctx_involuntary", "count", none, "involuntary context switches in the timed region", probe,
           {.aggregated = true}),
    metric("ctx_per_op", "count/op", lower_is_better, "context switches (voluntary and involuntary) per operation",
           probe,
           {.aggregated = true,
            .judged = true,
            .short_label = "ctx/op",
            .report_label = "context switches per operation"}),
    metric("memory_units", "count", none, "units alive when the parked memory was read", probe),
    metric("memory_baseline_bytes", "bytes", none, "memory before the units were created", probe),
    metric("memory_parked_bytes", "bytes", lower_is_better, "memory with every unit alive and parked", probe,
           {.report_label = "memory with every unit parked"}),
    metric("memory_per_unit_method", "text", none, "how the memory per unit was read (RSS, or over a process tree)",
           probe),
    metric("kernel_per_unit_bytes", "bytes", lower_is_better,
           "kernel memory per unit (stacks, page tables, slab), machine-wide: an object by kind", probe),
    metric("latency_ns", "ns", lower_is_better, "latency per operation: count, min, mean, percentiles and max", probe),
    // Percentiles of latency_ns, aggregated under names of their own.
    metric("latency_p50_ns", "ns", lower_is_better, "median latency per operation", flattened,
           {.aggregated = true,
            .judged = true,
            .gate = Gate::timed,
            .short_label = "lat p50",
            .report_label = "latency, p50",
            .latency_key = "p50"}),
    metric("latency_p90_ns", "ns", lower_is_better, "90th percentile of latency per operation", flattened,
           {.aggregated = true, .judged = true, .latency_key = "p90"}),
    metric("latency_p99_ns", "ns", lower_is_better, "99th percentile of latency per operation", flattened,
           {.aggregated = true,
            .judged = true,
            .gate = Gate::timed,
            .short_label = "lat p99",
            .report_label = "latency, p99",
            .latency_key = "p99"}),
    metric("latency_p999_ns", "ns", lower_is_better, "99.9th percentile of latency per operation", flattened,
           {.aggregated = true, .judged = true, .latency_key = "p999"}),
    metric("latency_max_ns", "ns", lower_is_better, "largest latency of an operation", flattened,
           {.aggregated = true, .judged = true, .report_label = "latency, max", .latency_key = "max"}),
    // The runner's, from /proc after the cell; here, before memory_per_unit_bytes,
    // for the gate's order.
    metric("memory_peak_bytes", "bytes", lower_is_better,
           "peak memory of the cell (VmHWM, or sampled over a process tree); -1: not read", runner,
           {.aggregated = true,
            .judged = true,
            .gate = Gate::timed,
            .short_label = "memory",
            .report_label = "peak memory"}),
    metric("memory_per_unit_bytes", "bytes", lower_is_better, "memory per unit: (parked - baseline) / units", probe,
           {.aggregated = true,
            .judged = true,
            .gate = Gate::timed,
            .short_label = "mem/unit",
            .report_label = "memory per unit"}),
    metric("memory_method", "text", none, "how the peak memory was read", runner),
    // `run --count instructions`: exact counts of the timed region, user space.
    metric("instructions", "count", lower_is_better, "instructions executed in the timed region", counter,
           {.judged = true}),
    metric("instructions_per_op", "count/op", lower_is_better, "instructions per operation", counter,
           {.judged = true, .gate = Gate::exact, .short_label = "instr/op"}),
    // Stored and exported, not judged: the history never judged it.
    metric("i1_misses", "count", lower_is_better, "simulated first-level instruction cache misses", counter),
    metric("d1_misses", "count", lower_is_better, "simulated first-level data cache misses", counter, {.judged = true}),
    metric("d1_misses_per_op", "count/op", lower_is_better, "simulated first-level data cache misses per operation",
           counter, {.judged = true, .gate = Gate::exact, .gate_threshold = 0.10, .short_label = "D1 miss/op"}),
    metric("ll_misses", "count", lower_is_better, "simulated last-level cache misses", counter, {.judged = true}),
    metric("ll_misses_per_op", "count/op", lower_is_better, "simulated last-level cache misses per operation", counter,
           {.judged = true, .gate = Gate::exact, .gate_threshold = 0.10, .short_label = "LL miss/op"}),
    metric("count_method", "text", none, "how the counts were taken (Valgrind's tool and options)", counter),
    // Workloads' own (Probe::metric).
    metric("blocking_calls_per_s", "1/s", higher_is_better, "blocking calls completed per second (blocking)", workload,
           {.judged = true, .report_label = "blocking calls completed per second"}),
    metric("bystander_round_trips_per_s", "1/s", higher_is_better,
           "round trips per second of the latency-sensitive bystanders (blocking)", workload,
           {.judged = true, .report_label = "bystanders' round trips per second"}),
    metric("os_threads_peak", "count", lower_is_better, "most OS threads the cell had at once (blocking)", workload,
           {.judged = true, .report_label = "OS threads of the cell, peak"}),
    metric("jain_index", "ratio", higher_is_better,
           "Jain's fairness index over the CPU-bound hogs' progress (fairness)", workload,
           {.judged = true, .report_label = "Jain's fairness index over the hogs' progress"}),
    metric("bystander_max_latency_ns", "ns", lower_is_better, "the bystanders' worst round trip (fairness)", workload,
           {.judged = true, .report_label = "bystanders' worst round trip"}),
};

inline constexpr std::span<const Metric> all() { return kTable; }

// The index of a name's row; the table's size for a name it does not know.
constexpr std::size_t index_of(std::string_view name) {
  std::size_t i = 0;
  while (i < std::size(kTable) && kTable[i].name != name) ++i;
  return i;
}

// The row of a name; nullptr for a name the table does not know.
constexpr const Metric* find(std::string_view name) {
  const std::size_t i = index_of(name);
  return i < std::size(kTable) ? &kTable[i] : nullptr;
}

// A row by name at compile time: a name that is not in the table does not
// compile. It goes by index, not through find(): under -fsanitize=address or
// undefined GCC does not treat comparing the address of a row with null as a
// constant expression, and the ASan build did not compile.
consteval const Metric& row(std::string_view name) {
  const std::size_t i = index_of(name);
  if (i == std::size(kTable)) throw "not a metric of the table";
  return kTable[i];
}

inline constexpr const Metric& wall_s = row("wall_s");
inline constexpr const Metric& operations = row("operations");
inline constexpr const Metric& passes = row("passes");
inline constexpr const Metric& ops_per_s = row("ops_per_s");
inline constexpr const Metric& ns_per_op = row("ns_per_op");
inline constexpr const Metric& cpu_user_s = row("cpu_user_s");
inline constexpr const Metric& cpu_sys_s = row("cpu_sys_s");
inline constexpr const Metric& cpu_ns_per_op = row("cpu_ns_per_op");
inline constexpr const Metric& ref_loop_ns = row("ref_loop_ns");
inline constexpr const Metric& ref_cross_cpu_ns = row("ref_cross_cpu_ns");
inline constexpr const Metric& ctx_voluntary = row("ctx_voluntary");
inline constexpr const Metric& ctx_involuntary = row("ctx_involuntary");
inline constexpr const Metric& ctx_per_op = row("ctx_per_op");
inline constexpr const Metric& memory_units = row("memory_units");
inline constexpr const Metric& memory_baseline_bytes = row("memory_baseline_bytes");
inline constexpr const Metric& memory_parked_bytes = row("memory_parked_bytes");
inline constexpr const Metric& memory_per_unit_method = row("memory_per_unit_method");
inline constexpr const Metric& kernel_per_unit_bytes = row("kernel_per_unit_bytes");
inline constexpr const Metric& latency_ns = row("latency_ns");
inline constexpr const Metric& latency_p50_ns = row("latency_p50_ns");
inline constexpr const Metric& latency_p90_ns = row("latency_p90_ns");
inline constexpr const Metric& latency_p99_ns = row("latency_p99_ns");
inline constexpr const Metric& latency_p999_ns = row("latency_p999_ns");
inline constexpr const Metric& latency_max_ns = row("latency_max_ns");
inline constexpr const Metric& memory_peak_bytes = row("memory_peak_bytes");
inline constexpr const Metric& memory_per_unit_bytes = row("memory_per_unit_bytes");
inline constexpr const Metric& memory_method = row("memory_method");
inline constexpr const Metric& instructions = row("instructions");
inline constexpr const Metric& instructions_per_op = row("instructions_per_op");
inline constexpr const Metric& i1_misses = row("i1_misses");
inline constexpr const Metric& d1_misses = row("d1_misses");
inline constexpr const Metric& d1_misses_per_op = row("d1_misses_per_op");
inline constexpr const Metric& ll_misses = row("ll_misses");
inline constexpr const Metric& ll_misses_per_op = row("ll_misses_per_op");
inline constexpr const Metric& count_method = row("count_method");
inline constexpr const Metric& blocking_calls_per_s = row("blocking_calls_per_s");
inline constexpr const Metric& bystander_round_trips_per_s = row("bystander_round_trips_per_s");
inline constexpr const Metric& os_threads_peak = row("os_threads_peak");
inline constexpr const Metric& jain_index = row("jain_index");
inline constexpr const Metric& bystander_max_latency_ns = row("bystander_max_latency_ns");

// Whether Probe::metric refuses the name: one the probe or the runner
// writes, so a workload cannot overwrite a measured figure. `passes` and
// `memory_method` were never refused, and the cell client library keeps
// its behaviour: refusing them too is a change of that library's contract.
constexpr bool reserved(const Metric& m) {
  return (m.source == probe || m.source == runner) && &m != &passes && &m != &memory_method;
}

}  // namespace cmbench::metrics
