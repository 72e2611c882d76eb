#pragma once
// Joins results files measured as slices of one matrix (`run --shard I/N`)
// on several machines into one file.
#include <string>
#include <vector>

namespace cmbench {

// Returns the exit status: 0 written, 2 bad input (nothing written), 3 the
// write failed (the file at --out is as it was).
int run_merge(const std::vector<std::string>& files, const std::string& out, bool allow_mixed);

}  // namespace cmbench
