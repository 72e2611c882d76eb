#pragma once
// The driver's `run`: expands the selection into cells, runs every
// repetition of each in the sandbox (interleaved: in rounds, one repetition
// of each cell a round), and writes the results file after each cell ends,
// so that an interrupted run loses nothing it finished.
#include <signal.h>

#include <cstdint>
#include <string>
#include <vector>

#include "harness/cell/outcome.hpp"
#include "harness/driver/matrix.hpp"

namespace cmbench {

struct RepetitionRequest;
struct RepetitionResult;

struct RunOptions {
  Selection sel;
  int repetitions = -1;  // -1: the preset's
  int warmup = -1;
  // --min-time: the least a repetition's timed region lasts (seconds); a
  // cell whose one run of the workload is shorter runs it several times per
  // repetition (passes). -1: the preset's (Preset::min_time_s, 0.1 but for
  // quick and ci); 0: one pass always.
  double min_time_s = -1;
  double timeout_s = 120;
  uint64_t memory_limit = 0;  // bytes per cell process (RLIMIT_AS); 0: none
  std::string shard;   // "I/N": only that slice of the matrix
  std::string format = "native";  // native | gbench (also writes <out>.gbench.json)
  std::string out;
  std::string resume;  // a results file to complete
  std::string keep_core;  // --keep-core: a folder for the core files of crashed cells
  // Print the names of the cells the selection would run, one a line, and
  // run nothing (with --resume: the cells the file still lacks).
  bool list_cells = false;
  bool strict = false;    // a cell that reached a `limit` fails the run too
  bool quiet = false;     // print only the summary: no progress, no table
  std::string count;      // --count: "" (timed) or "instructions" (under Valgrind)
  std::string pin = "auto";  // --pin: auto (one-thread cells on one CPU) or off (harness/sandbox/pin.hpp)
  // --interleave (the default; --no-interleave: each cell's repetitions
  // back to back): every cell's warm-ups first, then the repetitions in
  // rounds, one of each cell a round in an order drawn from a seed
  // (round_order), so that a cell's repetitions spread over the whole run
  // instead of the few seconds of one phase of the machine's speed.
  bool interleave = true;
};

// The order of round `round` of an interleaved run of `cells` cells: a
// permutation of 0 .. cells-1 drawn from the run's seed and the round, so
// that the whole order is recorded by the seed alone.
std::vector<size_t> round_order(uint32_t seed, int round, size_t cells);

// SIGINT, SIGTERM and SIGHUP set a flag that stops the running cell and the
// matrix (and `ab`, which reads the same flag); a second signal, or one
// second without the run having ended, ends it at once (exit status 130).
void install_interrupt_handlers();
const volatile sig_atomic_t* interrupted_flag();

// Whether a cell that ended with `o` lets `run` exit 0. A `limit` is a
// result the suite exists to find (where a model stops), so it passes unless
// `strict`; crashed, invalid, timeout and failed never do.
bool outcome_passes(Outcome o, bool strict);

// The numbers of run's (and ab's) flags, checked the same way for the
// command line and for what a --resume'd file stored. Each returns the
// one-line message naming the flag and what it accepts, or "" when fine.
std::string check_timeout(double seconds);               // finite, 0.1 to 86400
std::string check_repetitions(int n);                    // -1, or 1 to 1000 (0 measures nothing)
std::string check_min_time(double seconds);              // -1, or 0 to 60
std::string check_shard(const std::string& spec);        // "" or I/N, digits, 1 <= I <= N <= 999999
std::string check_params(const std::vector<std::string>& params);  // no key twice
std::string check_pin(const std::string& pin);           // auto or off
// --count: "" or "instructions"; with "instructions", every cell must be one
// Valgrind can count (one thread, user space) and the machine must have it.
std::string check_count(const std::string& count, const std::vector<Cell>& cells);
// --count instructions needs few repetitions and no warm-up: the counts are
// the same in every run. These are its defaults when the flags are not given.
inline constexpr int kCountRepetitions = 3;
inline constexpr int kCountWarmup = 0;

// The default --min-time, 0.1 s (the default and full presets'; quick and
// ci take 0.01 s to keep to their minute and three). On the 2-core development VM, cells whose
// timed region lasted under 20 ms had a median CV of 10% and those of 100 ms
// or more 7% (issue 16's survey of the default matrix); 0.1 s is where that
// gain is had, and it keeps the default matrix in its 10 minutes: a cell's
// warm-up and five repetitions then time at least 0.6 s.
inline constexpr double kDefaultMinTimeS = 0.1;
// The most passes a repetition runs, whatever --min-time asks.
inline constexpr int kMaxPasses = 10000;

// The passes that make a repetition whose one pass timed `pass_s` seconds
// (and took `elapsed_s` seconds whole, set-up included) last at least
// `min_time_s`: with a fifth more than the ratio, so that a pass a little
// faster than the calibrating one still clears it; at most kMaxPasses, and
// never so many that the repetition would take more than half of
// `timeout_s`. 1 when min_time_s is 0 or one pass is long enough.
int passes_for(double min_time_s, double pass_s, double elapsed_s, double timeout_s);

// The most fresh cell processes one repetition runs, one pass each, for a
// cell whose passes cannot share a process (passes_in_fresh_processes):
// each costs a process start (about 5 ms on the development VM), so these
// are many fewer than kMaxPasses.
inline constexpr int kMaxProcessPasses = 20;

// Calibrates a cell's passes from its first warm-up (`first`, one pass):
// passes in its process (req.passes) where the cell allows them, else in
// fresh processes (`process_passes`, at most kMaxProcessPasses) where it
// allows those, else one.
void calibrate_passes(const Cell& cell, const RepetitionResult& first, double min_time_s, double timeout_s,
                      RepetitionRequest& req, int& process_passes);

// One repetition of req's cell: req.passes passes in one cell process, or,
// with `process_passes` above 1, that many cell processes of one pass each
// (req.passes must then be 1), added up (add_process_passes). The first
// pass that is not ok ends the repetition with its outcome, its message
// saying which pass it was.
RepetitionResult run_passes(const RepetitionRequest& req, int process_passes);
// One repetition from passes that each ran in a fresh process, all ok: the
// timed regions, operations, CPU time and context switches (and the cell
// processes' rusage, time and stops) added up, and the per-operation
// figures made again from the sums, as Probe does within a process; the
// speed loop's time their mean, the memory peak their highest; memory per
// unit the first pass's (each describes N fresh units), a workload's own
// metrics the last's, as within a process. Throws std::invalid_argument
// for a latency histogram (percentiles do not add up) or no parts.
RepetitionResult add_process_passes(std::vector<RepetitionResult> parts);

// `cmbench run`. Exit status: 0 when every cell passes (outcome_passes), 1
// when some cell does not, 2 bad input, 3 the results file could not be
// written (it keeps the last complete write), 130 interrupted.
int run_matrix(RunOptions opt, const std::vector<std::string>& argv);

}  // namespace cmbench
