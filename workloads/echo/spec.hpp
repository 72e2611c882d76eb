#pragma once
// echo: a TCP echo server on 127.0.0.1, written in each model, under one load
// generator shared by all models:
//   process  the cell process accepts; a forked child per connection echoes
//            until EOF; the acceptor reaps them;
//   thread   an acceptor thread; a thread per connection, blocking read/write;
//   uv       one loop: uv_tcp_t listen, uv_read_start, uv_write;
//   fiber    a fiber per connection with synchronous-looking read/write that
//            park the fiber on the runtime's own reactor (epoll) when the
//            socket is not ready — as the notes describe Go's system calls.
// Only loopback addresses; every loop bounded in count and time. Every
// server sets TCP_NODELAY on the connections it accepts (the generator does
// on its own), so a small response is never held back by Nagle's algorithm,
// and reads into a per-connection buffer of kReadBuffer bytes, so that no
// model reads in larger chunks than another.
//
// The load generator (LoadGen) runs in a process of its own, the cmbench
// binary re-executed (/proc/self/exe) as its hidden `loadgen` command. It is
// deliberately not a descendant of the cell: the constructor double-forks
// (the intermediate child exits at once and is reaped, its few microseconds
// of CPU left out with probe.exclude_child_usage), and the generator calls
// setsid(). So its CPU time never reaches the cell's RUSAGE_CHILDREN, its
// memory is not in the process tree whose PSS the harness sums for the
// process model, and it is not in the cell's process group that the harness
// checks for leftovers. A child reaped with wait4 and excluded would do for
// CPU but not for memory, which is why it is a grandchild. It cannot outlive
// the cell for long: it watches a "lifeline" pipe whose write end only the
// cell holds (end of file = the cell is gone, it quits at once), it has a
// hard deadline (kDeadlineSeconds) after which it gives up and reports, and
// the destructor kills it (through a pidfd) if finish() was never called.
// When the cell is pinned to one CPU (run --pin auto), the generator moves
// to the CPUs the cell left before its first connection
// (harness/cell/cpus.hpp), and the cell notes them (load_generator_cpus).
//
// It is single-threaded (epoll), raises RLIMIT_NOFILE to its hard limit,
// opens C connections (non-blocking connect), and sends `requests` requests
// in total of S bytes each, split evenly over the connections (connection j
// sends requests_of(requests, C, j)); every response must equal its request
// byte for byte (the content depends on the connection and the request, so a
// response sent to the wrong connection or out of order is caught).
//   closed  each connection sends its first request as soon as it is
//           connected and its next one when the previous response is
//           complete; latency = response complete - send;
//   open    the schedule starts once all C connections are established:
//           request k of the run (k = i * C + j is connection j's i-th) is
//           due at start + k / rate seconds, so the total rate is `rate`
//           per second spread evenly over the connections. A connection has
//           at most one request outstanding; a request that cannot be sent
//           at its due time (its connection still waits for a response) is
//           sent as soon as that response is complete, and its latency is
//           measured from its due time, so stalls are not hidden
//           (coordinated omission).
// A connection is closed by the generator as soon as its last response is
// complete, so the server's per-connection unit sees end of file and ends;
// every connection is closed before the generator reports. The generator
// stops at the first error (a connect, read or write failing, a connection
// closed by the server early, a response byte that differs) and reports it
// with its errno, so a broken server ends the cell at once rather than at a
// timeout.
//
// A server raises RLIMIT_NOFILE to its hard limit (raise_fd_limit), as a
// server would. When it cannot hold C connections (accept failing with
// EMFILE or ENFILE, a thread or a process that cannot be created: EAGAIN...)
// it stops serving, closes its listener and every connection, ends its units
// and throws the error (throw_errno: the cell is a `limit` with the errno),
// without waiting for the generator — whose destructor then kills it.
//
// Protocol for an implementation:
//   raise_fd_limit(C); listen on 127.0.0.1 port 0 (backlog kBacklog(C)), read
//   the port back;
//   probe.start(); LoadGen gen(params, port);
//   serve until gen.done_fd() is readable (single-threaded models watch it
//   on their loop or reactor; others may block in gen.wait());
//   if the server hit an error: tear down and throw it (see above);
//   Verdict v = gen.finish(probe);   // histogram, operations, its errors
//   shut the server down: close the listener, join/reap every connection's
//   unit (they are ending: every connection got end of file);
//   probe.stop(); probe.verify(v); destroy gen after stop() (its destructor
//   waits, briefly, for the generator process to be gone).
// Units are joined before stop() so that a process model's reaped children
// count in the cell's CPU time, the same for every model.
//
// Test binaries: the generator re-executes /proc/self/exe, so a test binary
// that runs echo must itself answer to `loadgen`: define main as
//   int main(int argc, char** argv) {
//     if (argc > 1 && std::string_view(argv[1]) == "loadgen")
//       return cmbench::echo::loadgen_main(argc, argv);
//     testing::InitGoogleTest(&argc, argv);
//     return RUN_ALL_TESTS();
//   }
// (tests/unit/echo_test.cpp does). Anything else makes finish() throw
// SystemError naming the executable.
#include <sys/resource.h>
#include <sys/types.h>

