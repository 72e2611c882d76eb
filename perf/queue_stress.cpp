// cmbench-queue-stress: runs the thread model's BoundedQueue until it hangs
// or the time is up, on the model's own Condition (the default) or on
// std::condition_variable, to measure how often glibc's condition variable
// loses a wake-up (glibc bug 25847; models/thread/condition.hpp).
//
//   cmbench-queue-stress [--cv futex|std] [--capacity B] [--producers P]
//                        [--consumers C] [--seconds S]
//
// Rounds of P producers pushing 5,000 values each through one queue to C
// consumers, again and again. A watchdog thread declares a hang when no value
// has moved for 10 s: it prints the queue's waiters and aborts, so that a
// core file (ulimit -c unlimited) holds every thread's stack and the
// condition variables' state. Exit 0 and "rounds N" when the time is up.
// Run it beside a CPU hog (or a build): the lost wake-up needs a waiter to be
// preempted at the wrong moment, and on an idle machine it is rarer still.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <thread>
#include <vector>

#include "models/thread/bounded_queue.hpp"

namespace {

using cmbench::models::thread::BoundedQueue;
using Clock = std::chrono::steady_clock;

std::atomic<uint64_t> moved{0};
std::atomic<uint64_t> rounds{0};

template <typename Queue>
void round_trip(size_t capacity, int producers, int consumers) {
  constexpr uint64_t kPerProducer = 5000;
  Queue q(capacity);
  std::atomic<uint64_t> got{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < consumers; ++c)
    threads.emplace_back([&] {
      while (q.pop()) {
        got.fetch_add(1, std::memory_order_relaxed);
        moved.fetch_add(1, std::memory_order_relaxed);
      }
    });
  std::vector<std::thread> pushers;
  for (int p = 0; p < producers; ++p)
    pushers.emplace_back([&, p] {
      for (uint64_t i = 0; i < kPerProducer; ++i) q.push(p * kPerProducer + i);
    });
  for (auto& t : pushers) t.join();
  q.close();
  for (auto& t : threads) t.join();
  if (got.load() != producers * kPerProducer) {
    fmt::print(stderr, "cmbench-queue-stress: {} values of {} arrived\n", got.load(),
               producers * kPerProducer);
    std::abort();
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cmbench-queue-stress: the thread model's queue until it hangs or the time is up"};
  std::string cv = "futex";
  size_t capacity = 1;
  int producers = 4, consumers = 1;
  double seconds = 60;
  app.add_option("--cv", cv, "The condition variable: futex (the model's Condition) | std")
      ->check(CLI::IsMember({"futex", "std"}))
      ->capture_default_str();
  app.add_option("--capacity", capacity, "Queue capacity (0: rendezvous)")->capture_default_str();
  app.add_option("--producers", producers, "Producer threads")->check(CLI::Range(1, 64))->capture_default_str();
  app.add_option("--consumers", consumers, "Consumer threads")->check(CLI::Range(1, 64))->capture_default_str();
  app.add_option("--seconds", seconds, "How long to run")->check(CLI::Range(0.1, 1e7))->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::thread([] {
    uint64_t last = moved.load();
    int still = 0;
    for (;;) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      const uint64_t now = moved.load();
      still = now == last ? still + 1 : 0;
      last = now;
      if (still >= 10) {
        fmt::print(stderr, "cmbench-queue-stress: HANG: no value moved for 10 s, after {} rounds\n",
                   rounds.load());
        std::abort();
      }
    }
  }).detach();

  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    if (cv == "std")
      round_trip<BoundedQueue<uint64_t, std::condition_variable>>(capacity, producers, consumers);
    else
      round_trip<BoundedQueue<uint64_t>>(capacity, producers, consumers);
    rounds.fetch_add(1);
  }
  fmt::print("rounds {}\n", rounds.load());
  return 0;
}
