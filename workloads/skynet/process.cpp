// skynet in the process model: every unit of the tree is a forked process.
//
// The cell process forks the root unit and reads one 8-byte result from a
// pipe of its own. An inner unit covering `leaves` leaves makes one pipe,
// forks its 10 children (each covering a tenth of its leaves) with the write
// end of that pipe as their output, closes its own copy of the write end,
// reads 10 results from the read end, reaps its 10 children, and writes the
// sum to its own output. A leaf writes its ordinal. Every result is one
// write() of 8 bytes, which POSIX makes atomic (<= PIPE_BUF), so the ten
// children's writes never interleave and one read of 8 bytes is one child's
// result. Units are created as the tree unfolds and an inner unit stays alive
// until its whole subtree has reported, so up to every unit of the tree is
// alive at once: 1,111 processes for 1,000 leaves.
//
// Descriptors: a unit holds its output and, if inner, both ends of its own
// pipe. A child closes the two it inherits and does not use (its parent's
// output and the read end of its parent's pipe), so each pipe's write end is
// held only by the ten children that write to it; if one of them dies
// without writing, its parent reads end of file instead of waiting forever.
//
// Failure: a unit that cannot make its pipe or fork a child (EAGAIN at
// pid_max or RLIMIT_NPROC, ENOMEM) forks no further, collects the results of
// the children it has and reaps them, and reports a failure instead of a sum:
// the value kFailed | errno. Sums cannot have the top bit set (the largest,
// for 10 million leaves, is below 2^46), so a failure is never mistaken for
// a sum. A unit that receives a failure from a child, reads end of file
// early, or reaps a child that failed, reports a failure too (the first errno
// it saw), after collecting and reaping all its children as usual. So every
// unit always ends after its own bounded subtree, nothing waits on a unit
// that no longer exists, and the root's result reaches the cell, which throws
// LimitError (or SystemError) through throw_errno with that errno: the cell
// becomes `limit`. A unit that fails outright (killed) is seen by its parent
// as end of file or a failed reap, and reported the same way with errno 0.
#include <sys/wait.h>

#include <array>
#include <cstdint>
#include <string>

#include "models/process/process.hpp"
#include "workloads/skynet/spec.hpp"

namespace cmbench::skynet {
namespace {

namespace pm = cmbench::models::process;

constexpr uint64_t kFanOut = 10;
// A result with this bit set is a failure; the low bits carry the errno.
constexpr uint64_t kFailed = uint64_t{1} << 63;

uint64_t failure(int err) { return kFailed | static_cast<uint64_t>(err < 0 ? 0 : err); }

// Waits for child `pid` without throwing: false if it failed or was killed.
bool reaped_ok(pid_t pid) {
  int status = 0;
  if (pm::retry_on_eintr([&] { return ::waitpid(pid, &status, 0); }) < 0) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

void unit(uint64_t first, uint64_t leaves, pm::Fd& out);

// The result of an inner unit covering leaves [first, first + leaves): the
// sum of its children's results, or a failure.
uint64_t inner(uint64_t first, uint64_t leaves, pm::Fd& out) {
  pm::Pipe sums;
  try {
    sums = pm::make_pipe();
  } catch (const LimitError& e) {
    return failure(e.err());
  } catch (const SystemError& e) {
    return failure(e.err());
  }
  const uint64_t step = leaves / kFanOut;
  std::array<pid_t, kFanOut> kids{};
  size_t forked = 0;
  uint64_t result = 0;
  try {
    for (; forked < kFanOut; ++forked) {
      kids[forked] = pm::fork_child([&, i = forked] {
        // Neither is this child's: the grandparent's pipe must see end of
        // file when its writers end, and this unit's read end is its own.
        out.close();
        sums.read.close();
        unit(first + i * step, step, sums.write);
      });
    }
  } catch (const LimitError& e) {
    result = failure(e.err());
  } catch (const SystemError& e) {
    result = failure(e.err());
  }
  // Only the children hold the write end now: end of file means they are
  // all gone.
  sums.write.close();
  for (size_t got = 0; got < forked; ++got) {
    uint64_t v = 0;
    bool read = false;
    try {
      read = pm::read_exact(sums.read, &v, sizeof v);
    } catch (const SystemError& e) {
      v = failure(e.err());
      read = true;
    }
    if (!read) {
      if (!(result & kFailed)) result = failure(0);
      break;
    }
    if (v & kFailed) {
      if (!(result & kFailed)) result = v;
    } else if (!(result & kFailed)) {
      result += v;
    }
  }
  for (size_t i = 0; i < forked; ++i)
    if (!reaped_ok(kids[i]) && !(result & kFailed)) result = failure(0);
  return result;
}

// Runs one unit in the current (forked) process and writes its result to
// `out`; the caller (pm::fork_child) then _exit()s.
void unit(uint64_t first, uint64_t leaves, pm::Fd& out) {
  const uint64_t result = leaves == 1 ? first : inner(first, leaves, out);
  pm::write_all(out, &result, sizeof result);
}

void run(const Params& params, Probe& probe) {
  const uint64_t leaves = params.u("leaves");

  pm::Pipe root_out = pm::make_pipe();
  probe.note("unit", "forked process");
  probe.note("channel", "one pipe per inner unit, read by it and written by its 10 children: one "
                        "8-byte write() each (atomic: <= PIPE_BUF)");
  probe.note("failure", "a unit that cannot fork or make its pipe reports 2^63 | errno instead "
                        "of a sum after collecting and reaping the children it has; the root's "
                        "failure becomes the cell's error");

  pm::Children children(1);
  probe.start();
  children.spawn([&] {
    root_out.read.close();
    unit(0, leaves, root_out.write);
  });
  root_out.write.close();
  uint64_t result = 0;
  const bool got = pm::read_exact(root_out.read, &result, sizeof result);
  children.reap_all();
  if (!got) throw SystemError("skynet: the root unit ended without reporting", 0);
  if (result & kFailed) {
    const int err = static_cast<int>(result & ~kFailed);
    if (err == 0)
      throw SystemError("skynet: a unit of the tree ended without reporting its result", 0);
    throw_errno("fork or pipe2 in a unit of the skynet tree", err);
  }
  probe.stop();

  probe.verify(verify(params, result));
}

}  // namespace
}  // namespace cmbench::skynet

CMBENCH_IMPL(skynet, process, ::cmbench::skynet::run, nullptr)
