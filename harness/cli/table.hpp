#pragma once
#include <cstdio>
#include <string>
#include <vector>

#include "harness/results/results.hpp"

namespace cmbench {

// Human-readable quantities: "812 ns", "1.23 µs", "4.5 MiB", "1.2 M/s".
std::string human_ns(double ns);
std::string human_bytes(double bytes);
std::string human_rate(double per_s);

// The console table: one row per cell, then its warnings and failures.
void print_table(std::FILE* out, const std::vector<CellResult>& cells);

}  // namespace cmbench