#include <cstddef>
#include <cerrno>
#include <cstdint>
#include <string>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"

namespace cmbench::echo {

namespace detail {
struct LoadGenShared;  // the mapping the generator reports through (loadgen.cpp)
}  // namespace detail

const WorkloadSpec& spec();

// Bytes each server reads at most per read call, per connection.
constexpr size_t kReadBuffer = 16 * 1024;
// The generator gives up and reports after this long, whatever happens.
constexpr int kDeadlineSeconds = 600;
// The listen backlog for C connections: every connection the generator opens
// at once fits in the accept queue (capped by the kernel's somaxconn).
constexpr int kBacklog(uint64_t connections) {
  return connections < 128 ? 128 : connections > 65535 ? 65535 : static_cast<int>(connections);
}

// Opens a TCP listener on 127.0.0.1 with a port the kernel chooses (written
// to `port`) and returns its descriptor, which the caller owns. `socket_flags`
// adds SOCK_NONBLOCK for servers that poll; SOCK_CLOEXEC is always set.
int listen_loopback(int backlog, int socket_flags, uint16_t& port);

// The client went away: like end of file, the end of the connection, not a
// failure of the server (the generator reports what it did not get back).
inline bool client_gone(int err) { return err == ECONNRESET || err == EPIPE; }

// Requests connection j of C sends: `requests` split evenly, the first
// requests % C connections taking one more.
constexpr uint64_t requests_of(uint64_t requests, uint64_t connections, uint64_t j) {
  return requests / connections + (j < requests % connections ? 1 : 0);
}

// The open-loop schedule (loop=open, and the idle mode's trickle): request k
// of the run (k = i * C + j, connection j's i-th) is due this long after the
// schedule starts, `base` being the first request on it (0; C in the idle
// mode, whose first requests are not on the schedule). So the total rate is
// `rate` per second and each connection sends one request every C / rate
// seconds, the connections evenly staggered.
constexpr int64_t schedule_offset_ns(uint64_t k, uint64_t base, uint64_t rate) {
  return static_cast<int64_t>(static_cast<unsigned __int128>(k - base) * 1'000'000'000u / rate);
}

// Raises RLIMIT_NOFILE to its hard limit and grows the descriptor table to
// hold `connections` more than the few already open
// (reserve_descriptor_table, harness/cell/fd.hpp: a multi-threaded process
// would otherwise sleep in the kernel at each doubling of the table, inside
// its timed region); returns the new soft limit. Throws SystemError if
// setrlimit fails.
uint64_t raise_fd_limit(uint64_t connections);

// What the generator is asked to do. Echo's comes from its parameters
// (LoadGen(params, port)); the idle workload (workloads/idle/spec.hpp) makes
// its own with loop "idle": the connections are opened at most a window at
// a time, each sends one first request (closed loop, not timed), then the
// generator signals ready (next_signal()), and once the cell calls go() each
// connection sends `trickle` more on the open-loop schedule at `rate` in
// all, timed from their due times. `requests` is the number of responses
// expected in all: C * (1 + trickle) in the idle mode.
struct LoadSpec {
  uint64_t connections = 0;
  uint64_t requests = 0;
  uint64_t size = 0;
  std::string loop;  // closed | open | idle
  uint64_t rate = 1;
  uint64_t trickle = 0;
};
// How many descriptors the process has open (read from /proc/self/fd), or
// -1 if that cannot be read.
int64_t open_descriptors();

class LoadGen {
 public:
  // Starts the generator against 127.0.0.1:port (see above: double fork,
  // exec of /proc/self/exe loadgen). Throws LimitError when fork fails for
  // lack of resources, SystemError on any other failure.
  LoadGen(const Params& params, uint16_t port);
  LoadGen(const LoadSpec& spec, uint16_t port);
  LoadGen(const LoadGen&) = delete;
  LoadGen& operator=(const LoadGen&) = delete;
  // Kills the generator if finish() was never called; in any case waits
  // (at most a few seconds) until the generator process is gone.
  ~LoadGen();

  // A descriptor that becomes readable when the generator has finished
  // (it wrote its report, or it died: end of file).
  int done_fd() const { return done_fd_; }
  // Blocks until done_fd() is readable (bounded by the generator's deadline).
  void wait() const;

  // The idle mode's signals. Once done_fd() is readable, next_signal() reads
  // what is there: `ready` (every connection is open and answered its first
  // request), `done` (the report is written, or the generator died), or
  // `none` (nothing yet: a spurious wake-up). After `ready` done_fd() is
  // readable again when the generator is done.
  enum class Signal { none, ready, done };
  Signal next_signal();
  // Lets the generator start the trickle (after `ready`; the cell reads its
  // memory in between). Throws SystemError if the generator is gone.
  void go();
  // Collects the generator's result, after done_fd() is readable (waits if
  // it is not yet): sets up probe.latency_histograms(1) and copies the
  // generator's latency histogram into it, sets the operations to the
  // requests answered, leaves the generator's start-up fork out of the CPU
  // time, notes how the load was generated, and returns the verdict: ok when
  // every request was answered byte for byte, else a failure naming the
  // first error (its call and errno, or the connection and offset where a
  // response differed) and the counts. Throws LimitError when the generator
  // itself ran out of a resource (it could not open C sockets or find C
  // ephemeral ports: EMFILE, ENFILE, EADDRNOTAVAIL...), since such a run
  // says nothing about the server; throws SystemError when the generator
  // ended without a report (it could not be executed, or it was killed).
  Verdict finish(Probe& probe);

  // The port of the most recent LoadGen constructed in this process; for
  // tests that check no listener is left on it.
  static uint16_t last_port();

 private:
  detail::LoadGenShared* shared_ = nullptr;
  uint64_t requests_ = 0;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int done_fd_ = -1;
  int lifeline_fd_ = -1;
  bool finished_ = false;
  bool done_seen_ = false;
  rusage fork_usage_{};
  std::string exe_;
  std::string loop_;
  uint64_t connections_ = 0;
  std::string cpus_;  // where the generator runs, when the cell is pinned (harness/cell/cpus.hpp)
};

// The hidden `cmbench loadgen` command's entry, argv[1] being "loadgen":
// harness/cli/cli.cpp calls it before parsing anything else. The generator
// reads its parameters from argv (key=value) and talks to the cell through
// descriptors 3 (the report mapping), 4 (done) and 5 (lifeline). Returns the
// process exit status.
int loadgen_main(int argc, char** argv);

}  // namespace cmbench::echo
