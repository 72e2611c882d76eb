// Tests of the uv model: its primitives (libuv errors as exceptions, the RAII
// loop and its ready queue, the callback channel) for their semantics, and its
// prodcons and counter implementations at tiny sizes. No timing assertions.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <uv.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "harness/cell/errors.hpp"
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/uv/cb_channel.hpp"
#include "models/uv/error.hpp"
#include "models/uv/loop.hpp"
#include "workloads/counter/spec.hpp"
#include "workloads/prodcons/spec.hpp"
#include "workloads/pingpong/spec.hpp"
#include "workloads/ring/spec.hpp"
#include "workloads/skynet/spec.hpp"
#include "workloads/sleepers/spec.hpp"
#include "workloads/spawn/spec.hpp"

namespace cmbench::models::uv {
const ModelInfo& info();
}
namespace cmbench::impls {
extern const Impl prodcons_uv;
extern const Impl counter_uv;
extern const Impl pingpong_uv;
extern const Impl spawn_uv;
extern const Impl skynet_uv;
extern const Impl ring_uv;
extern const Impl sleepers_uv;
}  // namespace cmbench::impls

namespace cmbench::uv {
namespace {

// --- errors -----------------------------------------------------------------

TEST(UvError, PassesSuccessThrough) {
  EXPECT_EQ(check_uv("uv_fake", 0), 0);
  EXPECT_EQ(check_uv("uv_fake", 7), 7);
}

TEST(UvError, CarriesNameMessageAndErrno) {
  try {
    check_uv("uv_loop_close", UV_EBUSY);
    FAIL() << "no exception";
  } catch (const LimitError&) {
    FAIL() << "EBUSY is not a limit";
  } catch (const SystemError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("uv_loop_close"), std::string::npos) << what;
    EXPECT_NE(what.find("EBUSY"), std::string::npos) << what;
    EXPECT_NE(what.find(uv_strerror(UV_EBUSY)), std::string::npos) << what;
    EXPECT_EQ(e.err(), EBUSY);
  }
}

TEST(UvError, ResourceExhaustionIsALimit) {
  EXPECT_THROW(check_uv("uv_loop_init", UV_EMFILE), LimitError);
  EXPECT_THROW(check_uv("uv_fake", UV_ENOMEM), LimitError);
}

// --- loop -------------------------------------------------------------------

TEST(UvLoop, RunWithNothingToDoReturns) {
  Loop loop;
  EXPECT_FALSE(loop.run());
}

struct Counted {
  Task task;
  int runs = 0;
  static void run_cb(Task* t) { ++static_cast<Counted*>(t->data)->runs; }
  Counted() {
    task.run = &run_cb;
    task.data = this;
  }
};

TEST(UvLoop, PostedTasksRunFromTheLoopInOrder) {
  for (auto c : {Continuation::inline_trampoline, Continuation::deferred}) {
    Loop loop(c);
    std::vector<int> order;
    struct Item {
      Task task;
      std::vector<int>* order;
      int id;
    };
    Item items[3];
    for (int i = 0; i < 3; ++i) {
      items[i].order = &order;
      items[i].id = i;
      items[i].task.data = &items[i];
      items[i].task.run = [](Task* t) {
        auto* it = static_cast<Item*>(t->data);
        it->order->push_back(it->id);
      };
      loop.post(&items[i].task);
    }
    EXPECT_TRUE(order.empty()) << "post() must not run the task itself";
    EXPECT_FALSE(loop.run());
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2})) << to_string(c);
  }
}

// Handles whose memory outlives the Loop (declared first, destroyed last).
struct LeftoverHandles {
  uv_timer_t timer{};
  uv_idle_t idle{};
  bool timer_fired = false;
};

