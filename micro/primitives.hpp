#pragma once
// cmbench-micro: the primitives of each model, timed one at a time with
// Google Benchmark, where `cmbench run` times whole workloads.
//
// Four primitives, each the smallest thing the workloads are made of:
//   switch   one round trip between two units (pingpong's inner step);
//   channel  one message sent and received through the model's channel, for
//            a capacity (prodcons's inner step);
//   lock     one uncontended lock and unlock of the model's mutex (counter's
//            `lock` mode);
//   spawn    one spawn and join of a unit that does nothing (spawn's).
//
// Every model has one file, micro/<model>.cpp, that defines its table: one
// function per primitive, built on the model's own primitives (the
// cmbench_<model> libraries), never on new ones. A model that has no such
// primitive says why instead of inventing one; --help prints the reason.
// main.cpp registers a benchmark for every model of the registry
// (harness/registry/registry.hpp) whose table has the primitive, for every value of
// the primitive's own parameters and of the model's parameters, named
// `primitive/model/param:value/...` so that --benchmark_filter selects them
// the way `cmbench run --filter` selects cells.
//
// Each function gets the benchmark's State and the Params of its name
// (primitive parameters first, then the model's, every one filled in and
// checked by make_params). It sets up outside the timed region, runs the
// iterations, tears down, and reports a unit that failed or a value that
// arrived wrong with state.SkipWithError(); Google Benchmark marks that run
// "error_occurred". Errors of the primitives themselves are exceptions, as
// everywhere in the suite: main.cpp turns one that escapes into
// SkipWithError too.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "harness/cell/params.hpp"

namespace cmbench::micro {

// One primitive of one model: the benchmark function, or why there is none.
struct Primitive {
  void (*run)(benchmark::State& state, const Params& params) = nullptr;
  // When run is null: one sentence saying why the model has no such
  // primitive. --help prints it.
  const char* absent = nullptr;
  // One sentence saying what exactly an iteration is and how it is timed;
  // --help prints it.
  const char* what = nullptr;
};

// A model's table of primitives.
struct Primitives {
  Primitive switch_;
  Primitive channel;
  Primitive lock;
  Primitive spawn;
};

// The tables, one per file, looked up by the model names of the registry.
const Primitives& process_primitives();
const Primitives& thread_primitives();
const Primitives& uv_primitives();
const Primitives& fiber_primitives();

// The table of `model`, or null for a model that has none yet.
const Primitives* find_primitives(std::string_view model);

// The payload every channel and switch carries: one 64-bit value, the size
// of pingpong's and of counter's messages.
using Value = uint64_t;

// The outcome a receiving unit tallies and the sender checks after the timed
// region: how many values arrived and how many were not the one expected
// (every stream sends 0, 1, 2, ... in order, so a lost, duplicated or
// reordered value shows).
struct Receipt {
  uint64_t received = 0;
  uint64_t wrong = 0;
};

// SkipWithError() with a message unless `r` is exactly `expected` values, all
// in order. Returns whether it was.
bool check_receipt(benchmark::State& state, const Receipt& r, uint64_t expected);

}  // namespace cmbench::micro
