// pingpong in the uv model: units A and B are callbacks on one libuv loop,
// handing the value to each other over two rendezvous CbChannels, A->B and
// B->A (capacity 0, the callback counterpart of the fiber model's unbuffered
// channel each way).
//
// A sends v on `to_b`; its on_sent callback then receives on `to_a`. B's
// on_value callback gets v and sends v + 1 on `to_a`; its on_sent callback
// receives on `to_b` again. A's on_value callback checks the reply, records
// the round trip, and sends the next value. With capacity 0 a send completes
// only once the receiver has taken the value, the receiver's callback being
// scheduled before the sender's (models/uv/cb_channel.hpp), so a round trip
// is two hand-offs and four callbacks: B's on_value, A's on_sent, A's
// on_value, B's on_sent.
//
// How a woken callback is scheduled is the loop's `continuation` policy and
// it is what this workload measures: inline, each hand-off appends the woken
// callback to the loop's ready queue and the trampoline calls it as soon as
// the current callback returns (no system call per switch); deferred, each
// generation of callbacks waits for the next loop iteration (a uv_idle_t
// callback, after a zero-timeout epoll_wait).
//
// Termination: after `rounds` replies A closes `to_b`; B's parked receive
// completes with nullopt and B ends. Then nothing is queued, the loop's idle
// handle stops, and uv_run returns.
#include <fmt/format.h>

#include <cstdint>
#include <optional>

#include "harness/registry.hpp"
#include "models/uv/cb_channel.hpp"
#include "models/uv/loop.hpp"
#include "workloads/pingpong/spec.hpp"

namespace cmbench::pingpong::uv {
namespace {

using cmbench::uv::CbChannel;
using cmbench::uv::Loop;
using cmbench::uv::RecvReq;
using cmbench::uv::SendReq;
using cmbench::uv::Task;

// Unit A: sends v, expects v + 1, and times each round trip.
struct Pinger {
  Task start;  // posted to the loop: the unit's first callback
  SendReq<uint64_t> send_req;
  RecvReq<uint64_t> recv_req;
  CbChannel<uint64_t>* to_b = nullptr;
  CbChannel<uint64_t>* to_a = nullptr;
  Histogram* hist = nullptr;
  Tally tally;
  uint64_t rounds = 0;
  uint64_t value = 0;  // the value of the round in flight
  int64_t last_ns = 0;  // the clock reading at the end of the previous round
  int send_errors = 0;
  bool done = false;

  void send_next() {
    send_req.value = value;
    to_b->send(&send_req, &on_sent_cb);
  }

  static void start_cb(Task* t) {
    auto* self = static_cast<Pinger*>(t->data);
    self->last_ns = now_ns();
    self->send_next();
  }

  static void on_sent_cb(SendReq<uint64_t>* req, int status) {
    auto* self = static_cast<Pinger*>(req->data);
    if (status != 0) {
      ++self->send_errors;
      self->to_b->close();
      return;
    }
    self->to_a->recv(&self->recv_req, &on_value_cb);
  }

  static void on_value_cb(RecvReq<uint64_t>* req, std::optional<uint64_t>& reply) {
    auto* self = static_cast<Pinger*>(req->data);
    if (!reply) {  // B closed its side: only after an error
      self->to_b->close();
      return;
    }
    // One clock read per round trip; a sample is the difference of two
    // consecutive readings (workloads/pingpong/spec.hpp).
    const int64_t now = now_ns();
    self->hist->record(static_cast<uint64_t>(now - self->last_ns));
    self->last_ns = now;
    ++self->tally.replies;
    if (*reply != self->value + 1) ++self->tally.wrong;
    if (self->tally.replies == self->rounds) {
      self->done = true;
      self->to_b->close();
      return;
    }
    self->value += 2;
    self->send_next();
  }
};

// Unit B: answers every v with v + 1 until A closes its channel.
struct Ponger {
  Task start;
  SendReq<uint64_t> send_req;
  RecvReq<uint64_t> recv_req;
  CbChannel<uint64_t>* to_b = nullptr;
  CbChannel<uint64_t>* to_a = nullptr;
  int send_errors = 0;
  bool done = false;

  static void start_cb(Task* t) {
    auto* self = static_cast<Ponger*>(t->data);
    self->to_b->recv(&self->recv_req, &on_value_cb);
  }

  static void on_value_cb(RecvReq<uint64_t>* req, std::optional<uint64_t>& v) {
    auto* self = static_cast<Ponger*>(req->data);
    if (!v) {
      self->done = true;
      return;
    }
    self->send_req.value = *v + 1;
    self->to_a->send(&self->send_req, &on_sent_cb);
  }

  static void on_sent_cb(SendReq<uint64_t>* req, int status) {
    auto* self = static_cast<Ponger*>(req->data);
    if (status != 0) {
      ++self->send_errors;
      self->done = true;
      return;
    }
    self->to_b->recv(&self->recv_req, &on_value_cb);
  }
};

void run(const Params& p, Probe& probe) {
  const uint64_t rounds = p.u("rounds");
  const auto continuation = cmbench::uv::continuation_param(p);

  Histogram& hist = probe.latency_histograms(1)[0];
  Loop loop(continuation);
  CbChannel<uint64_t> to_b(loop, 0);
  CbChannel<uint64_t> to_a(loop, 0);
  Pinger a;
  Ponger b;

  probe.start();
  a.start.run = &Pinger::start_cb;
  a.start.data = &a;
  a.send_req.data = &a;
  a.recv_req.data = &a;
  a.to_b = &to_b;
  a.to_a = &to_a;
  a.hist = &hist;
  a.rounds = rounds;
  b.start.run = &Ponger::start_cb;
  b.start.data = &b;
  b.send_req.data = &b;
  b.recv_req.data = &b;
  b.to_b = &to_b;
  b.to_a = &to_a;
  // B first, so that A's first send finds B's receive parked.
  loop.post(&b.start);
  loop.post(&a.start);
  loop.run();
  probe.stop();

  probe.note("continuation", cmbench::uv::continuation_note(continuation));
  probe.note("channel",
             "two rendezvous CbChannel<uint64_t> (capacity 0), one each way; a round trip is "
             "two hand-offs and four callbacks (B on_value, A on_sent, A on_value, B on_sent)");

  Verdict v = verify(p, a.tally);
  if (v.ok && (a.send_errors != 0 || b.send_errors != 0))
    v = Verdict::fail(fmt::format("{} sends failed on a closed channel",
                                  a.send_errors + b.send_errors));
  if (v.ok && (!a.done || !b.done))
    v = Verdict::fail(fmt::format("the loop ran out of work with A {} and B {}",
                                  a.done ? "finished" : "unfinished",
                                  b.done ? "finished" : "unfinished"));
  probe.verify(v);
}

}  // namespace
}  // namespace cmbench::pingpong::uv

CMBENCH_IMPL(pingpong, uv, cmbench::pingpong::uv::run, nullptr)
