// prodcons in the uv model: P producer and C consumer units are callbacks on
// one libuv loop, exchanging messages over one CbChannel of capacity B.
//
// A producer is a small state object whose on_sent callback sends its next
// message; a consumer's on_value callback records the message with take()
// and receives again. Nothing blocks: a producer facing a full ring (or, with
// B = 0, no receiver) parks its request in the channel and returns to the
// loop, and is called again when a consumer makes room (or takes the value).
// Capacity is the channel's, exactly (models/uv/cb_channel.hpp): B > 0 is a
// ring of B preallocated slots and a send completes once its value is in a
// slot; B = 0 has no slots, and a send completes only when a receiver has
// taken its value, the receiver's callback being scheduled first.
//
// Termination: the producer whose last send completes last closes the
// channel; every consumer then receives what is left and gets nullopt. When
// no callback is queued any more, the loop's only handle (the idle handle of
// its ready queue) stops and uv_run returns.
#include <fmt/format.h>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "harness/registry/registry.hpp"
#include "models/uv/cb_channel.hpp"
#include "models/uv/loop.hpp"
#include "workloads/prodcons/spec.hpp"

namespace cmbench::prodcons::uv {
namespace {

using cmbench::uv::CbChannel;
using cmbench::uv::Loop;
using cmbench::uv::RecvReq;
using cmbench::uv::SendReq;
using cmbench::uv::Task;

// What the producers share: the channel and how many have finished, so the
// last one can close it.
template <typename Msg>
struct Shared {
  CbChannel<Msg>& channel;
  uint64_t producers;
  uint64_t finished = 0;
  uint64_t send_errors = 0;  // sends that completed with an error (UV_EPIPE)
};

template <typename Msg>
struct Producer {
  Task start;  // posted to the loop: the unit's first callback
  SendReq<Msg> req;
  Shared<Msg>* shared = nullptr;
  uint32_t index = 0;
  uint64_t seq = 0;    // the next sequence number to send
  uint64_t count = 0;  // how many this producer sends

  void send_next() {
    stamp(req.value, index, seq);
    shared->channel.send(&req, &on_sent_cb);
  }

  static void start_cb(Task* t) {
    auto* self = static_cast<Producer*>(t->data);
    self->send_next();
  }

  static void on_sent_cb(SendReq<Msg>* req, int status) {
    auto* self = static_cast<Producer*>(req->data);
    if (status != 0) ++self->shared->send_errors;
    if (++self->seq < self->count && status == 0) {
      self->send_next();
      return;
    }
    if (++self->shared->finished == self->shared->producers) self->shared->channel.close();
  }
};

template <typename Msg>
struct Consumer {
  Task start;
  RecvReq<Msg> req;
  CbChannel<Msg>* channel = nullptr;
  Tally* tally = nullptr;
  std::span<uint64_t> last;
  Histogram* hist = nullptr;
  uint64_t messages = 0;
  uint64_t producers = 0;
  bool done = false;  // received nullopt

  static void start_cb(Task* t) {
    auto* self = static_cast<Consumer*>(t->data);
    self->channel->recv(&self->req, &on_value_cb);
  }

  static void on_value_cb(RecvReq<Msg>* req, std::optional<Msg>& value) {
    auto* self = static_cast<Consumer*>(req->data);
    if (!value) {
      self->done = true;
      return;
    }
    take(*self->tally, self->last, self->messages, self->producers, *value, *self->hist);
    self->channel->recv(req, &on_value_cb);
  }
};

void run(const Params& p, Probe& probe) {
  const uint64_t m = p.u("messages");
  const uint64_t np = p.u("producers");
  const uint64_t nc = p.u("consumers");
  const uint64_t capacity = p.u("capacity");
  const auto continuation = cmbench::uv::continuation_param(p);

  with_message(p, [&]<typename Msg>() {
    // Setup, outside the timed region: the loop, the channel with its B
    // slots, and what the consumers record into.
    std::span<Histogram> hists = probe.latency_histograms(nc);
    std::vector<Tally> tallies(nc);
    SeenRows last(nc, np);
    Loop loop(continuation);
    CbChannel<Msg> channel(loop, capacity);
    Shared<Msg> shared{channel, np};
    std::vector<Producer<Msg>> producers;
    std::vector<Consumer<Msg>> consumers;

    probe.start();
    // Creating the units is part of the timed region, as spawning is in the
    // other models. Each one starts when the loop calls its first callback.
    producers.resize(np);
    consumers.resize(nc);
    for (uint64_t i = 0; i < nc; ++i) {
      Consumer<Msg>& c = consumers[i];
      c.start.run = &Consumer<Msg>::start_cb;
      c.start.data = &c;
      c.req.data = &c;
      c.channel = &channel;
      c.tally = &tallies[i];
      c.last = last.row(i);
      c.hist = &hists[i];
      c.messages = m;
      c.producers = np;
      loop.post(&c.start);
    }
    for (uint64_t i = 0; i < np; ++i) {
      Producer<Msg>& pr = producers[i];
      pr.start.run = &Producer<Msg>::start_cb;
      pr.start.data = &pr;
      pr.req.data = &pr;
      pr.shared = &shared;
      pr.index = static_cast<uint32_t>(i);
      pr.count = messages_of(m, np, i);
      loop.post(&pr.start);
    }
    loop.run();
    probe.stop();

    probe.note("continuation", cmbench::uv::continuation_note(continuation));
    probe.note("capacity",
               capacity == 0
                   ? "rendezvous: CbChannel has no slots; a send hands its value to a parked "
                     "receiver or parks until one arrives, and completes after the receiver "
                     "took it"
                   : "CbChannel ring of exactly B preallocated slots; a send completes once its "
                     "value is in a slot, and parks while all B are full");
    probe.note("loop",
               "one uv_loop_t on one thread, uv_run(UV_RUN_DEFAULT) until no handle is "
               "active; waiters are intrusive request structs, no allocation per "
               "operation");

    uint64_t unfinished = 0;
    for (const auto& c : consumers) unfinished += c.done ? 0 : 1;
    Verdict v = verify(p, tallies);
    if (v.ok && shared.send_errors != 0)
      v = Verdict::fail(fmt::format("{} sends failed on a closed channel", shared.send_errors));
    if (v.ok && (unfinished != 0 || shared.finished != np))
      v = Verdict::fail(
          fmt::format("the loop ran out of work with {} consumers and {} producers unfinished",
                      unfinished, np - shared.finished));
    probe.verify(v);
  });
}

}  // namespace
}  // namespace cmbench::prodcons::uv

CMBENCH_IMPL(prodcons, uv, cmbench::prodcons::uv::run, nullptr)
