#pragma once
// Bystander pairs (workloads/common/bystanders.hpp) in the coro model, for
// every workload that runs them beside its own units (blocking, fairness):
// pingpong's two coroutines and an unbuffered experimental::channel each way
// (try_send / try_receive first, as pingpong). A sends v and receives v + 1
// until the workload's units are done, then closes `ping` (empty, B parked
// in its receive, which fails with channel_closed); io_context::run()
// returning joins them with the workload's own.
#include <cstdint>
#include <memory>
#include <span>
#include <tuple>
#include <vector>

#include "harness/cell/histogram.hpp"
#include "models/coro/runtime.hpp"
#include "workloads/common/bystanders.hpp"

namespace cmbench::bystanders::coro {

class Pairs {
 public:
  Pairs(boost::asio::io_context& io, std::span<Tally> tallies, std::span<Histogram> hists)
      : io_(io), tallies_(tallies), hists_(hists) {
    for (size_t i = 0; i < tallies.size(); ++i) channels_.push_back(std::make_unique<Channels>(io.get_executor()));
  }

  // Spawns A and B of every pair on the io_context. A checks done() once per
  // round trip (so it makes at least one) and stops when it returns true.
  template <typename Done>
  void spawn(Done done) {
    for (size_t i = 0; i < tallies_.size(); ++i) {
      cmbench::coro::spawn(io_, unit_a(done, *channels_[i], hists_[i], tallies_[i]));
      cmbench::coro::spawn(io_, unit_b(*channels_[i], tallies_[i]));
    }
  }

 private:
  struct Channels {
    cmbench::coro::Channel<uint64_t> ping, pong;
    explicit Channels(const cmbench::coro::Executor& ex) : ping(ex, 0), pong(ex, 0) {}
  };

  // `done` is taken by value: the coroutine frame keeps its own copy.
  template <typename Done>
  static cmbench::coro::Task<> unit_a(Done done, Channels& c, Histogram& hist, Tally& out) {
    namespace rt = cmbench::coro;
    Tally t;
    RoundTrips laps(hist);
    uint64_t v = 0;
    do {
      if (!c.ping.try_send(rt::error_code{}, v)) co_await c.ping.async_send(rt::error_code{}, v, rt::kAwait);
      uint64_t got = 0;
      rt::error_code ec;
      if (!rt::try_receive(c.pong, got)) std::tie(ec, got) = co_await c.pong.async_receive(rt::kAwaitTuple);
      laps.lap();
      reply(t, v, ec ? 0 : got);
      ++v;
    } while (!done());
    c.ping.close();
    out.replies = t.replies;
    out.wrong = t.wrong;
  }

  static cmbench::coro::Task<> unit_b(Channels& c, Tally& out) {
    namespace rt = cmbench::coro;
    uint64_t answered = 0;
    for (;;) {
      uint64_t v = 0;
      if (!rt::try_receive(c.ping, v)) {
        auto [ec, got] = co_await c.ping.async_receive(rt::kAwaitTuple);
        if (ec) break;  // channel_closed: A is done
        v = got;
      }
      ++answered;
      if (!c.pong.try_send(rt::error_code{}, v + 1)) co_await c.pong.async_send(rt::error_code{}, v + 1, rt::kAwait);
    }
    out.answered = answered;
  }

  boost::asio::io_context& io_;
  std::span<Tally> tallies_;
  std::span<Histogram> hists_;
  std::vector<std::unique_ptr<Channels>> channels_;
};

}  // namespace cmbench::bystanders::coro
