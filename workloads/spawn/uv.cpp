// spawn in the uv model: a unit is a heap object (its state and its request)
// whose callback is parked on a CbChannel receive; the release closes the
// channel, which completes every parked receive at once.
//
// What a parked unit is here, and why not a uv_async_t per unit: in the
// callback model a unit that waits for something registers its callback with
// whatever will signal it and returns to the loop — a Node.js promise
// awaiting an in-process event, a libuv request waiting for its completion.
// It costs exactly its state, and waking it is a pointer move into the ready
// queue. libuv handles are event sources (sockets, timers, signals); the one
// meant for wake-ups, uv_async_t, exists to wake a loop from *another
// thread*: each uv_async_send writes to the loop's eventfd and the loop then
// scans every async handle it has. A million of them on one thread would
// measure a million eventfd writes and an O(N) scan, a design no libuv
// programmer would choose, not the cost of a parked callback. (The sleepers
// workload does register one libuv handle per unit, a uv_timer_t, because
// there the unit waits for an event source of the loop: time.) So closing N
// libuv handles is not part of this join; freeing N heap objects is.
//
// Protocol (workloads/spawn/spec.hpp): the creator allocates each unit with
// new and posts its first callback to the loop; that callback announces
// "parked" (a counter) and parks its receive. The unit whose announcement
// makes the count N wakes the creator's continuation, which reads
// probe.memory_parked(N) and closes the channel: that is the release. Every
// unit's final callback then runs with nullopt, counts itself finished and
// deletes its object: join = every final callback ran, after which nothing
// is queued and uv_run returns.
//
// A unit that cannot be allocated is a limit: the creator stops, the channel
// is closed so the units made so far start, find it closed, finish and free
// themselves, and the run throws LimitError naming the count reached.
#include <fmt/format.h>

#include <cerrno>
#include <cstdint>
#include <new>
#include <optional>

#include "harness/cell/errors.hpp"
#include "harness/registry/registry.hpp"
#include "models/uv/cb_channel.hpp"
#include "models/uv/loop.hpp"
#include "workloads/spawn/spec.hpp"

namespace cmbench::spawn::uv {
namespace {

using cmbench::uv::CbChannel;
using cmbench::uv::Loop;
using cmbench::uv::RecvReq;
using cmbench::uv::Task;

// What every unit reaches: the release channel, the counters, and the
// creator's continuation. The channel carries no value: it is only closed.
struct Shared {
  Loop& loop;
  CbChannel<char>& release;
  Probe& probe;
  uint64_t units = 0;
  uint64_t parked = 0;
  uint64_t finished = 0;
  uint64_t values = 0;  // values received instead of nullopt: never, checked
  // The creator's continuation: runs once all N units have parked.
  Task all_parked{};

  static void all_parked_cb(Task* t) {
    auto* self = static_cast<Shared*>(t->data);
    self->probe.memory_parked(self->units);
    self->release.close();
  }
};

struct Unit {
  Task start;  // posted by the creator: the unit's first callback
  RecvReq<char> req;
  Shared* shared = nullptr;

  static void start_cb(Task* t) {
    auto* self = static_cast<Unit*>(t->data);
    Shared& s = *self->shared;
    // Announce first, then park: the creator's continuation is only queued
    // (the ready queue is being drained), so it runs after this receive is
    // registered.
    if (++s.parked == s.units) s.loop.complete(&s.all_parked);
    s.release.recv(&self->req, &on_release_cb);
  }

  static void on_release_cb(RecvReq<char>* req, std::optional<char>& value) {
    auto* self = static_cast<Unit*>(req->data);
    if (value) ++self->shared->values;
    ++self->shared->finished;
    // The unit ends with its last callback; nothing refers to it any more.
    delete self;
  }
};

void run(const Params& p, Probe& probe) {
  const uint64_t n = p.u("units");
  const auto continuation = cmbench::uv::continuation_param(p);

  Loop loop(continuation);
  CbChannel<char> release(loop, 0);
  Shared shared{loop, release, probe, n};
  shared.all_parked.run = &Shared::all_parked_cb;
  shared.all_parked.data = &shared;

  probe.memory_baseline();
  probe.start();
  uint64_t created = 0;
  for (; created < n; ++created) {
    auto* u = new (std::nothrow) Unit;
    if (u == nullptr) break;
    u->start.run = &Unit::start_cb;
    u->start.data = u;
    u->req.data = u;
    u->shared = &shared;
    loop.post(&u->start);
  }
  if (created < n) {
    // Release what exists: each posted unit starts, finds the channel
    // closed, finishes and frees itself.
    release.close();
    loop.run();
    probe.stop();
    probe.note("reached", created);
    throw LimitError(limit_message(p, created, "operator new (a unit's state)", ENOMEM), ENOMEM);
  }
  loop.run();
  probe.stop();

  probe.note("continuation", cmbench::uv::continuation_note(continuation));
  probe.note("unit",
             fmt::format("a heap object of {} bytes (allocated with new): a start task and a "
                         "CbChannel receive request parked on one shared channel; no libuv "
                         "handle per unit",
                         sizeof(Unit)));
  probe.note("release",
             "closing the channel completes every parked receive with nullopt; each unit's "
             "final callback counts itself and deletes its object");

  Verdict v = verify(p, shared.parked, shared.finished);
  if (v.ok && shared.values != 0)
    v = Verdict::fail(fmt::format("{} units received a value instead of the close", shared.values));
  probe.verify(v);
}

}  // namespace
}  // namespace cmbench::spawn::uv

CMBENCH_IMPL(spawn, uv, cmbench::spawn::uv::run, nullptr)
