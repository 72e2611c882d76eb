#pragma once
// Parking, announcing and sleeping: the process model's primitives for the
// workloads whose units wait rather than talk (spawn, sleepers) and for the
// creator that must know when every unit is alive. They build on process.hpp
// (Fd, read_exact/write_all, retry_on_eintr) and follow its rules: errors
// are exceptions carrying errno, EINTR is retried, nothing here allocates.
#include <cstdint>

#include "models/process/process.hpp"

namespace cmbench::models::process {

// A unit says "I am here" (parked, started, ...): one byte written to a pipe
// that all units share and only the creator reads. One byte is below
// PIPE_BUF, so announcements never interleave, and the creator counts bytes.
void announce(const Fd& fd);

// The creator's half: reads from `fd` until `n` announcements (bytes) have
// arrived and returns n, or returns how many arrived before end of file if
// every writer is gone first. For that to mean "some unit ended without
// announcing" rather than hang, the creator closes its own write end once
// every unit exists, and each unit closes its copy after announcing. Reads
// in chunks: announcements are counted, not taken one read() at a time.
uint64_t await_announcements(const Fd& fd, uint64_t n);

// A unit's park: blocks in read() on the read end of a release pipe until
// end of file, which comes when the last holder of the write end closes it.
// That is how one close() in the creator releases every parked unit at once
// (a byte written would wake only one reader). Throws SystemError if data
// arrives instead: the release pipe is only ever closed, never written.
void park_until_eof(const Fd& fd);

// Sleeps until `deadline_ns` on CLOCK_MONOTONIC (the clock now_ns() reads)
// with clock_nanosleep(TIMER_ABSTIME). The deadline is absolute, so an EINTR
// retry sleeps to the same instant and lateness never accumulates across
// sleeps. clock_nanosleep returns its error instead of setting errno, so the
// EINTR retry is spelled out here rather than through retry_on_eintr().
void sleep_until(int64_t deadline_ns);

}  // namespace cmbench::models::process