TEST(UvLoop, DestructorClosesEveryHandleWithoutRunningThem) {
  LeftoverHandles h;
  {
    Loop loop;
    ASSERT_EQ(uv_timer_init(loop.get(), &h.timer), 0);
    h.timer.data = &h;
    ASSERT_EQ(uv_timer_start(
                  &h.timer,
                  [](uv_timer_t* t) { static_cast<LeftoverHandles*>(t->data)->timer_fired = true; },
                  0, 0),
              0);
    ASSERT_EQ(uv_idle_init(loop.get(), &h.idle), 0);
    // Never run: the destructor must close both, finish closing them and
    // close the loop (uv_loop_close would otherwise fail with UV_EBUSY).
  }
  EXPECT_FALSE(h.timer_fired);
  EXPECT_NE(uv_is_closing(reinterpret_cast<uv_handle_t*>(&h.timer)), 0);
  EXPECT_NE(uv_is_closing(reinterpret_cast<uv_handle_t*>(&h.idle)), 0);
}

TEST(UvLoop, InlineCompletionRunsAtOnceOutsideADrain) {
  Loop loop(Continuation::inline_trampoline);
  Counted c;
  loop.complete(&c.task);
  EXPECT_EQ(c.runs, 1);
  EXPECT_FALSE(loop.run());
  EXPECT_EQ(c.runs, 1);
}

TEST(UvLoop, DeferredCompletionWaitsForTheLoop) {
  Loop loop(Continuation::deferred);
  Counted c;
  loop.complete(&c.task);
  EXPECT_EQ(c.runs, 0);
  EXPECT_FALSE(loop.run());
  EXPECT_EQ(c.runs, 1);
}

// Counts loop iterations with an unreferenced prepare handle, which runs once
// per iteration without keeping the loop alive.
struct IterationCounter {
  uv_prepare_t prepare{};
  uint64_t iterations = 0;
  explicit IterationCounter(Loop& loop) {
    uv_prepare_init(loop.get(), &prepare);
    prepare.data = this;
    uv_prepare_start(
        &prepare, [](uv_prepare_t* p) { ++static_cast<IterationCounter*>(p->data)->iterations; });
    uv_unref(reinterpret_cast<uv_handle_t*>(&prepare));
  }
};

// A chain of completions raised from inside running callbacks: inline, each
// runs as soon as the one that raised it returns, in the same loop iteration
// and never nested; deferred, each waits for the next iteration.
struct CompletionChain {
  Task task;
  Loop* loop = nullptr;
  IterationCounter counter;
  std::vector<uint64_t> ran_in;  // the iteration each link ran in
  int depth = 0, max_depth = 0;
  int left = 0;
  static void run_cb(Task* t) {
    auto* self = static_cast<CompletionChain*>(t->data);
    self->max_depth = std::max(self->max_depth, ++self->depth);
    self->ran_in.push_back(self->counter.iterations);
    if (--self->left > 0) self->loop->complete(&self->task);
    --self->depth;
  }
  explicit CompletionChain(Loop& l, int links) : loop(&l), counter(l), left(links) {
    task.run = &run_cb;
    task.data = this;
  }
};

TEST(UvLoop, CompletionsRaisedByARunningCallbackFollowTheContinuationPolicy) {
  for (auto c : {Continuation::inline_trampoline, Continuation::deferred}) {
    Loop loop(c);
    CompletionChain links(loop, 4);
    loop.post(&links.task);
    EXPECT_FALSE(loop.run());
    ASSERT_EQ(links.ran_in.size(), 4u) << to_string(c);
    EXPECT_EQ(links.max_depth, 1) << to_string(c) << ": a completion ran nested in its caller";
    for (size_t i = 1; i < links.ran_in.size(); ++i) {
      if (c == Continuation::inline_trampoline) {
        EXPECT_EQ(links.ran_in[i], links.ran_in[0]) << "inline: link " << i << " left the iteration";
      } else {
        EXPECT_EQ(links.ran_in[i], links.ran_in[i - 1] + 1) << "deferred: link " << i;
      }
    }
  }
}

TEST(UvTaskQueue, TakeMovesEveryTaskOutAndBothQueuesStayUsable) {
  Counted a, b, c, d;
  TaskQueue q;
  q.push(&a.task);
  q.push(&b.task);
  TaskQueue taken = q.take();
  EXPECT_TRUE(q.empty());
  q.push(&c.task);      // the emptied queue's tail is its own head again
  taken.push(&d.task);  // the taken one's tail is b's link
  EXPECT_EQ(taken.pop(), &a.task);
  EXPECT_EQ(taken.pop(), &b.task);
  EXPECT_EQ(taken.pop(), &d.task);
  EXPECT_EQ(taken.pop(), nullptr);
  EXPECT_EQ(q.pop(), &c.task);
  EXPECT_EQ(q.pop(), nullptr);
  // An empty queue moved: the new one's tail is its own head, not the old one's.
  TaskQueue moved = q.take();
  moved.push(&a.task);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(moved.pop(), &a.task);
  EXPECT_TRUE(moved.empty());
}

