#pragma once
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/results/results.hpp"

namespace cmbench {

// Human-readable quantities: "812 ns", "1.23 µs", "4.5 MiB", "1.2 M/s".
std::string human_ns(double ns);
std::string human_bytes(double bytes);
std::string human_rate(double per_s);

// The console table is this wide at most: a terminal's usual 120 columns.
inline constexpr size_t kTableColumns = 120;

// `text` broken at spaces into lines of at most `width` columns, every line
// after the first indented by `indent` spaces. A word longer than a line is
// kept whole: a cell name cut in two could not be searched for.
std::string fold(const std::string& text, size_t width, size_t indent);

// The console table of results cells (as in a results file's "cells"): one
// block per workload under a header naming the parameters every cell of the
// block shares, each row labelled by its model and the parameters that vary;
// then the notes grouped by kind (unstable cells in one folded list, each
// crash or limit on its own line). No line is wider than `columns`, except a
// single word (a name) too long for any line. The full names stay in the
// results file.
std::string format_table(const nlohmann::json& cells, size_t columns = kTableColumns);
void print_table(std::FILE* out, const nlohmann::json& cells);

}  // namespace cmbench
