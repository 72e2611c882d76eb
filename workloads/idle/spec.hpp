#pragma once
// idle: C TCP connections held open on 127.0.0.1, each served by the model's
// own unit, each seeing a trickle of requests: what an idle connection costs
// each model in memory, the "memory per connection at C10K" figure, and
// whether C idle connections slow the few that are busy. It puts a number on
// the notes' claim that callbacks arose because threads "quickly exhaust the
// server's memory and CPU" under high concurrency.
//
// Each model serves the connections the way it serves echo's
// (workloads/echo/*): a process per connection (fork), a thread per
// connection, callbacks on one libuv loop, a fiber, a Boost.Fiber fiber, a
// coroutine or a goroutine per connection, with the model's own I/O. Every
// unit echoes what it reads, reading at most kReadBuffer bytes at a time;
// where the buffer lives is the model's idiom: on the unit's stack (process,
// thread, fiber, boost-fiber), in the coroutine's frame (coro), on the Go
// heap (go), or, for the callback model, one buffer of the loop shared by
// every connection (libuv's alloc callback hands it out per read: a
// connection waiting for data holds no buffer at all, which is the callback
// model's claim to little memory per connection).
//
// The client is echo's load generator (workloads/echo/spec.hpp, LoadGen),
// the same for every model, in its idle mode (load() below):
//   1. it opens the C connections, at most 512 being opened at once, and
//      each sends one first request of kRequestBytes and waits for its echo;
//      so when it is done every connection is accepted and its unit has run
//      and parked in a read;
//   2. it signals ready; the cell reads probe.memory_parked(C) (its baseline
//      was read before the listener accepted anything) and tells it go;
//   3. the trickle: each connection sends `requests` more requests, on an
//      open-loop schedule of `rate` requests per second in all (request k is
//      due schedule_offset_ns(k, C, rate) after go; each connection sends one
//      every C / rate seconds), timed from their due times, so a stall is
//      not hidden;
//   4. it closes each connection after its last response; every unit ends.
// The operation is one trickle request answered; the latency histogram is
// theirs. Every response must equal its request byte for byte (the
// generator checks), and the server must have accepted exactly C
// connections.
//
// Descriptors: a server needs one per connection, and so does the
// generator. raise_fd_limit() raises RLIMIT_NOFILE's soft limit to the hard
// one and, when even that is below what C connections need and the cell may
// raise the hard limit (CAP_SYS_RESOURCE), the hard limit too, up to the
// kernel's fs.nr_open; the generator inherits it. What it did is noted
// (`fd_limit`). It then grows the descriptor table to hold them, before
// the timed region (reserve_descriptor_table, harness/cell/fd.hpp: in a
// multi-threaded server each doubling of the table would otherwise sleep
// for an RCU grace period, 8 to 32 ms on the development VM, inside it).
// When the limit still cannot hold C connections, no model
// can, and the cell is a `limit` (EMFILE) at once, naming the limit. A model
// that cannot hold C (pid_max or the map count stops
// processes and threads; the descriptor limit stops everyone) ends as
// `limit` with the errno and the connections it reached (note `reached`),
// as spawn does.
#include <cstddef>
#include <cstdint>
#include <string>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "workloads/echo/spec.hpp"

namespace cmbench::idle {

const WorkloadSpec& spec();

// Bytes per request and per response.
inline constexpr uint64_t kRequestBytes = 64;
// The most any server reads at once on one connection.
inline constexpr size_t kReadBuffer = 256;

// What the load generator is asked to do (its idle mode).
echo::LoadSpec load(const Params& params);

// Raises RLIMIT_NOFILE for C connections (see above); returns what it did,
// for probe.note("fd_limit", ...). Throws LimitError (EMFILE) when the limit
// cannot be raised far enough, SystemError if it cannot be read or set.
std::string raise_fd_limit(uint64_t connections);

// The message of the LimitError a model throws when it could hold only
// `reached` of the C connections: the call, its error, and how far it got.
std::string limit_message(const Params& params, uint64_t reached, const std::string& call, int err);

// The server's own check after the run: it accepted exactly C connections.
Verdict verify_accepted(const Params& params, uint64_t accepted);

}  // namespace cmbench::idle