// --- the callback channel ---------------------------------------------------


// A log of what completed, in order: "s<value>:<status>" or "r<value>" / "r-".
struct Log {
  std::vector<std::string> events;
  int depth = 0;
  int max_depth = 0;
  void enter() { max_depth = std::max(max_depth, ++depth); }
  void leave() { --depth; }
};

struct Sender {
  SendReq<int> req;
  Log* log = nullptr;
  bool done = false;
  int status = -1;
  Sender(Log* l, int value) : log(l) {
    req.data = this;
    req.value = value;
  }
  static void on_sent(SendReq<int>* r, int status) {
    auto* s = static_cast<Sender*>(r->data);
    s->log->enter();
    s->done = true;
    s->status = status;
    s->log->events.push_back("s" + std::to_string(r->value) + ":" + std::to_string(status));
    s->log->leave();
  }
};

struct Receiver {
  RecvReq<int> req;
  Log* log = nullptr;
  bool done = false;
  std::optional<int> got;
  explicit Receiver(Log* l) : log(l) { req.data = this; }
  static void on_value(RecvReq<int>* r, std::optional<int>& v) {
    auto* self = static_cast<Receiver*>(r->data);
    self->log->enter();
    self->done = true;
    self->got = v;
    self->log->events.push_back(v ? "r" + std::to_string(*v) : std::string("r-"));
    self->log->leave();
  }
};

// Runs `f` from inside the loop (as a posted task) and runs the loop until
// it has nothing left to do.
template <typename F>
void on_loop(Loop& loop, F f) {
  struct Call {
    Task task;
    F* f;
  } call{{}, &f};
  call.task.data = &call;
  call.task.run = [](Task* t) { (*static_cast<Call*>(t->data)->f)(); };
  loop.post(&call.task);
  EXPECT_FALSE(loop.run());
}

class UvChannel : public ::testing::TestWithParam<Continuation> {};

TEST_P(UvChannel, BufferedSendsCompleteUntilFullThenPark) {
  Loop loop(GetParam());
  CbChannel<int> ch(loop, 2);
  Log log;
  Sender a(&log, 10), b(&log, 11), c(&log, 12);
  on_loop(loop, [&] {
    ch.send(&a.req, &Sender::on_sent);
    ch.send(&b.req, &Sender::on_sent);
    ch.send(&c.req, &Sender::on_sent);
  });
  EXPECT_TRUE(a.done && b.done);
  EXPECT_EQ(a.status, 0);
  EXPECT_FALSE(c.done) << "a third value does not fit in 2 slots";
  EXPECT_EQ(ch.size(), 2u);
  EXPECT_TRUE(ch.has_parked_senders());

  Receiver r1(&log);
  on_loop(loop, [&] { ch.recv(&r1.req, &Receiver::on_value); });
  EXPECT_EQ(r1.got, 10);
  EXPECT_TRUE(c.done) << "the freed slot takes the parked sender's value";
  EXPECT_EQ(c.status, 0);
  EXPECT_EQ(ch.size(), 2u);
  EXPECT_FALSE(ch.has_parked_senders());

  Receiver r2(&log), r3(&log);
  on_loop(loop, [&] {
    ch.recv(&r2.req, &Receiver::on_value);
    ch.recv(&r3.req, &Receiver::on_value);
  });
  EXPECT_EQ(r2.got, 11);
  EXPECT_EQ(r3.got, 12);
  EXPECT_EQ(ch.size(), 0u);
  EXPECT_EQ(log.max_depth, 1);
}

