#pragma once
// The registry: every workload, every model and every implementation of a
// workload in a model. One list (harness/registry/registry.txt) names the
// models and workloads; the build derives the implementations from the files
// it finds (workloads/<w>/<m>.cpp) and generates the manifest this registry
// is made from. The CLI, the cell runner, the tests and the report all read
// this registry.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"

namespace cmbench {

struct ModelInfo;
struct ExternalProgram;

// Values per parameter; a grid is their cartesian product.
using Grid = std::map<std::string, std::vector<std::string>>;

// In a grid, the key that stands for each model's own workers parameter
// (ModelInfo::workers_param: fiber's "threads", go's "gomaxprocs"), so that a
// workload can say "on every core" ({kWorkersAxis, {"0"}}) without naming
// the models that can.
inline constexpr const char* kWorkersAxis = "@workers";

// Which models a preset group runs, decided by their traits, never by their
// names, so that a new model lands in the groups its traits call for.
using ModelFilter = std::function<bool(const ModelInfo&)>;

// One group of a preset for one workload: its grids, for the models the
// filter accepts (no filter: every model).
struct PresetGroup {
  std::vector<Grid> grids{};
  ModelFilter models = nullptr;
  // The group runs after every workload's other groups of the preset: the
  // all-core rows, which read best together at the end of a run.
  bool last = false;
  // Repetitions and warm-ups of this group's cells where they differ from
  // the preset's (-1: the preset's); --repetitions and --warmup override
  // both. For cells whose one repetition is long because its size is the
  // point (idle at 50,000 connections).
  int repetitions = -1;
  int warmup = -1;
};

struct WorkloadSpec {
  std::string name{};
  std::string summary{};
  std::vector<ParamDef> params{};
  // What one operation is ("message", "increment"), for ops/s and ns/op.
  std::string operation{};
  // The number of operations one run performs with these parameters.
  std::function<uint64_t(const Params&)> operations{};
  // Whether every run performs exactly operations(params) operations: the
  // harness then checks the count an external model reports against it.
  // Not for a workload that counts what completed in a fixed time (echo).
  bool operations_exact = true;
  // Checks that span parameters; returns an error message or nothing.
  std::function<std::optional<std::string>(const Params&)> validate{};
  // The parameter that sets how many units run ("units", "producers"); for a
  // kernel-scheduled model it is the worker axis of a scaling sweep. Empty:
  // the number is fixed (pingpong's two).
  std::string units_param{};
  // The workload's groups in each preset (harness/driver/matrix.cpp names
  // the presets: default, quick, full, ci, scaling). `run` runs a workload
  // that a preset has no group for only when --workloads names it, at its
  // defaults; but every workload must size the four comparison presets
  // (default, quick, full, ci): Expand.EveryWorkloadAndModelIsInEveryPreset
  // fails otherwise, so that no matrix silently leaves a workload out.
  std::map<std::string, std::vector<PresetGroup>> presets{};
  // The smoke matrix's values (tests/smoke_cells.hpp): tiny, and covering
  // every mode. They replace the default preset's values of these
  // parameters, as --param does.
  Grid smoke{};
  // Every operation records one latency sample (the smoke test checks it).
  bool latency_per_operation = false;
  // The implementations read memory per unit with units_param units parked
  // (Probe::memory_parked; the smoke test checks it).
  bool memory_per_unit = false;
  // Whether run --min-time may run the workload again in the same cell
  // process (passes). Not for a workload whose figure is the cost of N fresh
  // units (spawn, skynet, echo's connections): a second pass would measure
  // recycled ones. Go keeps a dead goroutine and its stack for the next one,
  // and spawn/go/units:1000 fell from 2.8 us to 0.36 us per goroutine in a
  // second pass while spawn/fiber stayed at 4.9-5.3 us; such a cell runs one
  // pass of N per process (but see passes_in_fresh_processes).
  bool passes_in_process = true;
  // Whether such a workload's passes (passes_in_process false) may each run
  // in a fresh cell process instead, their timed regions, operations, CPU
  // time and context switches added up into one repetition (run_passes(),
  // harness/driver/run.hpp): its units are then fresh in every pass. Only
  // for a workload that records no latency histogram, whose percentiles
  // could not be added up (spawn, skynet; not echo).
  bool passes_in_fresh_processes = false;
  // Whether the implementations start threads of their own beside the
  // model's units (blocking's offload pools). Such a cell is not pinned to
  // one CPU (run --pin): they would inherit the pin and share the CPU with
  // the units they serve.
  bool own_threads = false;
  // Whether the cell is loaded by a generator process it starts (echo's and
  // idle's, `cmbench loadgen`). A one-thread cell of such a workload is
  // pinned all the same (run --pin auto): the cell to the CPU it starts on,
  // the generator to the CPUs the cell leaves (harness/sandbox/pin.hpp), so
  // that server and client never share a CPU and always sit on different
  // ones, as a network benchmark places them.
  bool load_generator = false;
  // Whether, with these parameters, the units hand the work from one to the
  // next so that only one of them can run at a time: pingpong's two, ring's
  // token, prodcons with one producer, one consumer and no buffer. A
  // kernel-scheduled cell of such a workload runs with all its units on one
  // CPU (run --pin auto; harness/sandbox/pin.hpp), so that it measures the
  // kernel's switch from one unit to the next, not where the scheduler put
  // them. Null: never. The parameters are complete (defaults filled in).
  std::function<bool(const Params&)> hands_off{};
};

// The notes' taxonomy of a model, kept as data so the report can print it.
struct Taxonomy {
  std::string unit{};           // what one concurrent unit is
  std::string scheduled_by{};   // who decides what runs next, and how
  std::string isolation{};      // what a unit shares with the others
  std::string stack{};          // what a unit's stack costs
  std::string communication{};  // how units exchange data in this suite
  std::string library{};        // what implements it
};

struct ModelInfo {
  std::string name{};
  std::string summary{};
  Taxonomy taxonomy{};
  std::vector<ParamDef> params{};  // parameters of the model itself (e.g. fiber stack size)
  // Units are separate processes: memory is read over the process tree,
  // each page once (tree_resident_bytes), instead of the cell's own peak.
  bool process_tree = false;

