// The uv model's primitives: callbacks on one libuv loop (models/uv/loop.hpp)
// and the callback channel (models/uv/cb_channel.hpp). Every benchmark here
// is swept over the model's `continuation` parameter (inline | deferred),
// which decides how a woken callback is scheduled and is part of what the
// model costs.
//
// Control is inverted: the units are callbacks, and uv_run() drives them
// until nothing is left to run. So each benchmark times one batch of all its
// iterations (KeepRunningBatch) around one Loop::run() that performs them
// all, with the units' first callbacks posted just before it: no clock is
// read and nothing happens between iterations but the callbacks themselves.
// The loop and the channels are made once per run, before the batch.
//
// There is no `lock`: a loop runs one callback at a time, to completion, on
// one thread, so state shared between callbacks needs no lock (counter's
// `lock` mode in workloads/counter/uv.cpp uses none: that the model needs
// none is its result). libuv's uv_mutex_t is a pthread mutex for other
// threads, not a primitive of the callback model, and timing it would time
// the thread model's lock again.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <new>
#include <optional>
#include <string>

#include "micro/primitives.hpp"
#include "models/uv/cb_channel.hpp"
#include "models/uv/loop.hpp"

namespace cmbench::micro {
namespace {

using cmbench::uv::CbChannel;
using cmbench::uv::Loop;
using cmbench::uv::RecvReq;
using cmbench::uv::SendReq;
using cmbench::uv::Task;

// --- switch -------------------------------------------------------------------
// pingpong's two units (workloads/pingpong/uv.cpp, where they are private to
// that file), restated without the clock: A sends v on the rendezvous
// channel to_b and, once the send completed, receives on to_a; B receives v
// and sends v + 1 back. A round trip is two hand-offs and four callbacks (B
// on_value, A on_sent, A on_value, B on_sent). After `rounds` replies A
// closes to_b, B's parked receive completes with nullopt, and the loop runs
// out of work.

struct Pinger {
  Task start;
  SendReq<Value> send_req;
  RecvReq<Value> recv_req;
  CbChannel<Value>* to_b = nullptr;
  CbChannel<Value>* to_a = nullptr;
  uint64_t rounds = 0;
  Value value = 0;
  Receipt receipt;
  bool failed = false;

  void send_next() {
    send_req.value = value;
    to_b->send(&send_req, &on_sent_cb);
  }
  static void start_cb(Task* t) { static_cast<Pinger*>(t->data)->send_next(); }
  static void on_sent_cb(SendReq<Value>* req, int status) {
    auto* self = static_cast<Pinger*>(req->data);
    if (status != 0) {
      self->failed = true;
      self->to_b->close();
      return;
    }
    self->to_a->recv(&self->recv_req, &on_value_cb);
  }
  static void on_value_cb(RecvReq<Value>* req, std::optional<Value>& reply) {
    auto* self = static_cast<Pinger*>(req->data);
    if (!reply) {
      self->failed = true;
      self->to_b->close();
      return;
    }
    if (*reply != self->value + 1) ++self->receipt.wrong;
    if (++self->receipt.received == self->rounds) {
      self->to_b->close();
      return;
    }
    ++self->value;
    self->send_next();
  }
};

struct Ponger {
  Task start;
  SendReq<Value> send_req;
  RecvReq<Value> recv_req;
  CbChannel<Value>* to_b = nullptr;
  CbChannel<Value>* to_a = nullptr;
  bool failed = false;

  static void start_cb(Task* t) {
    auto* self = static_cast<Ponger*>(t->data);
    self->to_b->recv(&self->recv_req, &on_value_cb);
  }
  static void on_value_cb(RecvReq<Value>* req, std::optional<Value>& v) {
    auto* self = static_cast<Ponger*>(req->data);
    if (!v) return;  // A closed to_b: done
    self->send_req.value = *v + 1;
    self->to_a->send(&self->send_req, &on_sent_cb);
  }
  static void on_sent_cb(SendReq<Value>* req, int status) {
    auto* self = static_cast<Ponger*>(req->data);
    if (status != 0) {
      self->failed = true;
      return;
    }
    self->to_b->recv(&self->recv_req, &on_value_cb);
  }
};

void switch_(benchmark::State& state, const Params& params) {
  Loop loop(cmbench::uv::continuation_param(params));
  CbChannel<Value> to_b(loop, 0);
  CbChannel<Value> to_a(loop, 0);
  Pinger a;
  a.start.run = &Pinger::start_cb;
  a.start.data = a.send_req.data = a.recv_req.data = &a;
  a.to_b = &to_b;
  a.to_a = &to_a;
  a.rounds = static_cast<uint64_t>(state.max_iterations);
  Ponger b;
  b.start.run = &Ponger::start_cb;
  b.start.data = b.send_req.data = b.recv_req.data = &b;
  b.to_b = &to_b;
  b.to_a = &to_a;

  // One batch of all the iterations: the body runs once.
  while (state.KeepRunningBatch(state.max_iterations)) {
    // B first, so that A's first send finds B's receive parked.
    loop.post(&b.start);
    loop.post(&a.start);
    loop.run();
  }
  if (a.failed || b.failed) {
    state.SkipWithError("a send or receive found its channel closed");
    return;
  }
  check_receipt(state, a.receipt, a.rounds);
}

// --- channel ------------------------------------------------------------------
// A producer callback sends 0, 1, 2, ... one at a time (each on_sent sends
// the next) on a CbChannel of the given capacity and closes it after the
// last; a consumer callback receives until nullopt. Both are prodcons's units
// in the uv model (workloads/prodcons/uv.cpp), one of each. The batch ends
// when the loop has run out of work: every value received.

struct Producer {
  Task start;
  SendReq<Value> req;
  CbChannel<Value>* channel = nullptr;
  uint64_t count = 0;
  bool failed = false;