TEST_P(UvChannel, RendezvousSendCompletesOnlyWhenTaken) {
  Loop loop(GetParam());
  CbChannel<int> ch(loop, 0);
  Log log;
  Sender s(&log, 7);
  on_loop(loop, [&] { ch.send(&s.req, &Sender::on_sent); });
  EXPECT_FALSE(s.done) << "no receiver: the sender must stay parked";
  EXPECT_TRUE(ch.has_parked_senders());
  EXPECT_EQ(ch.size(), 0u);

  Receiver r(&log);
  on_loop(loop, [&] { ch.recv(&r.req, &Receiver::on_value); });
  EXPECT_EQ(r.got, 7);
  EXPECT_TRUE(s.done);
  EXPECT_EQ(log.events, (std::vector<std::string>{"r7", "s7:0"}))
      << "the receive happens before the send completes";
}

TEST_P(UvChannel, ParkedReceiverGetsTheValueDirectly) {
  for (size_t capacity : {size_t{0}, size_t{3}}) {
    Loop loop(GetParam());
    CbChannel<int> ch(loop, capacity);
    Log log;
    Receiver r(&log);
    on_loop(loop, [&] { ch.recv(&r.req, &Receiver::on_value); });
    EXPECT_FALSE(r.done);
    EXPECT_TRUE(ch.has_parked_receivers());
    Sender s(&log, 5);
    on_loop(loop, [&] { ch.send(&s.req, &Sender::on_sent); });
    EXPECT_EQ(r.got, 5);
    EXPECT_EQ(ch.size(), 0u) << "a hand-off does not go through the ring";
    EXPECT_EQ(log.events, (std::vector<std::string>{"r5", "s5:0"})) << capacity;
  }
}

TEST_P(UvChannel, CloseDrainsTheRingThenGivesNullopt) {
  Loop loop(GetParam());
  CbChannel<int> ch(loop, 4);
  Log log;
  Sender a(&log, 1), b(&log, 2), late(&log, 3);
  Receiver r1(&log), r2(&log), r3(&log);
  on_loop(loop, [&] {
    ch.send(&a.req, &Sender::on_sent);
    ch.send(&b.req, &Sender::on_sent);
    ch.close();
    ch.send(&late.req, &Sender::on_sent);
  });
  EXPECT_EQ(late.status, UV_EPIPE);
  on_loop(loop, [&] { ch.recv(&r1.req, &Receiver::on_value); });
  on_loop(loop, [&] { ch.recv(&r2.req, &Receiver::on_value); });
  on_loop(loop, [&] { ch.recv(&r3.req, &Receiver::on_value); });
  EXPECT_EQ(r1.got, 1);
  EXPECT_EQ(r2.got, 2);
  EXPECT_TRUE(r3.done);
  EXPECT_EQ(r3.got, std::nullopt);
}

TEST_P(UvChannel, CloseWakesParkedReceiversAndFailsParkedSenders) {
  {
    Loop loop(GetParam());
    CbChannel<int> ch(loop, 0);
    Log log;
    Receiver r1(&log), r2(&log);
    on_loop(loop, [&] {
      ch.recv(&r1.req, &Receiver::on_value);
      ch.recv(&r2.req, &Receiver::on_value);
    });
    EXPECT_FALSE(r1.done || r2.done);
    on_loop(loop, [&] { ch.close(); });
    EXPECT_TRUE(r1.done && r2.done);
    EXPECT_EQ(r1.got, std::nullopt);
    EXPECT_EQ(r2.got, std::nullopt);
  }
  {
    Loop loop(GetParam());
    CbChannel<int> ch(loop, 1);
    Log log;
    Sender a(&log, 1), b(&log, 2);
    on_loop(loop, [&] {
      ch.send(&a.req, &Sender::on_sent);
      ch.send(&b.req, &Sender::on_sent);
    });
    EXPECT_TRUE(a.done);
    EXPECT_FALSE(b.done);
    on_loop(loop, [&] { ch.close(); });
    EXPECT_EQ(b.status, UV_EPIPE);
    Receiver r1(&log), r2(&log);
    on_loop(loop, [&] { ch.recv(&r1.req, &Receiver::on_value); });
    on_loop(loop, [&] { ch.recv(&r2.req, &Receiver::on_value); });
    EXPECT_EQ(r1.got, 1);
    EXPECT_EQ(r2.got, std::nullopt);
  }
}

