#pragma once
#include <nlohmann/json.hpp>

namespace cmbench {

// Where and how a result was produced: date, host, CPU, cores, kernel,
// compiler and flags, build type, library versions, git commit, governor.
nlohmann::json collect_context();

// "Release", "Debug", ... as built.
const char* build_type();

}  // namespace cmbench
