#include "harness/cell/speed.hpp"

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <system_error>
#include <thread>

#include "harness/cell/probe.hpp"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define CMBENCH_ON_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#else
#define CMBENCH_ON_VALGRIND() false
#endif

namespace cmbench {

bool speed_loop_applies() { return !CMBENCH_ON_VALGRIND(); }

double speed_loop_ns(uint64_t steps) {
  // A linear congruential step: each depends on the last (a multiply and an
  // add, 4 cycles a step on x86-64), so the loop runs at one step per
  // multiply-add latency whatever the CPU's width. The asm keeps the
  // compiler from folding the loop into a closed form.
  uint64_t x = 1;
  const int64_t t0 = now_ns();
  for (uint64_t i = 0; i < steps; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    asm volatile("" : "+r"(x));
  }
  const int64_t t1 = now_ns();
  asm volatile("" ::"r"(x));
  return static_cast<double>(t1 - t0);
}

std::optional<double> cross_cpu_round_trip_ns(uint64_t rounds) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0 || CPU_COUNT(&allowed) < 2) return std::nullopt;
  int cpus[2] = {-1, -1};
  for (int c = 0, found = 0; c < CPU_SETSIZE && found < 2; ++c)
    if (CPU_ISSET(c, &allowed)) cpus[found++] = c;
  auto pin = [](int cpu) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return pthread_setaffinity_np(pthread_self(), sizeof one, &one) == 0;
  };
  // The line: the initiator writes odd values, the echo the next even one.
  struct alignas(64) Line {
    std::atomic<uint64_t> value{0};
  } line;
  alignas(64) std::atomic<bool> quit{false};
  std::atomic<int> pinned{0};  // threads pinned; -1 once one could not be
  auto echo_body = [&] {
    if (!pin(cpus[1])) {
      pinned.store(-1);
      return;
    }
    pinned.fetch_add(1);
    for (uint64_t want = 1;; want += 2) {
      while (line.value.load(std::memory_order_acquire) != want)
        if (quit.load(std::memory_order_relaxed)) return;
      line.value.store(want + 1, std::memory_order_release);
    }
  };
  uint64_t done = 0;
  int64_t elapsed = 0;
  auto initiator_body = [&] {
    const bool ok = pin(cpus[0]);
    while (ok && pinned.load() == 0) std::this_thread::yield();
    if (ok && pinned.load() > 0) {
      const int64_t t0 = now_ns();
      const int64_t deadline = t0 + kCrossCpuDeadlineNs;
      // Round trip i, unless the deadline passes first (looked at every
      // 1,024 spins, so that the clock costs the round trip nothing).
      auto round_trip = [&](uint64_t i) {
        line.value.store(2 * i + 1, std::memory_order_release);
        for (uint64_t spins = 1; line.value.load(std::memory_order_acquire) != 2 * i + 2; ++spins)
          if ((spins & 1023) == 0 && now_ns() > deadline) return false;
        return true;
      };
      while (done < rounds && round_trip(done)) ++done;
      elapsed = now_ns() - t0;
    }
    quit.store(true, std::memory_order_relaxed);
  };
  // A thread the runner cannot start (a process limit reached) leaves the
  // figure out; it never stops the run.
  std::thread echo, initiator;
  try {
    echo = std::thread(echo_body);
    initiator = std::thread(initiator_body);
  } catch (const std::system_error&) {
    quit.store(true, std::memory_order_relaxed);
  }
  if (initiator.joinable()) initiator.join();
  if (echo.joinable()) echo.join();
  if (done == 0) return std::nullopt;
  return static_cast<double>(elapsed) / static_cast<double>(done);
}

}  // namespace cmbench
