// The latency sample clock (harness/cell/sample_clock.hpp): it counts nanoseconds
// at CLOCK_MONOTONIC's rate, its readings compare across a fork, and
// CMBENCH_SAMPLE_CLOCK chooses it or refuses a bad value by name.
#include "harness/cell/sample_clock.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace cmbench {
namespace {

// now_ns() bracketed by two sample_ns() readings: preemption in between only
// widens the bracket.
struct Bracket {
  int64_t before, clock, after;
};
Bracket bracket() {
  Bracket b;
  b.before = sample_ns();
  b.clock = now_ns();
  b.after = sample_ns();
  return b;
}

TEST(SampleClock, CountsNanosecondsAtTheMonotonicClocksRate) {
  calibrate_sample_clock();
  const Bracket a = bracket();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const Bracket b = bracket();
  const int64_t clock = b.clock - a.clock;
  // The sample clock's elapsed time, from the tightest to the widest bracket,
  // must contain the monotonic clock's, give or take 0.1% (calibration over
  // 2 ms is good to about 20 ppm).
  EXPECT_LE(static_cast<double>(b.before - a.after), clock * 1.001) << sample_clock_description();
  EXPECT_GE(static_cast<double>(b.after - a.before), clock * 0.999) << sample_clock_description();
}

TEST(SampleClock, ReadingsAreComparableAcrossAFork) {
  calibrate_sample_clock();
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const int64_t before = sample_ns();
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int64_t child = sample_ns();
    _exit(write(fds[1], &child, sizeof child) == sizeof child ? 0 : 1);
  }
  int64_t child = 0;
  ASSERT_EQ(read(fds[0], &child, sizeof child), static_cast<ssize_t>(sizeof child));
  const int64_t after = sample_ns();
  int status = 0;
  waitpid(pid, &status, 0);
  close(fds[0]);
  close(fds[1]);
  EXPECT_LE(before, child);
  EXPECT_LE(child, after);
}

TEST(SampleClock, SinceIsNeverNegative) {
  EXPECT_EQ(sample_since(100, 250), 150u);
  EXPECT_EQ(sample_since(250, 100), 0u);
}

TEST(SampleClock, SaysWhatItReads) {
  calibrate_sample_clock();
  const std::string& d = sample_clock_description();
  EXPECT_TRUE(d.rfind("tsc (", 0) == 0 || d.rfind("clock_gettime(CLOCK_MONOTONIC): ", 0) == 0) << d;
}

TEST(SampleClock, TheEnvironmentChoosesOrIsRefusedByName) {
  const char* was = std::getenv("CMBENCH_SAMPLE_CLOCK");
  const std::string saved = was ? was : "";
  unsetenv("CMBENCH_SAMPLE_CLOCK");
  EXPECT_TRUE(sample_clock_wanted_tsc());
  setenv("CMBENCH_SAMPLE_CLOCK", "clock", 1);
  EXPECT_FALSE(sample_clock_wanted_tsc());
  setenv("CMBENCH_SAMPLE_CLOCK", "hpet", 1);
  try {
    sample_clock_wanted_tsc();
    ADD_FAILURE() << "hpet accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "CMBENCH_SAMPLE_CLOCK: 'hpet' is not a sample clock (accepted: tsc, clock)");
  }
  if (was)
    setenv("CMBENCH_SAMPLE_CLOCK", saved.c_str(), 1);
  else
    unsetenv("CMBENCH_SAMPLE_CLOCK");
}

}  // namespace
}  // namespace cmbench
