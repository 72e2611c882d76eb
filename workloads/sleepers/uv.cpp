// sleepers in the uv model: each unit is a heap object holding a uv_timer_t
// on one libuv loop, re-armed after every wake for the unit's next absolute
// wake time (unit start + k * D). While every unit sleeps the loop blocks in
// epoll_wait() until the nearest timer is due, so idle units cost no CPU.
//
// libuv timers count whole milliseconds relative to the loop's cached clock
// uv_now() (CLOCK_MONOTONIC, read at the start of each loop iteration and
// truncated to ms). The spec's due times are now_ns() nanoseconds (the same
// clock), so converting them must not wake anyone early:
//   - the timer is armed for the loop time ceil(due / 1 ms), as the timeout
//     ceil(due / 1 ms) - uv_now(), which uv_timer_start() adds back to the
//     same uv_now(): the absolute expiry is exact however stale the cached
//     time is when the unit re-arms;
//   - libuv runs a timer once its loop time, floor(t / 1 ms) for a clock
//     reading t taken before the callback, reaches that expiry, so t is at
//     least ceil(due / 1 ms) ms >= due: never early.
// The price is honest and recorded: lateness includes the 0-1 ms between a
// due time and the next whole millisecond, and libuv counts its epoll_wait()
// timeout in whole milliseconds from its truncated clock, so the wait ends
// that clock's dropped fraction of a millisecond after the expiry. With D a
// whole number of milliseconds the two fractions add up to about one: a wake
// typically lands about 1 ms after its due time on an idle machine. That is
// libuv's timer resolution, not noise, and the note says so.
//
// Timer callbacks are called by libuv itself (uv__run_timers), not through
// the ready queue, so the `continuation` policy only decides how the units'
// first callbacks and the creator's continuation are scheduled.
//
// Protocol (workloads/sleepers/spec.hpp): probe.memory_baseline() before any
// unit exists; the creator allocates each unit and posts its first callback,
// which takes the unit's start time, initialises and arms its timer and
// announces itself; the unit that completes the count wakes the creator's
// continuation, which reads probe.memory_parked(N) (all N timers armed, first
// wake D ms away). After K wakes a unit closes its timer, and its close
// callback counts it finished and frees it: uv_run returns once every timer
// is closed.
#include <fmt/format.h>

#include <cerrno>
#include <cstdint>
#include <new>
#include <span>
#include <vector>

#include "harness/cell/errors.hpp"
#include "harness/registry/registry.hpp"
#include "models/uv/loop.hpp"
#include "workloads/sleepers/spec.hpp"

namespace cmbench::sleepers::uv {
namespace {

using cmbench::uv::Loop;
using cmbench::uv::Task;

constexpr int64_t kNsPerMs = 1'000'000;

struct Shared {
  Loop& loop;
  Probe& probe;
  uint64_t units = 0;
  uint64_t sleeps = 0;
  int64_t sleep_ns = 0;
  uint64_t started = 0;
  uint64_t finished = 0;
  bool abandon = false;  // a unit could not be created: end the others
  Task all_started{};    // the creator's continuation

  static void all_started_cb(Task* t) {
    auto* self = static_cast<Shared*>(t->data);
    self->probe.memory_parked(self->units);
  }
};

struct Unit {
  Task start;  // posted by the creator: the unit's first callback
  uv_timer_t timer{};
  Shared* shared = nullptr;
  Tally* tally = nullptr;
  Histogram* hist = nullptr;
  int64_t start_ns = 0;
  uint64_t k = 0;  // wakes done

  int64_t due_ns() const { return start_ns + static_cast<int64_t>(k + 1) * shared->sleep_ns; }