// A producer whose on_sent sends the next value and a consumer whose
// on_value receives again: a long chain must neither grow the stack (callbacks
// never nest) nor lose, duplicate or reorder a value.
struct Chain {
  CbChannel<uint64_t>* ch;
  SendReq<uint64_t> sreq;
  RecvReq<uint64_t> rreq;
  Task start_producer, start_consumer;
  uint64_t n = 0, next_send = 0, next_expected = 0, errors = 0;
  bool closed_seen = false;
  int depth = 0, max_depth = 0;

  void send_next() {
    sreq.value = next_send;
    ch->send(&sreq, &on_sent);
  }
  static void on_sent(SendReq<uint64_t>* r, int status) {
    auto* c = static_cast<Chain*>(r->data);
    c->max_depth = std::max(c->max_depth, ++c->depth);
    if (status != 0) ++c->errors;
    if (++c->next_send < c->n) {
      c->send_next();
    } else {
      c->ch->close();
    }
    --c->depth;
  }
  static void on_value(RecvReq<uint64_t>* r, std::optional<uint64_t>& v) {
    auto* c = static_cast<Chain*>(r->data);
    c->max_depth = std::max(c->max_depth, ++c->depth);
    if (!v) {
      c->closed_seen = true;
    } else {
      if (*v != c->next_expected) ++c->errors;
      ++c->next_expected;
      c->ch->recv(r, &on_value);
    }
    --c->depth;
  }
  Chain(Loop& loop, CbChannel<uint64_t>& channel, uint64_t count) : ch(&channel), n(count) {
    sreq.data = rreq.data = start_producer.data = start_consumer.data = this;
    start_producer.run = [](Task* t) { static_cast<Chain*>(t->data)->send_next(); };
    start_consumer.run = [](Task* t) {
      auto* c = static_cast<Chain*>(t->data);
      c->ch->recv(&c->rreq, &on_value);
    };
    loop.post(&start_producer);
    loop.post(&start_consumer);
  }
};

TEST_P(UvChannel, LongChainsKeepTheStackFlatAndTheOrder) {
  for (size_t capacity : {size_t{0}, size_t{1}, size_t{7}}) {
    Loop loop(GetParam());
    CbChannel<uint64_t> ch(loop, capacity);
    Chain chain(loop, ch, 100'000);
    EXPECT_FALSE(loop.run());
    EXPECT_EQ(chain.errors, 0u) << capacity;
    EXPECT_EQ(chain.next_expected, 100'000u);
    EXPECT_TRUE(chain.closed_seen);
    EXPECT_EQ(chain.max_depth, 1) << "a channel callback ran nested inside another";
  }
}

TEST_P(UvChannel, WhereWokenCallbacksRun) {
  Loop loop(GetParam());
  IterationCounter counter(loop);
  CbChannel<uint64_t> ch(loop, 0);
  Chain chain(loop, ch, 1000);
  EXPECT_FALSE(loop.run());
  EXPECT_EQ(chain.next_expected, 1000u);
  if (GetParam() == Continuation::deferred) {
    // Every rendezvous takes at least one loop iteration.
    EXPECT_GE(counter.iterations, 1000u);
  } else {
    // The whole chain runs from the loop's first idle callback.
    EXPECT_LE(counter.iterations, 2u);
  }
}

TEST_P(UvChannel, InlinePolicyRunsTheWokenCallbackBeforeSendReturns) {
  Loop loop(GetParam());
  CbChannel<int> ch(loop, 0);
  Log log;
  Receiver r(&log);
  on_loop(loop, [&] { ch.recv(&r.req, &Receiver::on_value); });
  Sender s(&log, 9);
  ch.send(&s.req, &Sender::on_sent);  // from outside any callback
  if (GetParam() == Continuation::inline_trampoline) {
    EXPECT_TRUE(r.done && s.done);
  } else {
    EXPECT_FALSE(r.done || s.done) << "deferred: nothing runs until the loop does";
    EXPECT_FALSE(loop.run());
    EXPECT_TRUE(r.done && s.done);
  }
  EXPECT_EQ(log.events, (std::vector<std::string>{"r9", "s9:0"}));
}

TEST_P(UvChannel, MoreUnitsThanSlotsInterleaveFairly) {
  // Several senders and receivers, B = 1: every value arrives exactly once.
  Loop loop(GetParam());
  CbChannel<int> ch(loop, 1);
  Log log;
  std::vector<Sender> senders;
  std::vector<Receiver> receivers;
  senders.reserve(5);
  receivers.reserve(5);
  for (int i = 0; i < 5; ++i) senders.emplace_back(&log, i);
  for (int i = 0; i < 5; ++i) receivers.emplace_back(&log);
  on_loop(loop, [&] {
    for (auto& s : senders) ch.send(&s.req, &Sender::on_sent);
    for (auto& r : receivers) ch.recv(&r.req, &Receiver::on_value);
  });
  std::vector<int> got;
  for (auto& r : receivers) {
    ASSERT_TRUE(r.got.has_value());
    got.push_back(*r.got);
  }
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4})) << "FIFO across parked senders";
  for (auto& s : senders) EXPECT_EQ(s.status, 0);
}

