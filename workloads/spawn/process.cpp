// spawn in the process model: N forked children, each parked in read() on a
// release pipe.
//
// Every child inherits both ends of two pipes. It closes the release pipe's
// write end and the announcement pipe's read end at once, writes one byte
// ("parked") to the announcement pipe, closes that too, and blocks reading
// the release pipe. The parent forks all N, closes its own announcement
// write end, reads N bytes (pm::await_announcements), calls
// probe.memory_parked(N) — PSS summed over the cell's process tree, plus the
// kernel's page tables, stacks and slab — and then closes the release pipe's
// write end: the last copy, since every child closed its own, so every
// parked read() returns end of file at once and each child _exit()s. The
// parent reaps all N; a child counts as finished when it exited with status
// 0 after its park.
//
// The per-unit cost is kept honest: a child allocates nothing after fork,
// touches only the few stack pages its path needs (each a copy-on-write
// fault), and leaves through _exit() (pm::fork_child), so no destructor or
// atexit handler walks the parent's heap and dirties more of it.
//
// Limits: fork fails with EAGAIN when the machine's pids (kernel.pid_max,
// 32,768 by default) or threads-max run out, or RLIMIT_NPROC for a
// non-root user, and with ENOMEM when memory does. The parent then waits for
// the announcements of the children it has (so none is left mid-announce),
// releases and reaps them, notes "reached" and throws LimitError with
// spawn::limit_message(). If a child ended without announcing, the
// announcement pipe reaches end of file instead of the parent waiting
// forever, and the cell fails.
#include <cstdint>
#include <string>

#include "models/process/park.hpp"
#include "models/process/process.hpp"
#include "workloads/spawn/spec.hpp"

namespace cmbench::spawn {
namespace {

namespace pm = cmbench::models::process;

void run(const Params& params, Probe& probe) {
  const uint64_t n = params.u("units");

  pm::Pipe parked = pm::make_pipe();
  pm::Pipe release = pm::make_pipe();
  probe.note("unit", "forked process");
  probe.note("park", "read() on a release pipe until end of file; released by closing its "
                     "write end, one close() for all units");
  probe.note("announce", "one byte per unit on a shared pipe, counted by the parent");

  // Declared after the pipes, so that on an error the children are killed
  // and reaped before the pipes close.
  pm::Children children(n);
  probe.memory_baseline();
  probe.start();
  int fork_err = 0;
  try {
    for (uint64_t i = 0; i < n; ++i) {
      children.spawn([&] {
        release.write.close();
        parked.read.close();
        pm::announce(parked.write);
        parked.write.close();
        pm::park_until_eof(release.read);
      });
    }
  } catch (const LimitError& e) {
    fork_err = e.err();
  }
  const uint64_t reached = children.size();
  // The parent's copy must go, or a child that died before announcing would
  // leave this waiting forever rather than reading end of file.
  parked.write.close();
  const uint64_t announced = pm::await_announcements(parked.read, reached);
  if (announced != reached)
    throw SystemError("spawn: only " + std::to_string(announced) + " of " +
                          std::to_string(reached) +
                          " children announced that they were parked; the others ended first",
                      0);
  if (fork_err == 0) probe.memory_parked(n);
  release.write.close();
  children.reap_all();
  if (fork_err != 0) {
    probe.note("reached", reached);
    throw LimitError(limit_message(params, reached, "fork", fork_err), fork_err);
  }
  probe.stop();

  // reap_all() throws unless every child exited with status 0 after its
  // park, so every child reaped is a finished unit.
  probe.verify(verify(params, announced, children.size()));
}

}  // namespace
}  // namespace cmbench::spawn

CMBENCH_IMPL(spawn, process, ::cmbench::spawn::run, nullptr)