  // Arms the timer for the next wake: the first loop millisecond at or after
  // its due time, as an offset from the loop's cached uv_now(), the base
  // uv_timer_start() adds it to.
  void arm() {
    const uint64_t expiry_ms = static_cast<uint64_t>((due_ns() + kNsPerMs - 1) / kNsPerMs);
    const uint64_t now_ms = uv_now(timer.loop);
    const uint64_t timeout = expiry_ms > now_ms ? expiry_ms - now_ms : 0;
    // Cannot fail: the callback is set and the handle is not closing.
    uv_timer_start(&timer, &on_timer_cb, timeout, 0);
  }

  static void start_cb(Task* t) {
    auto* self = static_cast<Unit*>(t->data);
    Shared& s = *self->shared;
    if (s.abandon) {
      delete self;
      return;
    }
    self->start_ns = now_ns();
    // uv_timer_init only fills in the handle; it cannot fail.
    uv_timer_init(s.loop.get(), &self->timer);
    self->timer.data = self;
    self->arm();
    if (++s.started == s.units) s.loop.complete(&s.all_started);
  }

  static void on_timer_cb(uv_timer_t* timer) {
    auto* self = static_cast<Unit*>(timer->data);
    wake(*self->tally, self->due_ns(), *self->hist);
    if (++self->k < self->shared->sleeps) {
      self->arm();
      return;
    }
    uv_close(reinterpret_cast<uv_handle_t*>(timer), &on_close_cb);
  }

  static void on_close_cb(uv_handle_t* handle) {
    auto* self = static_cast<Unit*>(handle->data);
    ++self->shared->finished;
    // libuv is done with the handle once its close callback runs.
    delete self;
  }
};

void run(const Params& p, Probe& probe) {
  const uint64_t n = p.u("units");
  const auto continuation = cmbench::uv::continuation_param(p);

  std::span<Histogram> hists = probe.latency_histograms(n);
  std::vector<Tally> tallies(n);
  Loop loop(continuation);
  Shared shared{loop, probe, n, p.u("sleeps"), static_cast<int64_t>(p.u("sleep_ms")) * kNsPerMs};
  shared.all_started.run = &Shared::all_started_cb;
  shared.all_started.data = &shared;

  probe.memory_baseline();
  probe.start();
  uint64_t created = 0;
  for (; created < n; ++created) {
    auto* u = new (std::nothrow) Unit;
    if (u == nullptr) break;
    u->start.run = &Unit::start_cb;
    u->start.data = u;
    u->shared = &shared;
    u->tally = &tallies[created];
    u->hist = &hists[created];
    loop.post(&u->start);
  }
  if (created < n) {
    // The units made so far free themselves from their first callback
    // without arming a timer, so the loop ends at once.
    shared.abandon = true;
    loop.run();
    probe.stop();
    probe.note("reached", created);
    throw_errno(fmt::format("operator new (sleeper {} of {})", created + 1, n), ENOMEM);
  }
  loop.run();
  probe.stop();

  probe.note("continuation", cmbench::uv::continuation_note(continuation));
  probe.note("timer",
             "one uv_timer_t per unit, re-armed with uv_timer_start for the next absolute wake "
             "time; libuv timers have millisecond resolution, so each due time is rounded up to "
             "the next whole millisecond of the loop clock (never early), and libuv's "
             "epoll_wait timeout is whole milliseconds counted from its truncated clock, so a "
             "wake typically comes about 1 ms after its due time; timer callbacks are called by "
             "libuv directly, not through the continuation policy");
  probe.note("unit", fmt::format("a heap object of {} bytes (allocated with new) holding its "
                                 "uv_timer_t; freed from the timer's close callback",
                                 sizeof(Unit)));

  Verdict v = verify(p, tallies);
  if (v.ok && (shared.started != n || shared.finished != n))
    v = Verdict::fail(fmt::format("{} of {} units started and {} finished", shared.started, n,
                                  shared.finished));
  probe.verify(v);
}

}  // namespace
}  // namespace cmbench::sleepers::uv

CMBENCH_IMPL(sleepers, uv, cmbench::sleepers::uv::run, nullptr)
