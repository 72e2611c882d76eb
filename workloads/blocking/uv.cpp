// blocking in the uv model: every unit is callbacks on one libuv loop.
//
// A blocker makes one call per callback and schedules its next call from the
// completion of the previous one:
//   inline  the call is made right in a callback on the loop thread (what a
//           newcomer writes: a blocking function called from a callback),
//           and the next call is deferred to the next loop iteration
//           (Loop::defer, setImmediate), so the loop gets a turn in between.
//           While the call sleeps, the loop's one thread sleeps: no other
//           callback runs, no I/O is polled.
//   pool    uv_queue_work: libuv's threadpool runs the call (work_cb), and
//           the loop runs after_work_cb when it is done, which queues the
//           next call. The loop thread never blocks. The pool has
//           UV_THREADPOOL_SIZE threads (4 unless the environment sets it;
//           libuv reads it once, at the first uv_queue_work, and starts them
//           all then): noted as `threadpool_size`.
//
// A bystander pair is pingpong's two callbacks handing the value to each
// other through the loop's continuation policy (Loop::complete), except that
// A starts each new round trip on the next loop iteration (Loop::defer;
// workloads/common/bystanders/uv.hpp): a pair that only ever handed off
// inline would keep the loop's ready queue from ever emptying, and the loop
// would never poll again — no uv_queue_work completion would ever run
// (libuv delivers them through a uv_async_t) and the blockers would never
// finish. That is how a libuv program keeps an endless in-process exchange
// from starving its I/O, and each round trip of a pair therefore includes
// one loop iteration (a zero-timeout epoll_wait) besides the callbacks of
// the blockers due then.
//
// The loop ends (uv_run returns) when the last blocker is done, the pairs
// have stopped, and no work request is pending.
#include <fmt/format.h>
#include <uv.h>

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "harness/registry/registry.hpp"
#include "models/uv/error.hpp"
#include "models/uv/loop.hpp"
#include "workloads/blocking/spec.hpp"
#include "workloads/common/bystanders/uv.hpp"

namespace cmbench::blocking::uv {
namespace {

using cmbench::uv::Loop;
using cmbench::uv::Task;

struct Shared {
  Loop& loop;
  uint64_t calls = 0;
  int64_t delay = 0;
  bool pool = false;
  uint64_t remaining = 0;  // blockers not yet done
  ThreadPeak peak;
  int error = 0;  // the first uv_queue_work error (UV_*), if any
};

struct Blocker {
  Task start;  // the blocker's first callback (posted)
  Task call;   // inline: the next call, deferred to the next iteration
  uv_work_t work{};  // pool: the call on libuv's threadpool
  Shared* s = nullptr;
  Tally tally;
  int64_t took = 0;

  void next() {
    if (!s->pool) {
      s->loop.defer(&call);
      return;
    }
    if (int rc = uv_queue_work(s->loop.get(), &work, &work_cb, &after_work_cb); rc < 0) {
      if (s->error == 0) s->error = rc;
      --s->remaining;  // this blocker stops; the verifier reports its missing calls
    }
  }
  void completed() {
    called(tally, took, s->delay);
    s->peak.sample();
    if (tally.calls < s->calls) next();
    else --s->remaining;
  }
  static void start_cb(Task* t) { static_cast<Blocker*>(t->data)->next(); }
  static void call_cb(Task* t) {
    auto* self = static_cast<Blocker*>(t->data);
    self->took = blocking_call(self->s->delay);
    self->completed();
  }
  // On a threadpool thread.
  static void work_cb(uv_work_t* req) {
    auto* self = static_cast<Blocker*>(req->data);
    self->took = blocking_call(self->s->delay);
  }
  static void after_work_cb(uv_work_t* req, int status) {
    auto* self = static_cast<Blocker*>(req->data);
    if (status < 0 && self->s->error == 0) self->s->error = status;
    self->completed();
  }
};

// libuv starts its threadpool, every thread of it, at the first
// uv_queue_work: one that does nothing, run to its end before the timed
// region, so that the pool is up as the other models' pools are (spec.hpp:
// "Warm").
void start_threadpool(Loop& loop) {
  uv_work_t nothing{};
  if (int rc = uv_queue_work(loop.get(), &nothing, [](uv_work_t*) {}, [](uv_work_t*, int) {}); rc < 0)
    cmbench::uv::throw_uv("uv_queue_work", rc);
  loop.run();
}

std::string threadpool_size() {
  const char* env = std::getenv("UV_THREADPOOL_SIZE");
  return env && *env ? fmt::format("UV_THREADPOOL_SIZE={} (from the environment)", env)
                     : std::string("4 (libuv's default; UV_THREADPOOL_SIZE is not set)");
}

void run(const Params& p, Probe& probe) {
  const uint64_t nblockers = p.u("blockers");
  const uint64_t npairs = p.u("pairs");
  const auto continuation = cmbench::uv::continuation_param(p);

  std::span<Histogram> hists = probe.latency_histograms(npairs);
  std::vector<bystanders::Tally> pair_tallies(npairs);
  Loop loop(continuation);
  Shared shared{loop, p.u("calls"), delay_ns(p), pool_offload(p), nblockers, {}, 0};
  std::vector<Blocker> blockers(nblockers);
  bystanders::uv::Pairs bystander_pairs(loop, pair_tallies, hists, [&shared] { return shared.remaining == 0; });

  if (shared.pool) start_threadpool(loop);

  probe.start();
  // The bystanders first, so that they are running when the others start.
  bystander_pairs.start();
  for (Blocker& b : blockers) {
    b.s = &shared;
    b.start = Task{nullptr, &Blocker::start_cb, &b};
    b.call = Task{nullptr, &Blocker::call_cb, &b};
    b.work.data = &b;
    loop.post(&b.start);
  }
  loop.run();
  shared.peak.sample();
  probe.stop();
  if (shared.error != 0) cmbench::uv::throw_uv("uv_queue_work", shared.error);

  std::vector<Tally> tallies;
  for (const Blocker& b : blockers) tallies.push_back(b.tally);
  report(probe, p, pair_tallies, shared.peak.peak(),
         shared.pool ? "uv_queue_work: the call runs in work_cb on libuv's threadpool (started before the "
                       "timed region by one uv_queue_work that does nothing); after_work_cb, on the loop, "
                       "counts it and queues the next"
                     : "inline: the call is made in a callback on the loop thread; the next call is "
                       "deferred to the next loop iteration (Loop::defer)");
  if (shared.pool) probe.note("threadpool_size", threadpool_size());
  probe.note("continuation", cmbench::uv::continuation_note(continuation));
  probe.note("bystanders",
             "two callbacks per pair handing the value over through the continuation policy; A "
             "starts each round trip on the next loop iteration (Loop::defer) so the loop polls "
             "between round trips");
  probe.verify(verify(p, tallies, pair_tallies, hists));
}

}  // namespace
}  // namespace cmbench::blocking::uv

CMBENCH_IMPL(blocking, uv, cmbench::blocking::uv::run, nullptr)