  static void start_cb(Task* t) {
    auto* self = static_cast<Producer*>(t->data);
    self->req.value = 0;
    self->send_or_close();
  }
  void send_or_close() {
    if (req.value == count) {
      channel->close();
      return;
    }
    channel->send(&req, &on_sent_cb);
  }
  static void on_sent_cb(SendReq<Value>* req, int status) {
    auto* self = static_cast<Producer*>(req->data);
    if (status != 0) {
      self->failed = true;
      return;
    }
    ++req->value;
    self->send_or_close();
  }
};

struct Consumer {
  Task start;
  RecvReq<Value> req;
  CbChannel<Value>* channel = nullptr;
  Receipt receipt;

  static void start_cb(Task* t) {
    auto* self = static_cast<Consumer*>(t->data);
    self->channel->recv(&self->req, &on_value_cb);
  }
  static void on_value_cb(RecvReq<Value>* req, std::optional<Value>& v) {
    auto* self = static_cast<Consumer*>(req->data);
    if (!v) return;  // closed and drained
    if (*v != self->receipt.received) ++self->receipt.wrong;
    ++self->receipt.received;
    self->channel->recv(req, &on_value_cb);
  }
};

void channel(benchmark::State& state, const Params& params) {
  Loop loop(cmbench::uv::continuation_param(params));
  CbChannel<Value> ch(loop, params.u("capacity"));
  Producer producer;
  producer.start.run = &Producer::start_cb;
  producer.start.data = producer.req.data = &producer;
  producer.channel = &ch;
  producer.count = static_cast<uint64_t>(state.max_iterations);
  Consumer consumer;
  consumer.start.run = &Consumer::start_cb;
  consumer.start.data = consumer.req.data = &consumer;
  consumer.channel = &ch;

  // One batch of all the iterations: the body runs once.
  while (state.KeepRunningBatch(state.max_iterations)) {
    // The consumer first, as prodcons starts them: it parks on the empty
    // channel, and the first send hands its value straight over.
    loop.post(&consumer.start);
    loop.post(&producer.start);
    loop.run();
  }
  if (producer.failed) {
    state.SkipWithError("a send found the channel closed");
    return;
  }
  check_receipt(state, consumer.receipt, producer.count);
}

// --- spawn --------------------------------------------------------------------
// A unit here is what the spawn workload counts as one (workloads/spawn/uv.cpp):
// a heap object whose first callback is posted to the loop, and which ends
// with its last callback, deleting itself. A parent unit spawns one child,
// and the child's callback, before it ends, completes the parent's
// continuation: that is the join. Then the parent spawns the next. The
// child's `new` and `delete` are part of the primitive: the unit is that
// object.

struct Parent {
  Task resume;  // the parent's continuation: runs first, then after each join
  Loop* loop = nullptr;
  uint64_t count = 0;
  uint64_t spawned = 0;
  uint64_t joined = 0;
  bool out_of_memory = false;

  static void resume_cb(Task* t);
};

struct Child {
  Task start;
  Parent* parent = nullptr;

  static void start_cb(Task* t) {
    auto* self = static_cast<Child*>(t->data);
    Parent* parent = self->parent;
    delete self;
    ++parent->joined;
    parent->loop->complete(&parent->resume);
  }
};

void Parent::resume_cb(Task* t) {
  auto* self = static_cast<Parent*>(t->data);
  if (self->spawned == self->count) return;
  // No exception may cross libuv's C frames: a failed allocation stops the
  // parent, the loop runs out of work, and the count says what happened.
  auto* child = new (std::nothrow) Child;
  if (child == nullptr) {
    self->out_of_memory = true;
    return;
  }
  ++self->spawned;
  child->start.run = &Child::start_cb;
  child->start.data = child;
  child->parent = self;
  self->loop->post(&child->start);
}

void spawn(benchmark::State& state, const Params& params) {
  Loop loop(cmbench::uv::continuation_param(params));
  Parent parent;
  parent.resume.run = &Parent::resume_cb;
  parent.resume.data = &parent;
  parent.loop = &loop;
  parent.count = static_cast<uint64_t>(state.max_iterations);

  // One batch of all the iterations: the body runs once.
  while (state.KeepRunningBatch(state.max_iterations)) {
    loop.post(&parent.resume);
    loop.run();
  }
  if (parent.joined != parent.count) {
    const std::string what = "joined " + std::to_string(parent.joined) + " of " +
                             std::to_string(parent.count) + " units" +
                             (parent.out_of_memory ? " (out of memory)" : "");
    state.SkipWithError(what.c_str());
  }
}

}  // namespace

const Primitives& uv_primitives() {
  static const Primitives table{
      {switch_, nullptr,
       "two callbacks on one loop hand a value back and forth over pingpong's two rendezvous "
       "CbChannels (four callbacks per round trip); one batch of all iterations in one uv_run"},
      {channel, nullptr,
       "a producer callback sends values one at a time on a CbChannel that a consumer callback "
       "receives; one batch of all iterations in one uv_run"},
      {nullptr,
       "a loop runs one callback at a time to completion on one thread, so state shared between "
       "callbacks needs no lock (counter's lock mode in the uv model uses none); uv_mutex_t is a "
       "pthread mutex for other threads, not part of the callback model",
       nullptr},
      {spawn, nullptr,
       "a unit is a heap object whose first callback is posted to the loop; it deletes itself "
       "and completes its parent's continuation (the join), then the parent spawns the next; one "
       "batch of all iterations in one uv_run"},
  };
  return table;
}

}  // namespace cmbench::micro
