// ring in the uv model: N units on one libuv loop, each a callback parked on
// a receive on its own mailbox, a rendezvous CbChannel<uint64_t>. The token
// is the number of hops left.
//
// Unit i's on_value callback gets the token; with hops left it sends one
// fewer to unit i+1's mailbox, and its on_sent callback parks its receive
// again. Unit i+1's receive is always parked when the token arrives (only
// the holder is ever away from its mailbox), so every send hands the value
// straight into the parked request and wakes its callback: capacity 0 and 1
// would run exactly the same code, and there is never a value in a slot.
// Which stack the woken callback runs on is the loop's `continuation`
// policy: inline, the trampoline calls it as soon as the current callback
// returns; deferred, it runs on the next loop iteration, so each hop costs
// one iteration of the loop.
//
// The creator starts every unit (each parks its receive from its first
// callback), then hands the token with T hops left to unit 0. The unit that
// receives 0 records its index and closes every mailbox: the parked
// receives complete with nullopt and their units end, the unit that sent
// the last hop finds its mailbox closed when it comes back to it, and uv_run
// returns once nothing is queued.
#include <fmt/format.h>

#include <cstdint>
#include <deque>
#include <optional>

#include "harness/registry/registry.hpp"
#include "models/uv/cb_channel.hpp"
#include "models/uv/loop.hpp"
#include "workloads/ring/spec.hpp"

namespace cmbench::ring::uv {
namespace {

using cmbench::uv::CbChannel;
using cmbench::uv::Loop;
using cmbench::uv::RecvReq;
using cmbench::uv::SendReq;
using cmbench::uv::Task;

struct Unit;

struct Ring {
  std::deque<Unit>* units = nullptr;
  uint64_t hops_made = 0;
  uint64_t last_holder = UINT64_MAX;
  uint64_t finished = 0;  // units whose receive ended with nullopt
  uint64_t send_errors = 0;
  void stop();
};

struct Unit {
  explicit Unit(Loop& loop) : mailbox(loop, 0) {}

  CbChannel<uint64_t> mailbox;
  Task start;
  RecvReq<uint64_t> recv_req;
  SendReq<uint64_t> send_req;
  Ring* ring = nullptr;
  Unit* next = nullptr;
  uint64_t index = 0;

  static void start_cb(Task* t) {
    auto* self = static_cast<Unit*>(t->data);
    self->mailbox.recv(&self->recv_req, &on_token_cb);
  }

  static void on_token_cb(RecvReq<uint64_t>* req, std::optional<uint64_t>& token) {
    auto* self = static_cast<Unit*>(req->data);
    Ring& ring = *self->ring;
    if (!token) {
      ++ring.finished;
      return;
    }
    if (*token == 0) {
      ring.last_holder = self->index;
      ++ring.finished;  // the holder ends here, without receiving again
      ring.stop();
      return;
    }
    self->send_req.value = *token - 1;
    ++ring.hops_made;
    self->next->mailbox.send(&self->send_req, &on_sent_cb);
  }

  static void on_sent_cb(SendReq<uint64_t>* req, int status) {
    auto* self = static_cast<Unit*>(req->data);
    if (status != 0) ++self->ring->send_errors;
    self->mailbox.recv(&self->recv_req, &on_token_cb);
  }
};

void Ring::stop() {
  for (Unit& u : *units) u.mailbox.close();
}

// Hands the token with T hops left to unit 0: the creator's send.
struct Starter {
  Task start;
  SendReq<uint64_t> req;
  CbChannel<uint64_t>* first = nullptr;
  int status = -1;

  static void start_cb(Task* t) {
    auto* self = static_cast<Starter*>(t->data);
    self->first->send(&self->req, &on_sent_cb);
  }
  static void on_sent_cb(SendReq<uint64_t>* req, int status) {
    static_cast<Starter*>(req->data)->status = status;
  }
};

void run(const Params& p, Probe& probe) {
  const uint64_t n = p.u("units");
  const uint64_t hops = p.u("hops");
  const auto continuation = cmbench::uv::continuation_param(p);

  Loop loop(continuation);
  std::deque<Unit> units;  // Units hold a channel, which cannot move
  Ring ring;
  ring.units = &units;
  Starter starter;

  probe.start();
  for (uint64_t i = 0; i < n; ++i) {
    Unit& u = units.emplace_back(loop);
    u.start.run = &Unit::start_cb;
    u.start.data = &u;
    u.recv_req.data = &u;
    u.send_req.data = &u;
    u.ring = &ring;
    u.index = i;
  }
  for (uint64_t i = 0; i < n; ++i) {
    units[i].next = &units[(i + 1) % n];
    loop.post(&units[i].start);
  }
  // Posted after every unit's start, so unit 0's receive is parked when the
  // token arrives.
  starter.start.run = &Starter::start_cb;
  starter.start.data = &starter;
  starter.req.data = &starter;
  starter.req.value = hops;
  starter.first = &units[0].mailbox;
  loop.post(&starter.start);
  loop.run();
  probe.stop();

  probe.note("continuation", cmbench::uv::continuation_note(continuation));
  probe.note("channel",
             "one rendezvous CbChannel<uint64_t> mailbox per unit; the next unit's receive is "
             "always parked, so a hop hands the token into it and wakes its callback (no slot "
             "is used; capacity 1 would behave the same)");

  Verdict v = verify(p, ring.last_holder, ring.hops_made);
  if (v.ok && (ring.send_errors != 0 || starter.status != 0))
    v = Verdict::fail(fmt::format("{} sends failed on a closed mailbox (starter status {})",
                                  ring.send_errors, starter.status));
  if (v.ok && ring.finished != n)
    v = Verdict::fail(fmt::format("the loop ran out of work with {} of {} units finished",
                                  ring.finished, n));
  probe.verify(v);
}

}  // namespace
}  // namespace cmbench::ring::uv

CMBENCH_IMPL(ring, uv, cmbench::ring::uv::run, nullptr)
