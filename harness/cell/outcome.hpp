#pragma once
#include <optional>
#include <string>

namespace cmbench {

// How one repetition (and so one cell) ended.
enum class Outcome {
  ok,       // ran and verified
  invalid,  // ran, but verification failed: its numbers are not results
  timeout,  // killed by the watchdog
  crashed,  // died by a signal
  failed,   // an error, with errno or a library code
  limit,    // a resource ran out (itself a result: where the model stops)
};

const char* to_string(Outcome o);
std::optional<Outcome> outcome_from_string(const std::string& s);

}  // namespace cmbench