INSTANTIATE_TEST_SUITE_P(Policies, UvChannel,
                         ::testing::Values(Continuation::inline_trampoline, Continuation::deferred),
                         [](const auto& info) { return std::string(to_string(info.param)); });

// --- the workloads ------------------------------------------------------------

std::vector<ParamDef> defs_with_model(const WorkloadSpec& spec) {
  std::vector<ParamDef> defs = spec.params;
  for (const auto& d : models::uv::info().params) defs.push_back(d);
  return defs;
}

void expect_good_run(const Impl& impl, const Params& params, const std::string& label) {
  Probe probe;
  impl.run(params, probe);
  EXPECT_TRUE(probe.started()) << label;
  EXPECT_TRUE(probe.stopped()) << label;
  ASSERT_TRUE(probe.verified()) << label;
  EXPECT_TRUE(probe.verdict().ok) << label << ": " << probe.verdict().message;
  EXPECT_TRUE(probe.notes().contains("continuation")) << label;
}

TEST(UvProdcons, SmallMatrixVerifies) {
  const auto defs = defs_with_model(prodcons::spec());
  for (std::string cont : {"inline", "deferred"})
    for (auto [np, nc] : {std::pair{1, 1}, std::pair{4, 4}, std::pair{3, 2}})
      for (int capacity : {0, 1, 7, 1024})
        for (int payload : {0, 64, 1024}) {
          std::map<std::string, std::string> given{{"producers", std::to_string(np)},
                                                   {"consumers", std::to_string(nc)},
                                                   {"capacity", std::to_string(capacity)},
                                                   {"payload", std::to_string(payload)},
                                                   {"messages", "1001"},
                                                   {"continuation", cont}};
          std::string label = cont + " P" + std::to_string(np) + " C" + std::to_string(nc) + " B" +
                              std::to_string(capacity) + " S" + std::to_string(payload);
          expect_good_run(impls::prodcons_uv, make_params(defs, given), label);
        }
}

TEST(UvProdcons, RunsWithoutTheModelParameter) {
  Params params = make_params(prodcons::spec().params, {{"messages", "500"}});
  expect_good_run(impls::prodcons_uv, params, "workload params only");
}

TEST(UvCounter, EveryModeVerifies) {
  const auto defs = defs_with_model(counter::spec());
  for (std::string cont : {"inline", "deferred"})
    for (int units : {1, 2, 64})
      for (std::string mode : {"lock", "atomic", "message"}) {
        std::map<std::string, std::string> given{{"units", std::to_string(units)},
                                                 {"increments", "1000"},
                                                 {"mode", mode},
                                                 {"continuation", cont}};
        std::string label = cont + " U" + std::to_string(units) + " " + mode;
        Probe probe;
        impls::counter_uv.run(make_params(defs, given), probe);
        EXPECT_TRUE(probe.started()) << label;
        EXPECT_TRUE(probe.stopped()) << label;
        ASSERT_TRUE(probe.verified()) << label;
        EXPECT_TRUE(probe.verdict().ok) << label << ": " << probe.verdict().message;
        EXPECT_TRUE(probe.notes().contains("continuation")) << label;
        if (mode == "lock") {
          ASSERT_TRUE(probe.notes().contains("lock")) << label;
          EXPECT_EQ(probe.notes()["lock"].get<std::string>().rfind("none:", 0), 0u) << label;
        }
      }
}

