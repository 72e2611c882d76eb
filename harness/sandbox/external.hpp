#pragma once
// The harness's side of an external model (harness/registry/external.hpp):
// the cell process becomes the model's program, and what the program
// reports is checked against the workload's spec.
#include <string>

#include "harness/cell/params.hpp"

namespace cmbench {

struct ExternalProgram;
struct RepetitionRequest;
struct RepetitionResult;

// Replaces the cell process with the program, through execv(): the same pid
// and process group, the result descriptor inherited, the memory limit
// (RLIMIT_AS) kept, so the runner's watchdog, rusage, leak checks and limits
// treat it exactly like a built-in cell. Its arguments are the protocol's
// (docs/cell-protocol.md): `cell --workload W --model M --param k=v ...
// --result-fd N --passes P --cmbench SELF`, every parameter given, already
// checked. Returns only by throwing: LimitError (ENOMEM) when the memory
// limit is below the program's min_address_space, SystemError when execv
// fails.
[[noreturn]] void exec_external(const ExternalProgram& program, const std::string& workload,
                                const std::string& model, const Params& params, int result_fd, int passes);

// What the harness re-checks of an external cell's ok result: the metrics
// are there, and the operations it reports are the spec's count for these
// parameters (times the passes) where the spec fixes the count. The program
// verifies its own result (the client library runs the spec's verifier); a
// count that differs means it measured other work than the cell asked for,
// so the repetition is `invalid`.
void check_external_result(const RepetitionRequest& req, RepetitionResult& res);

}  // namespace cmbench
