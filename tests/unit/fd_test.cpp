// cmbench::Fd (harness/cell/fd.hpp), the one owned-descriptor type: it closes
// what it holds exactly once, a move leaves the source empty, release() gives
// the descriptor up, reset() closes early, close() reports a failure. A
// descriptor is open when fcntl(F_GETFD) succeeds and closed when it fails
// with EBADF.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <utility>

#include "harness/cell/errors.hpp"
#include "harness/cell/fd.hpp"

namespace {

using cmbench::Fd;

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }
bool is_closed(int fd) { return ::fcntl(fd, F_GETFD) == -1 && errno == EBADF; }

// Both ends of a new pipe, each owned by an Fd.
std::pair<Fd, Fd> pipe_fds() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) ADD_FAILURE() << "pipe2 failed";
  return {Fd(fds[0]), Fd(fds[1])};
}

TEST(Fd, EmptyByDefault) {
  Fd fd;
  EXPECT_FALSE(fd);
  EXPECT_EQ(fd.get(), -1);
  EXPECT_FALSE(Fd(-1));
}

TEST(Fd, DestructorCloses) {
  int raw = -1;
  {
    auto [r, w] = pipe_fds();
    raw = r.get();
    EXPECT_TRUE(r);
    EXPECT_TRUE(is_open(raw));
  }
  EXPECT_TRUE(is_closed(raw));
}

TEST(Fd, MoveConstructionLeavesTheSourceEmpty) {
  auto [r, w] = pipe_fds();
  const int raw = r.get();
  Fd moved(std::move(r));
  EXPECT_FALSE(r);  // NOLINT(bugprone-use-after-move): the point of the test
  EXPECT_EQ(r.get(), -1);
  EXPECT_EQ(moved.get(), raw);
  EXPECT_TRUE(is_open(raw));
}

TEST(Fd, MoveAssignmentClosesWhatTheTargetHeld) {
  auto [r, w] = pipe_fds();
  const int kept = r.get();
  const int dropped = w.get();
  w = std::move(r);
  EXPECT_FALSE(r);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(w.get(), kept);
  EXPECT_TRUE(is_open(kept));
  EXPECT_TRUE(is_closed(dropped));
}

TEST(Fd, SelfMoveAssignmentKeepsTheDescriptor) {
  auto [r, w] = pipe_fds();
  const int raw = r.get();
  Fd& same = r;
  r = std::move(same);
  EXPECT_EQ(r.get(), raw);
  EXPECT_TRUE(is_open(raw));
}

TEST(Fd, ReleaseGivesUpOwnership) {
  int raw = -1;
  {
    auto [r, w] = pipe_fds();
    raw = r.release();
    EXPECT_FALSE(r);
  }
  EXPECT_TRUE(is_open(raw));
  ::close(raw);
}

TEST(Fd, ResetClosesAndTakesTheNewDescriptor) {
  auto [r, w] = pipe_fds();
  const int first = r.get();
  const int second = w.release();
  r.reset(second);
  EXPECT_TRUE(is_closed(first));
  EXPECT_EQ(r.get(), second);
  r.reset();
  EXPECT_FALSE(r);
  EXPECT_TRUE(is_closed(second));
}

TEST(Fd, CloseNowAndTwiceIsHarmless) {
  auto [r, w] = pipe_fds();
  const int raw = w.get();
  w.close();
  EXPECT_FALSE(w);
  EXPECT_TRUE(is_closed(raw));
  EXPECT_NO_THROW(w.close());
}

// A descriptor closed behind the Fd's back: close() fails with EBADF, which
// it reports as SystemError carrying errno, and the Fd is empty afterwards
// (it never retries, and the destructor does not close again).
TEST(Fd, CloseReportsErrno) {
  auto [r, w] = pipe_fds();
  ASSERT_EQ(::close(w.get()), 0);
  try {
    w.close();
    ADD_FAILURE() << "close() of a closed descriptor did not throw";
  } catch (const cmbench::SystemError& e) {
    EXPECT_EQ(e.err(), EBADF);
  }
  EXPECT_FALSE(w);
}

// reserve_descriptor_table: the process's descriptor table (FDSize in
// /proc/self/status) holds the count asked for at once, no descriptor is
// left open by it, and a count the limit cannot hold changes nothing.
uint64_t fd_table_size() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  uint64_t size = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "FDSize: %" SCNu64, &size) == 1) break;
  std::fclose(f);
  return size;
}

int open_count() {
  int n = 0;
  for (int fd = 0; fd < 65536; ++fd) n += is_open(fd);
  return n;
}

TEST(Fd, ReserveDescriptorTableGrowsItToHoldTheCountAtOnce) {
  const uint64_t before = fd_table_size();
  ASSERT_GT(before, 0u) << "no FDSize in /proc/self/status";
  rlimit lim{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &lim), 0);
  const uint64_t want = before * 4;
  if (lim.rlim_cur < want) GTEST_SKIP() << "RLIMIT_NOFILE " << lim.rlim_cur << " is below " << want;
  const int open_before = open_count();
  cmbench::reserve_descriptor_table(want);
  EXPECT_GE(fd_table_size(), want);
  EXPECT_EQ(open_count(), open_before);

  // Above the limit: nothing grows, nothing throws.
  const uint64_t now = fd_table_size();
  cmbench::reserve_descriptor_table(static_cast<uint64_t>(lim.rlim_cur) * 4 + 1);
  cmbench::reserve_descriptor_table(0);
  EXPECT_EQ(fd_table_size(), now);
  EXPECT_EQ(open_count(), open_before);
}

}  // namespace