// --- the workload catalog: pingpong, spawn, skynet, ring, sleepers ----------

// Runs `impl` with the workload's parameters `given` under both continuation
// policies and expects a verified run; returns nothing, checks in place.
// `check` may look further at the probe (histograms, notes).
template <typename Check>
void expect_good_runs(const Impl& impl, const WorkloadSpec& spec,
                      std::map<std::string, std::string> given, const std::string& label,
                      Check check) {
  const auto defs = defs_with_model(spec);
  for (std::string cont : {"inline", "deferred"}) {
    given["continuation"] = cont;
    Probe probe;
    impl.run(make_params(defs, given), probe);
    const std::string l = fmt::format("{} {}", label, cont);
    EXPECT_TRUE(probe.started()) << l;
    EXPECT_TRUE(probe.stopped()) << l;
    ASSERT_TRUE(probe.verified()) << l;
    EXPECT_TRUE(probe.verdict().ok) << l << ": " << probe.verdict().message;
    EXPECT_TRUE(probe.notes().contains("continuation")) << l;
    check(probe, l);
  }
}

TEST(UvPingpong, RoundTripsVerifyAndEveryRoundIsTimed) {
  for (int rounds : {1, 2, 1000})
    expect_good_runs(impls::pingpong_uv, pingpong::spec(), {{"rounds", std::to_string(rounds)}},
                     fmt::format("rounds {}", rounds), [&](const Probe& probe, auto& l) {
                       EXPECT_EQ(probe.merged_latency().count(), static_cast<uint64_t>(rounds))
                           << l;
                     });
}

TEST(UvSpawn, EveryUnitParksAndFinishes) {
  for (int units : {1, 10, 500})
    expect_good_runs(impls::spawn_uv, spawn::spec(), {{"units", std::to_string(units)}},
                     fmt::format("units {}", units), [](const Probe& probe, auto& l) {
                       EXPECT_TRUE(probe.notes().contains("unit")) << l;
                     });
}

TEST(UvSkynet, TheRootHasTheSum) {
  for (int leaves : {1, 10, 100, 1000})
    expect_good_runs(impls::skynet_uv, skynet::spec(), {{"leaves", std::to_string(leaves)}},
                     fmt::format("leaves {}", leaves), [](const Probe&, auto&) {});
}

TEST(UvRing, TheTokenEndsAtTheRightUnit) {
  for (auto [units, hops] : {std::pair{2, 1}, std::pair{5, 1000}, std::pair{5, 5},
                             std::pair{503, 2000}})
    expect_good_runs(impls::ring_uv, ring::spec(),
                     {{"units", std::to_string(units)}, {"hops", std::to_string(hops)}},
                     fmt::format("N{} T{}", units, hops),
                     [](const Probe&, auto&) {});
}

TEST(UvSleepers, EveryWakeIsOnTimeOrLateAndRecorded) {
  expect_good_runs(impls::sleepers_uv, sleepers::spec(),
                   {{"units", "10"}, {"sleeps", "3"}, {"sleep_ms", "2"}}, "10x3x2ms",
                   [](const Probe& probe, auto& l) {
                     // verify() has already failed any early wake; here
                     // every wake must also be in the histograms.
                     EXPECT_EQ(probe.merged_latency().count(), 30u) << l;
                     EXPECT_TRUE(probe.notes().contains("timer")) << l;
                   });
}

TEST(UvSleepers, MillisecondTimersNeverWakeEarly) {
  // Odd sleep lengths and one unit per sub-millisecond start offset, so due
  // times fall everywhere inside a loop millisecond.
  expect_good_runs(impls::sleepers_uv, sleepers::spec(),
                   {{"units", "37"}, {"sleeps", "4"}, {"sleep_ms", "1"}}, "37x4x1ms",
                   [](const Probe& probe, auto& l) {
                     EXPECT_EQ(probe.merged_latency().count(), 148u) << l;
                   });
}

}  // namespace
}  // namespace cmbench::uv
