#pragma once
// Google Benchmark's JSON output (`--benchmark_format=json`, version 1.7.1)
// made from a cmbench results file, so that tools written for Google
// Benchmark read cmbench's numbers unmodified: its own tools/compare.py,
// github-action-benchmark (tool `googlecpp`) and Bencher (adapter
// `cpp_google`).
#include <nlohmann/json.hpp>

namespace cmbench {

// Converts a results document (as load_results() returns it) into one
// Google Benchmark JSON document: a `context` block and a `benchmarks` array.
//
// Every ok cell becomes one "iteration" entry per measured repetition (the
// warm-up is left out, as Google Benchmark leaves out its own), with
// iterations = the repetition's operations and real_time / cpu_time = its
// wall and CPU nanoseconds per operation; with two or more repetitions it is
// followed by the mean, median, stddev and cv "aggregate" entries that Google
// Benchmark writes for repetitions. Latency percentiles, memory and the other
// metrics cmbench aggregates are user counters (plain numeric keys) under
// their cmbench names; items_per_second is operations per second.
//
// Every cell that has no numbers (not ok, or ok in a file that lacks its
// times) becomes a single entry with "error_occurred": true and an
// "error_message", and times of 0 as Google Benchmark writes for a run that
// called SkipWithError, so a reader sees the cell and why it has no number.
//
// Total over any document: a field of the wrong type is treated as absent.
nlohmann::json to_gbench(const nlohmann::json& results_doc);

}  // namespace cmbench
