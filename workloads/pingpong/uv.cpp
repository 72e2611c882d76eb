// pingpong in the uv model: units A and B are two callbacks on one libuv
// loop that hand the value to each other, the way a libuv programmer writes a
// ping-pong: a message is the receiver's continuation, posted to the loop
// with the value in it. A round trip is two hand-offs and two callbacks: B's
// (v arrives, answer v + 1) and A's (the answer arrives: check it, record the
// round trip, send the next). No channel sits between them: a rendezvous
// CbChannel would add a send-completion callback per hand-off (four
// callbacks per round trip), machinery a callback program that only
// alternates does not need. prodcons, ring and the others use CbChannel,
// where queueing is the point.
//
// How a posted callback is scheduled is the loop's `continuation` policy and
// it is what this workload measures: inline, a hand-off appends the
// receiver's callback to the loop's ready queue and the trampoline calls it
// as soon as the current callback returns (no system call per switch);
// deferred, each hand-off waits for the next loop iteration (a uv_idle_t
// callback, after a zero-timeout epoll_wait). perf/perfref.cpp's uv-pingpong
// is the same exchange written against libuv alone, without the Loop class:
// scripts/perf-check compares the two.
//
// Termination: after `rounds` replies A posts B's callback once more with
// `stop` set; B ends, nothing is queued, the loop's idle handle stops, and
// uv_run returns.
#include <fmt/format.h>

#include <cstdint>
#include <optional>

#include "harness/registry/registry.hpp"
#include "models/uv/loop.hpp"
#include "workloads/pingpong/spec.hpp"

namespace cmbench::pingpong::uv {
namespace {

using cmbench::uv::Loop;
using cmbench::uv::Task;

struct Ponger;

// Unit A: sends v, expects v + 1, and times each round trip.
struct Pinger {
  Task task;  // A's callback: runs when B's answer (or the start) arrives
  Loop* loop = nullptr;
  Ponger* b = nullptr;
  Histogram* hist = nullptr;
  std::optional<RoundTrips> laps;  // made at A's first callback
  Tally tally;
  uint64_t rounds = 0;
  uint64_t sent = 0;    // the value of the round in flight
  uint64_t reply = 0;   // written by B
  bool started = false;
  bool done = false;

  void send(uint64_t v);
  static void run_cb(Task* t);
};

// Unit B: answers every v with v + 1 until A says stop.
struct Ponger {
  Task task;  // B's callback: runs when A's value arrives
  Loop* loop = nullptr;
  Pinger* a = nullptr;
  uint64_t value = 0;  // written by A
  bool stop = false;
  bool done = false;
  uint64_t answered = 0;

  static void run_cb(Task* t) {
    auto* self = static_cast<Ponger*>(t->data);
    if (self->stop) {
      self->done = true;
      return;
    }
    self->a->reply = self->value + 1;
    ++self->answered;
    self->loop->complete(&self->a->task);
  }
};

void Pinger::send(uint64_t v) {
  sent = v;
  b->value = v;
  loop->complete(&b->task);
}

void Pinger::run_cb(Task* t) {
  auto* self = static_cast<Pinger*>(t->data);
  if (!self->started) {  // the unit's first callback: send round 0
    self->started = true;
    self->laps.emplace(*self->hist);
    self->send(0);
    return;
  }
  // One clock read per round trip (workloads/pingpong/spec.hpp).
  self->laps->lap();
  ++self->tally.replies;
  if (self->reply != self->sent + 1) ++self->tally.wrong;
  if (self->tally.replies == self->rounds) {
    self->done = true;
    self->b->stop = true;
    self->loop->complete(&self->b->task);
    return;
  }
  self->send(self->sent + 2);
}

void run(const Params& p, Probe& probe) {
  const uint64_t rounds = p.u("rounds");
  const auto continuation = cmbench::uv::continuation_param(p);

  Histogram& hist = probe.latency_histograms(1)[0];
  Loop loop(continuation);
  Pinger a;
  Ponger b;

  probe.start();
  a.task.run = &Pinger::run_cb;
  a.task.data = &a;
  a.loop = &loop;
  a.b = &b;
  a.hist = &hist;
  a.rounds = rounds;
  b.task.run = &Ponger::run_cb;
  b.task.data = &b;
  b.loop = &loop;
  b.a = &a;
  loop.post(&a.task);
  loop.run();
  probe.stop();

  probe.note("continuation", cmbench::uv::continuation_note(continuation));
  probe.note("channel",
             "none: each hand-off posts the receiver's callback (a Task carrying the value) to the "
             "loop; a round trip is two hand-offs and two callbacks (B's, then A's)");

  Verdict v = verify(p, a.tally);
  if (v.ok && b.answered != rounds)
    v = Verdict::fail(fmt::format("B answered {} values, expected {}", b.answered, rounds));
  if (v.ok && (!a.done || !b.done))
    v = Verdict::fail(fmt::format("the loop ran out of work with A {} and B {}",
                                  a.done ? "finished" : "unfinished",
                                  b.done ? "finished" : "unfinished"));
  probe.verify(v);
}

}  // namespace
}  // namespace cmbench::pingpong::uv

CMBENCH_IMPL(pingpong, uv, cmbench::pingpong::uv::run, nullptr)
