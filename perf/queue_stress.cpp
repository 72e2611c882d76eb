// cmbench-queue-stress: runs the thread model's BoundedQueue until it hangs
// or the time is up, on one of four condition variables, to measure how often
// glibc's condition variable loses a wake-up (glibc bug 25847;
// models/thread/condition.hpp) and what each way around it costs:
//
//   futex      the model's own Condition (the default; what the cells use)
//   std        std::condition_variable, notify_one as the queue calls it
//   broadcast  std::condition_variable with every notify_one made a
//              notify_all: the first known workaround
//   atomic     the model's Condition on std::atomic<uint32_t>::wait and
//              notify_*: the second known workaround (libstdc++'s wait spins
//              and yields before it sleeps on a futex)
//
//   cmbench-queue-stress [--cv futex|std|broadcast|atomic] [--capacity B]
//                        [--producers P] [--consumers C] [--seconds S]
//
// Rounds of P producers pushing 5,000 values each through one queue to C
// consumers, again and again. A watchdog thread declares a hang when no value
// has moved for 10 s: it prints the queue's waiters and aborts, so that a
// core file (ulimit -c unlimited) holds every thread's stack and the
// condition variables' state. Exit 0 when the time is up, with one line:
// rounds, values, and per value the wall time, the CPU time and the context
// switches (voluntary, involuntary) of the whole process: the figures the
// thread model's prodcons cells are measured by, at their shapes. Run it
// beside a CPU hog (or a build) to hunt the hang: the lost wake-up needs a
// waiter to be preempted at the wrong moment, and on an idle machine it is
// rarer still; run it on a quiet machine to compare the costs.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <thread>
#include <vector>

#include <sys/resource.h>

#include "models/thread/bounded_queue.hpp"

namespace {

using cmbench::models::thread::BoundedQueue;
using Clock = std::chrono::steady_clock;

// Workaround 1: broadcast. Every waiter wakes and re-checks its predicate
// under the mutex, so a lost signal cannot strand one.
class BroadcastCv {
 public:
  void wait(std::unique_lock<std::mutex>& lock) { cv_.wait(lock); }
  void notify_one() noexcept { cv_.notify_all(); }
  void notify_all() noexcept { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

// Workaround 2: the model's Condition (a counter of notifications, read under
// the mutex) with std::atomic::wait in place of the raw FUTEX_WAIT.
class AtomicCv {
 public:
  void wait(std::unique_lock<std::mutex>& lock) {
    const uint32_t seen = seq_.load(std::memory_order_relaxed);
    lock.unlock();
    seq_.wait(seen, std::memory_order_acquire);
    lock.lock();
  }
  void notify_one() noexcept {
    seq_.fetch_add(1, std::memory_order_release);
    seq_.notify_one();
  }
  void notify_all() noexcept {
    seq_.fetch_add(1, std::memory_order_release);
    seq_.notify_all();
  }

 private:
  std::atomic<uint32_t> seq_{0};
};

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
  app.add_option("--cv", cv,
                 "The condition variable: futex (the model's Condition) | std | broadcast "
                 "(std, notify_all) | atomic (std::atomic::wait)")
      ->check(CLI::IsMember({"futex", "std", "broadcast", "atomic"}))
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

  auto usage = [] {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return u;
  };
  const rusage before = usage();
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    if (cv == "std")
      round_trip<BoundedQueue<uint64_t, std::condition_variable>>(capacity, producers, consumers);
    else if (cv == "broadcast")
      round_trip<BoundedQueue<uint64_t, BroadcastCv>>(capacity, producers, consumers);
    else if (cv == "atomic")
      round_trip<BoundedQueue<uint64_t, AtomicCv>>(capacity, producers, consumers);
    else
      round_trip<BoundedQueue<uint64_t>>(capacity, producers, consumers);
    rounds.fetch_add(1);
  }
  const double wall_ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
  const rusage after = usage();
  auto ns = [](const timeval& t) { return t.tv_sec * 1e9 + t.tv_usec * 1e3; };
  const double cpu_ns = ns(after.ru_utime) - ns(before.ru_utime) + ns(after.ru_stime) - ns(before.ru_stime);
  const double values = static_cast<double>(moved.load());
  fmt::print("cv {} capacity {} producers {} consumers {}: rounds {} values {} | per value: "
             "{:.0f} ns wall, {:.0f} ns CPU, {:.3f} voluntary + {:.3f} involuntary context switches\n",
             cv, capacity, producers, consumers, rounds.load(), moved.load(), wall_ns / values,
             cpu_ns / values, static_cast<double>(after.ru_nvcsw - before.ru_nvcsw) / values,
             static_cast<double>(after.ru_nivcsw - before.ru_nivcsw) / values);
  return 0;
}
