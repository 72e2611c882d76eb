// counter in the uv model: U units are callbacks on one libuv loop, each
// adding 1 to the count K times.
//
//   lock     no lock: the loop runs one callback at a time, to completion, so
//            a unit's K increments can never interleave with another's. A
//            mutex here would protect nothing; that the model needs none is
//            the result. Each unit's callback does its K increments in one go.
//   atomic   std::atomic fetch_add per increment, in the unit's callback. On
//            one thread it is never contended: the cache line never moves.
//   message  an owner unit holds the count and receives +1 messages over a
//            CbChannel<uint64_t> of capacity kMessageCapacity in a recv
//            callback loop; each unit sends its K messages one at a time, its
//            on_sent callback sending the next. The last unit to finish
//            closes the channel, and the owner stops at nullopt.
//
// Every unit starts from the loop (its first callback is posted and called by
// uv_run), and uv_run(UV_RUN_DEFAULT) returns when nothing is left to run.
#include <fmt/format.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <vector>

#include "harness/registry/registry.hpp"
#include "models/uv/cb_channel.hpp"
#include "models/uv/loop.hpp"
#include "workloads/counter/spec.hpp"

namespace cmbench::counter::uv {
namespace {

using cmbench::uv::CbChannel;
using cmbench::uv::Loop;
using cmbench::uv::RecvReq;
using cmbench::uv::SendReq;
using cmbench::uv::Task;

// --- lock: plain shared memory, serialised by the loop ----------------------

struct PlainUnit {
  Task start;
  uint64_t* count = nullptr;
  uint64_t increments = 0;

  static void start_cb(Task* t) {
    auto* self = static_cast<PlainUnit*>(t->data);
    uint64_t* count = self->count;
    for (uint64_t k = 0; k < self->increments; ++k) {
      ++*count;
      // A compiler barrier only (no instruction): it keeps each increment a
      // load, add and store to memory instead of letting the compiler fold
      // the K increments into one addition, so the work is the same K
      // increments every model does.
      __asm__ __volatile__("" ::: "memory");
    }
  }
};

// --- atomic -----------------------------------------------------------------

struct AtomicUnit {
  Task start;
  std::atomic<uint64_t>* count = nullptr;
  uint64_t increments = 0;

  static void start_cb(Task* t) {
    auto* self = static_cast<AtomicUnit*>(t->data);
    for (uint64_t k = 0; k < self->increments; ++k) self->count->fetch_add(1);
  }
};

// --- message ----------------------------------------------------------------

struct Senders {
  CbChannel<uint64_t>& channel;
  uint64_t units;
  uint64_t finished = 0;
  uint64_t send_errors = 0;
};

struct SenderUnit {
  Task start;
  SendReq<uint64_t> req;
  Senders* shared = nullptr;
  uint64_t sent = 0;
  uint64_t increments = 0;

  void send_one() {
    req.value = 1;
    shared->channel.send(&req, &on_sent_cb);
  }

  static void start_cb(Task* t) { static_cast<SenderUnit*>(t->data)->send_one(); }

  static void on_sent_cb(SendReq<uint64_t>* req, int status) {
    auto* self = static_cast<SenderUnit*>(req->data);
    if (status != 0) ++self->shared->send_errors;
    if (++self->sent < self->increments && status == 0) {
      self->send_one();
      return;
    }
    if (++self->shared->finished == self->shared->units) self->shared->channel.close();
  }
};

struct Owner {
  Task start;
  RecvReq<uint64_t> req;
  CbChannel<uint64_t>* channel = nullptr;
  uint64_t count = 0;
  bool done = false;

  static void start_cb(Task* t) {
    auto* self = static_cast<Owner*>(t->data);
    self->channel->recv(&self->req, &on_value_cb);
  }

  static void on_value_cb(RecvReq<uint64_t>* req, std::optional<uint64_t>& value) {
    auto* self = static_cast<Owner*>(req->data);
    if (!value) {
      self->done = true;
      return;
    }
    self->count += *value;
    self->channel->recv(req, &on_value_cb);
  }
};

// Creates U units of type Unit, each with its first callback posted to the
// loop; `init` fills in what is particular to the mode.
template <typename Unit, typename Init>
void post_units(Loop& loop, std::vector<Unit>& units, uint64_t n, Init init) {
  units.resize(n);
  for (auto& u : units) {
    u.start.run = &Unit::start_cb;
    u.start.data = &u;
    init(u);
    loop.post(&u.start);
  }
}

void run(const Params& p, Probe& probe) {
  const uint64_t nunits = p.u("units");
  const uint64_t k = p.u("increments");
  const std::string& mode = p.s("mode");
  const auto continuation = cmbench::uv::continuation_param(p);

  Loop loop(continuation);
  uint64_t final_count = 0;
  Verdict problem = Verdict::pass();

  if (mode == "lock") {
    uint64_t count = 0;
    std::vector<PlainUnit> units;
    probe.start();
    post_units(loop, units, nunits, [&](PlainUnit& u) {
      u.count = &count;
      u.increments = k;
    });
    loop.run();
    probe.stop();
    final_count = count;
    probe.note("lock",
               "none: every unit is a callback on one uv loop, which runs one callback at a "
               "time to completion, so increments cannot interleave; a plain load-add-store "
               "per increment");
  } else if (mode == "atomic") {
    std::atomic<uint64_t> count{0};
    std::vector<AtomicUnit> units;
    probe.start();
    post_units(loop, units, nunits, [&](AtomicUnit& u) {
      u.count = &count;
      u.increments = k;
    });
    loop.run();
    probe.stop();
    final_count = count.load();
    probe.note("atomic",
               "std::atomic<uint64_t>::fetch_add(1) per increment, never contended: "
               "every unit runs on the loop's one thread");
  } else {
    CbChannel<uint64_t> channel(loop, kMessageCapacity);
    Senders shared{channel, nunits};
    Owner owner;
    std::vector<SenderUnit> units;
    probe.start();
    owner.start.run = &Owner::start_cb;
    owner.start.data = &owner;
    owner.req.data = &owner;
    owner.channel = &channel;
    loop.post(&owner.start);
    post_units(loop, units, nunits, [&](SenderUnit& u) {
      u.req.data = &u;
      u.shared = &shared;
      u.increments = k;
    });
    loop.run();
    probe.stop();
    final_count = owner.count;
    probe.note("channel", fmt::format("CbChannel<uint64_t> ring of {} preallocated slots; one "
                                      "+1 message per send, one owner callback receives",
                                      kMessageCapacity));
    if (shared.send_errors != 0)
      problem =
          Verdict::fail(fmt::format("{} sends failed on a closed channel", shared.send_errors));
    else if (!owner.done || shared.finished != nunits)
      problem = Verdict::fail(
          fmt::format("the loop ran out of work with the owner {} and {} of {} units finished",
                      owner.done ? "finished" : "still waiting", shared.finished, nunits));
  }

  probe.note("continuation", cmbench::uv::continuation_note(continuation));
  Verdict v = verify(p, final_count);
  probe.verify(v.ok ? problem : v);
}

}  // namespace
}  // namespace cmbench::counter::uv

CMBENCH_IMPL(counter, uv, cmbench::counter::uv::run, nullptr)
