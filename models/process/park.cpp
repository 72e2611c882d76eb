#include "models/process/park.hpp"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <string>

namespace cmbench::models::process {

void announce(const Fd& fd) {
  const char byte = 'p';
  write_all(fd, &byte, 1);
}

uint64_t await_announcements(const Fd& fd, uint64_t n) {
  char buf[4096];
  uint64_t got = 0;
  while (got < n) {
    // Never more than the bytes still owed: a byte beyond n would belong to
    // no one, and leaving it in the pipe keeps the count exact.
    const size_t want = static_cast<size_t>(std::min<uint64_t>(sizeof buf, n - got));
    const ssize_t r = retry_on_eintr([&] { return ::read(fd.get(), buf, want); });
    if (r < 0) throw_errno("read (announcements)");
    if (r == 0) break;  // every writer is gone
    got += static_cast<uint64_t>(r);
  }
  return got;
}

void park_until_eof(const Fd& fd) {
  char byte;
  const ssize_t r = retry_on_eintr([&] { return ::read(fd.get(), &byte, 1); });
  if (r < 0) throw_errno("read (park)");
  if (r > 0)
    throw SystemError("read (park): a byte arrived on a release pipe, which is only ever closed",
                      0);
}

void sleep_until(int64_t deadline_ns) {
  timespec at{};
  at.tv_sec = static_cast<time_t>(deadline_ns / 1'000'000'000);
  at.tv_nsec = static_cast<long>(deadline_ns % 1'000'000'000);
  int err;
  while ((err = ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr)) == EINTR) {
  }
  if (err != 0) throw_errno("clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)", err);
}

}  // namespace cmbench::models::process
