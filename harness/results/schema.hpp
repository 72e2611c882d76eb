#pragma once
// The results file's schema, checked on every file a command reads (compare,
// merge, export, report, run --resume): every field results/README.md
// documents has its type checked where it is present and required where the
// readers need it, numbers are finite, within bounds and of the right sign,
// and the document is no deeper than any file cmbench writes. A file that
// fails is refused with one line naming the field ("cells[3].repetitions[0]
// .metrics.ns_per_op: -5 is not accepted: a positive number") — never an
// exception from deep inside a reader, a stack overflow or a figure shown as
// "inf s".
#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace cmbench {

// The deepest nesting a results file may have: cmbench writes about 8
// levels (cells, repetitions, metrics, latency_ns; a crash's backtrace);
// notes are flat. Checked on the text, before it is parsed.
inline constexpr size_t kMaxResultsDepth = 64;
// The largest magnitude a number may have: 1e18 ns is 31 years per
// operation, 1e18 bytes an exabyte. Beyond it a figure is an error, and
// arithmetic on it (ratios, sums) would overflow into infinity.
inline constexpr double kMaxResultsMagnitude = 1e18;

// Throws std::invalid_argument("<path>: <field>: ...") when the text nests
// deeper than kMaxResultsDepth (counted outside strings).
void check_json_depth(std::string_view text, const std::string& path);

// Throws std::invalid_argument("<path>: <field>: ...") at the first field
// that does not fit the schema. `doc` already passed parse_results's outline
// checks (schema name, version, a cells array).
void validate_results(const nlohmann::json& doc, const std::string& path);

}  // namespace cmbench
