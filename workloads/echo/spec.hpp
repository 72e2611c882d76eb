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
// Only loopback addresses; every loop bounded in count and time.
//
// The load generator (LoadGen) runs in a process of its own (the cmbench
// binary's hidden `loadgen` command) that is not a descendant of the cell, so
// its CPU and memory never count as the server's. It opens C connections,
// and sends `requests` requests in total of S bytes each, split evenly over
// the connections; every response must equal its request byte for byte.
//   closed  each connection sends its next request when the previous
//           response is complete; latency = response complete - send;
//   open    requests are due at a fixed total rate (rate per second), spread
//           over the connections; a request that cannot be sent at its due
//           time (its connection still waits for a response) is sent as soon
//           as it can, and its latency is measured from its due time, so
//           stalls are not hidden (coordinated omission).
// A server raises RLIMIT_NOFILE to its hard limit, as a server would; when
// it cannot hold C connections (EMFILE, ENFILE, EAGAIN...) the cell is a
// `limit` with the error. The generator raises its own limit too.
//
// Protocol for an implementation:
//   listen on 127.0.0.1 port 0 (backlog >= C), read the port back;
//   probe.start(); LoadGen gen(params, port);
//   serve until gen.done_fd() is readable (single-threaded models watch it
//   on their loop or reactor; others may block in gen.wait());
//   Verdict v = gen.finish(probe);   // histogram, operations, exclusions
//   probe.stop(); shut the server down (close the listener, join/reap every
//   connection's unit); probe.verify(v).
#include <sys/types.h>

#include <cstdint>

#include "harness/params.hpp"
#include "harness/probe.hpp"
#include "harness/registry.hpp"

namespace cmbench::echo {

const WorkloadSpec& spec();

// Raises RLIMIT_NOFILE to its hard limit; returns the new soft limit.
uint64_t raise_fd_limit();

class LoadGen {
 public:
  // Starts the generator against 127.0.0.1:port. Throws SystemError on failure.
  LoadGen(const Params& params, uint16_t port);
  LoadGen(const LoadGen&) = delete;
  LoadGen& operator=(const LoadGen&) = delete;
  ~LoadGen();  // kills the generator if finish() was never called

  // A descriptor that becomes readable when the generator has finished.
  int done_fd() const { return done_fd_; }
  // Blocks until done_fd() is readable.
  void wait() const;
  // Collects the generator's result: merges its latency histogram into the
  // probe (probe.latency_histograms(1) is set up by the constructor), sets
  // the number of requests as the operations, and returns the verdict
  // (every response equal to its request, every request answered). A
  // generator that could not connect C times reports `limit`-class errors
  // as a failed verdict naming errno; a server-side LimitError is the
  // implementation's to throw.
  Verdict finish(Probe& probe);

 private:
  pid_t pid_ = -1;
  int done_fd_ = -1;
  Histogram* hist_ = nullptr;
};

// The hidden `cmbench loadgen` command's entry (harness/cli.cpp calls it).
int loadgen_main(const std::map<std::string, std::string>& params, uint16_t port, int result_fd);

}  // namespace cmbench::echo