  // The traits by which presets and the report select models, never by name
  // (written to the results file's "models"; results/README.md):
  // The unit is a kernel task (a process or a thread) that the kernel
  // schedules; otherwise the model schedules its units in user space.
  bool kernel_scheduled = false;
  // How many units the model is expected to hold at once: for a
  // kernel-scheduled model the kernel's limit (pid_max, 32,768 by default),
  // for the others a million.
  int64_t unit_ceiling = 1'000'000;
  // The most units one cell of the default matrix gives the model where the
  // number of units is the point (spawn, skynet): a million, unless a cell
  // that large takes the model too long for a matrix of ten minutes.
  int64_t unit_budget = 1'000'000;
  // The model's parameter that sets how many OS threads run its units
  // ("threads", "gomaxprocs"); empty when it has none.
  std::string workers_param{};
  // Whether every workload's implementation takes workers_param above 1.
  // coro and boost-fiber run several threads only where their units were
  // written for it (the others refuse it in one line); the all-core rows
  // of the default matrix are for the models that take it everywhere.
  bool workers_in_every_workload = true;
  // Whether more than one worker (workers_param above 1, or 0: one per
  // core) can be set up only once per process. Boost.Fiber's work_stealing
  // keeps its scheduler table in statics, sized by the first set-up, so a
  // second pass of such a cell in the same process could not run: it runs
  // one pass per repetition, as the cells whose size is the point do
  // (passes_in_process() below).
  bool workers_set_up_once = false;
  // Whether, with workers_param at 1 (or without one), the units run one at
  // a time on one thread: such a cell is pinned to one CPU (run --pin) and,
  // unless the model is `uncountable`, may be counted under Valgrind (run
  // --count instructions); harness/sandbox/pin.hpp. uv, fiber, boost-fiber,
  // coro and go (at gomaxprocs:1 its goroutines run on one P; its runtime's
  // own threads, sysmon mostly asleep, share that CPU when pinned).
  bool one_thread = false;
  // Why `run --count instructions` cannot count this model's cells (a
  // program Valgrind cannot follow); empty: the usual rules decide.
  std::string uncountable{};
  // Set for a model outside the build (harness/registry/external.hpp): the
  // program that runs its cells, which the cell process becomes.
  std::shared_ptr<const ExternalProgram> external{};
};

// A model declared by a manifest file (docs/cell-protocol.md): a program that
// speaks the cell protocol, run in place of the cell process.
struct ExternalProgram {
  std::string manifest{};    // the manifest's path, absolute
  std::string executable{};  // the program, absolute
  int protocol = 1;          // the protocol version it speaks
  // The least address space (RLIMIT_AS) the program can start under; a lower
  // --memory-limit is the outcome `limit` rather than the program's crash.
  uint64_t min_address_space = 0;
  // What the program prints when it dies without a result, read as an
  // outcome (a runtime that aborts when it cannot get a thread or memory
  // says what ran out, and that is a `limit` like any other): a regular
  // expression over its stderr; the errno, fixed or from a capture group;
  // the message, where {1}..{9} are capture groups, {errno} the errno and
  // {strerror} its text.
  struct LastWords {
    std::string pattern{};
    std::string message{};
    int err = 0;          // fixed errno, or 0
    int errno_group = 0;  // the capture group holding the errno, or 0
    std::string outcome{};  // "limit" | "failed"; empty: limit when the errno means a resource ran out
  };
  std::vector<LastWords> last_words{};
  // Found in the default folder (every cmbench finds it without a flag), not
  // given with --external: a cell of it needs no --external argument.
  bool from_default_folder = false;
};

// Filters for preset groups, by traits. Inline: the workloads' specs use
// them, and the specs are built into cmbench_core, below the registry.
namespace by_traits {
// Processes and threads.
inline bool kernel_scheduled(const ModelInfo& m) { return m.kernel_scheduled; }
// Every model that schedules its units itself.
inline bool user_space(const ModelInfo& m) { return !m.kernel_scheduled; }
// Kernel-scheduled units that share one address space: threads.
inline bool kernel_threads(const ModelInfo& m) { return m.kernel_scheduled && !m.process_tree; }
// Units that are processes.
inline bool processes(const ModelInfo& m) { return m.process_tree; }
// Models with a workers parameter (the M:N runtimes).
inline bool with_workers(const ModelInfo& m) { return !m.workers_param.empty(); }
// Models with a workers parameter that every workload takes: the all-core
// rows, which every such model runs in each workload that has them.
inline bool with_workers_everywhere(const ModelInfo& m) {
  return with_workers(m) && m.workers_in_every_workload;
}
// User-space models whose unit_budget reaches `units`, and those whose budget
// falls short of it.
inline ModelFilter user_space_within_budget(int64_t units) {
  return [units](const ModelInfo& m) { return !m.kernel_scheduled && m.unit_budget >= units; };
}
inline ModelFilter user_space_over_budget(int64_t units) {
  return [units](const ModelInfo& m) { return !m.kernel_scheduled && m.unit_budget < units; };
}
}  // namespace by_traits

// One workload implemented in one model.
struct Impl {
  void (*run)(const Params&, Probe&);
  // Parameters the model cannot honour: an error message, or nothing. May be
  // null when the model honours every valid value.
  std::optional<std::string> (*unsupported)(const Params&) = nullptr;
};

struct Entry {
  const WorkloadSpec* workload;
  const ModelInfo* model;
  // Null for an external model's entries: the program runs them.
  const Impl* impl;
  // The implementation's source file, relative to the source folder
  // ("workloads/prodcons/fiber.cpp", "workloads/prodcons/go.go").
  const char* source;
};

const std::vector<const WorkloadSpec*>& all_workloads();
const std::vector<const ModelInfo*>& all_models();
const std::vector<Entry>& all_entries();

const WorkloadSpec* find_workload(const std::string& name);
const ModelInfo* find_model(const std::string& name);
const Entry* find_entry(const std::string& workload, const std::string& model);

// Adds a model and its entries to the registry (harness/registry/external.cpp
// does, for a manifest); throws std::invalid_argument when the name is taken.
const ModelInfo& add_model(ModelInfo model, const std::vector<std::pair<const WorkloadSpec*, std::string>>& entries);

// Whether run --min-time may run this cell's workload again in the cell
// process: the workload allows it (WorkloadSpec::passes_in_process), and
// the model can set up its workers again (ModelInfo::workers_set_up_once).
bool passes_in_process(const Entry& entry, const Params& params);
// Whether run --min-time runs this cell's passes each in a fresh cell
// process instead: the workload allows it
// (WorkloadSpec::passes_in_fresh_processes) and passes_in_process() is false.
bool passes_in_fresh_processes(const Entry& entry, const Params& params);

// The workload's and the model's parameters together, workload first.
std::vector<ParamDef> cell_param_defs(const Entry& entry);

}  // namespace cmbench

// An implementation file ends with this line, naming its run function and
// (optionally) its check of what it cannot honour:
//   CMBENCH_IMPL(prodcons, thread, run, nullptr)
#define CMBENCH_IMPL(workload, model, run_fn, unsupported_fn)            \
  namespace cmbench::impls {                                             \
  extern const ::cmbench::Impl workload##_##model;                       \
  const ::cmbench::Impl workload##_##model{run_fn, unsupported_fn};      \
  }
