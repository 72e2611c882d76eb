// pingpong in the process model: two forked processes and a pair of pipes,
// one each way. Unit A writes an 8-byte value v to the A->B pipe and blocks
// reading the B->A pipe; unit B reads v, writes v + 1 back and blocks
// reading again. Every round trip is therefore two pipe writes, two blocking
// reads and two wake-ups of a sleeping process by the kernel: on two or more
// cores mostly cross-CPU wake-ups, on one core two context switches — the
// switch cost the notes attribute to processes.
//
// A reads the clock once per round trip and records the difference of
// consecutive readings into its histogram (probe.latency_histograms(1), in
// memory the probe shares with forked children); its Tally lives in an
// anonymous shared mapping so the parent can verify it after reaping.
//
// Termination: after `rounds` replies A closes its write end; B's read sees
// end of file (the parent and A hold no other copy of it: everyone closes the
// ends it does not use) and B exits. If B died, A would see end of file on
// its read and fail instead of waiting forever; if A died, B would see end
// of file and exit, and reap() would report A's failure.
#include <cstdint>
#include <new>

#include "models/process/process.hpp"
#include "workloads/pingpong/spec.hpp"

namespace cmbench::pingpong {
namespace {

namespace pm = cmbench::models::process;

void run(const Params& params, Probe& probe) {
  const uint64_t rounds = params.u("rounds");

  Histogram& hist = probe.latency_histograms(1)[0];
  const pm::SharedMapping shared(sizeof(Tally));
  Tally& tally = *new (shared.data()) Tally{};

  pm::Pipe to_b = pm::make_pipe();
  pm::Pipe to_a = pm::make_pipe();
  probe.note("unit", "forked process");
  probe.note("channel",
             "two pipes, one each way; one 8-byte write() and one blocking read() per message");

  pm::Children children(2);
  probe.start();
  // B first, so that it is already waiting when A sends.
  children.spawn([&] {
    to_b.write.close();
    to_a.read.close();
    uint64_t v;
    while (pm::read_exact(to_b.read, &v, sizeof v)) {
      const uint64_t reply = v + 1;
      pm::write_all(to_a.write, &reply, sizeof reply);
    }
  });
  children.spawn([&] {
    to_b.read.close();
    to_a.write.close();
    Tally t;
    RoundTrips laps(hist);
    for (uint64_t v = 0; v < rounds; ++v) {
      pm::write_all(to_b.write, &v, sizeof v);
      uint64_t reply;
      if (!pm::read_exact(to_a.read, &reply, sizeof reply))
        throw SystemError("pingpong: the answering process is gone", EPIPE);
      laps.lap();
      ++t.replies;
      if (reply != v + 1) ++t.wrong;
    }
    tally = t;
    // B sees end of file once this is gone: the parent closed its copy.
    to_b.write.close();
  });
  to_b.read.close();
  to_b.write.close();
  to_a.read.close();
  to_a.write.close();
  children.reap_all();
  probe.stop();

  probe.verify(verify(params, tally));
}

}  // namespace
}  // namespace cmbench::pingpong

CMBENCH_IMPL(pingpong, process, ::cmbench::pingpong::run, nullptr)
