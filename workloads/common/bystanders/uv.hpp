#pragma once
// Bystander pairs (workloads/common/bystanders.hpp) in the uv model, for
// every workload that runs them beside its own units (blocking, fairness):
// pingpong's two callbacks handing the value to each other through the
// loop's continuation policy (Loop::complete), except that A starts each new
// round trip on the next loop iteration (Loop::defer). A pair that only ever
// handed off inline would keep the loop's ready queue from ever emptying:
// the loop would never poll again nor reach what the workload deferred to
// its next iteration. So each round trip of a pair includes one loop
// iteration (a zero-timeout epoll_wait) besides the callbacks of the
// workload's units due then. When the workload's units are done, A tells B
// to stop instead of sending, and neither queues anything more.
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "harness/cell/histogram.hpp"
#include "models/uv/loop.hpp"
#include "workloads/common/bystanders.hpp"

namespace cmbench::bystanders::uv {

// `done()` is checked by A once per round trip (so it makes at least one);
// A stops when it returns true. The tasks point into the object: it stays
// where it was made until the loop has run.
template <typename Done>
class Pairs {
 public:
  Pairs(cmbench::uv::Loop& loop, std::span<Tally> tallies, std::span<Histogram> hists, Done done)
      : loop_(loop), done_(done), as_(tallies.size()), bs_(tallies.size()) {
    using cmbench::uv::Task;
    for (size_t i = 0; i < tallies.size(); ++i) {
      Pinger& a = as_[i];
      Ponger& b = bs_[i];
      a.reply = Task{nullptr, &Pinger::reply_cb, &a};
      a.next_round = Task{nullptr, &Pinger::next_round_cb, &a};
      a.pairs = this;
      a.b = &b;
      a.hist = &hists[i];
      a.tally = &tallies[i];
      b.task = Task{nullptr, &Ponger::run_cb, &b};
      b.a = &a;
      b.pairs = this;
    }
  }
  Pairs(const Pairs&) = delete;
  Pairs& operator=(const Pairs&) = delete;

  // Posts every pair's first round trip; called before the workload posts
  // its own units, so that the pairs are running when those start.
  void start() {
    for (Pinger& a : as_) loop_.post(&a.next_round);
  }

 private:
  struct Ponger;

  // Unit A of a pair.
  struct Pinger {
    cmbench::uv::Task reply;       // runs when B's answer arrives
    cmbench::uv::Task next_round;  // deferred: sends the next value
    Pairs* pairs = nullptr;
    Ponger* b = nullptr;
    Histogram* hist = nullptr;
    std::optional<RoundTrips> laps;
    Tally* tally = nullptr;
    uint64_t v = 0;    // the value in flight
    uint64_t got = 0;  // written by B

    static void next_round_cb(cmbench::uv::Task* t) {
      auto* self = static_cast<Pinger*>(t->data);
      if (!self->laps) self->laps.emplace(*self->hist);  // A's first callback: its start
      self->b->value = self->v;
      self->pairs->loop_.complete(&self->b->task);
    }
    static void reply_cb(cmbench::uv::Task* t) {
      auto* self = static_cast<Pinger*>(t->data);
      self->laps->lap();
      bystanders::reply(*self->tally, self->v, self->got);
      ++self->v;
      if (!self->pairs->done_()) {
        self->pairs->loop_.defer(&self->next_round);
        return;
      }
      self->b->stop = true;
      self->pairs->loop_.complete(&self->b->task);
    }
  };

  // Unit B of a pair.
  struct Ponger {
    cmbench::uv::Task task;  // runs when A's value arrives
    Pinger* a = nullptr;
    Pairs* pairs = nullptr;
    uint64_t value = 0;
    bool stop = false;

    static void run_cb(cmbench::uv::Task* t) {
      auto* self = static_cast<Ponger*>(t->data);
      if (self->stop) return;
      ++self->a->tally->answered;
      self->a->got = self->value + 1;
      self->pairs->loop_.complete(&self->a->reply);
    }
  };

  cmbench::uv::Loop& loop_;
  Done done_;
  std::vector<Pinger> as_;
  std::vector<Ponger> bs_;
};

}  // namespace cmbench::bystanders::uv
