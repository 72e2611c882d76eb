// The process model: the semantics of its primitives (pipes and their
// capacity, read_exact/write_all, fork_child/reap/Children, SharedMapping,
// SharedMutex) and its prodcons and counter implementations at tiny sizes.
// No assertion depends on timing.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <new>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "harness/cell/errors.hpp"
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/process/process.hpp"
#include "workloads/counter/spec.hpp"
#include "workloads/prodcons/spec.hpp"

namespace cmbench::models::process {
const ModelInfo& info();
}
namespace cmbench::impls {
extern const Impl prodcons_process;
extern const Impl counter_process;
}  // namespace cmbench::impls

namespace {

namespace pm = cmbench::models::process;
using cmbench::SystemError;

// Everything left in a pipe once its writers are gone.
std::string drain(const pm::Fd& fd) {
  std::string out;
  char buf[256];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

// --- pipes ----------------------------------------------------------------

TEST(Pipe, BothEndsAreCloseOnExec) {
  pm::Pipe p = pm::make_pipe();
  EXPECT_TRUE(::fcntl(p.read.get(), F_GETFD) & FD_CLOEXEC);
  EXPECT_TRUE(::fcntl(p.write.get(), F_GETFD) & FD_CLOEXEC);
}

TEST(Pipe, ReadExactWriteAllRoundTripAndEof) {
  pm::Pipe p = pm::make_pipe();
  const uint64_t out[2] = {0x1122334455667788ull, 42};
  pm::write_all(p.write, out, sizeof out);
  p.write.close();
  uint64_t in = 0;
  ASSERT_TRUE(pm::read_exact(p.read, &in, sizeof in));
  EXPECT_EQ(in, out[0]);
  ASSERT_TRUE(pm::read_exact(p.read, &in, sizeof in));
  EXPECT_EQ(in, out[1]);
  EXPECT_FALSE(pm::read_exact(p.read, &in, sizeof in));  // EOF before the first byte
}

TEST(Pipe, EofInTheMiddleOfARecordThrows) {
  pm::Pipe p = pm::make_pipe();
  const char three[3] = {1, 2, 3};
  pm::write_all(p.write, three, sizeof three);
  p.write.close();
  uint64_t in = 0;
  EXPECT_THROW(pm::read_exact(p.read, &in, sizeof in), SystemError);
}

TEST(Pipe, WriteWithoutReadersIsAnError) {
  // SIGPIPE ignored for the test, so the error surfaces as EPIPE.
  struct sigaction ignore {}, old{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGPIPE, &ignore, &old), 0);
  pm::Pipe p = pm::make_pipe();
  p.read.close();
  const char c = 'x';
  EXPECT_THROW(pm::write_all(p.write, &c, 1), SystemError);
  ::sigaction(SIGPIPE, &old, nullptr);
}

TEST(Pipe, SetSizeRoundsToPowerOfTwoPages) {
  pm::Pipe p = pm::make_pipe();
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  EXPECT_EQ(pm::set_pipe_size(p.write, 3 * page), 4 * page);
  EXPECT_EQ(pm::pipe_size(p.read), 4 * page);
}

TEST(Pipe, BytesForInvertsRecordsIn) {
  for (size_t size : {1ul, 8ul, 24ul, 88ul, 1048ul, 4096ul}) {
    for (size_t records : {1ul, 2ul, 3ul, 7ul, 170ul, 171ul, 513ul, 1024ul, 5000ul}) {
      const size_t bytes = pm::pipe_bytes_for(records, size);
      EXPECT_GE(pm::pipe_records_in(bytes, size), records) << size << " " << records;
      // And not more than needed: half the pages would not do (or it is one page).
      if (bytes > 4096) {
        EXPECT_LT(pm::pipe_records_in(bytes / 2, size), records);
      }
    }
  }
  EXPECT_EQ(pm::pipe_records_in(8192, 8), 513u);
  EXPECT_EQ(pm::pipe_records_in(65536, 24), 1u + 15 * 170);
  EXPECT_THROW(pm::pipe_records_in(4096, 0), SystemError);
  EXPECT_THROW(pm::pipe_records_in(4096, PIPE_BUF + 1), SystemError);
}

TEST(Pipe, MaxRecordsStaysWithinPipeMaxSize) {
  const size_t max = pm::pipe_max_size();
  for (size_t size : {1ul, 24ul, 88ul, 1048ul}) {
    const size_t records = pm::pipe_max_records(size);
    EXPECT_LE(pm::pipe_bytes_for(records, size), max);
    EXPECT_GT(pm::pipe_bytes_for(records + 1, size), max);
  }
}

// The capacity model against the kernel: fill a pipe without blocking, read
// all but one record of its oldest page, fill again. That is the worst case
// the model describes, and the pipe must still hold what it promises.
TEST(Pipe, HoldsAtLeastWhatRecordsInPromises) {
  for (size_t size : {1ul, 8ul, 24ul, 88ul, 1048ul}) {
    for (size_t records : {1ul, 5ul, 200ul, 1000ul}) {
      const size_t bytes = pm::pipe_bytes_for(records, size);
      if (bytes > pm::pipe_max_size()) continue;  // not allowed: see MaxRecords above
      pm::Pipe p = pm::make_pipe();
      ASSERT_GE(pm::set_pipe_size(p.write, bytes), bytes);
      ASSERT_EQ(::fcntl(p.write.get(), F_SETFL, O_NONBLOCK), 0);
      std::vector<char> rec(size, 'r');
      auto fill = [&] {
        size_t n = 0;
        while (::write(p.write.get(), rec.data(), size) == static_cast<ssize_t>(size)) ++n;
        EXPECT_EQ(errno, EAGAIN);
        return n;
      };
      const size_t first = fill();
      EXPECT_GE(first, pm::pipe_records_in(pm::pipe_size(p.write), size));
      const size_t per_page = 4096 / size;
      const size_t taken = std::min(first, per_page) - 1;
      for (size_t i = 0; i < taken; ++i) ASSERT_TRUE(pm::read_exact(p.read, rec.data(), size));
      const size_t present = first - taken + fill();
      EXPECT_GE(present, records) << "record " << size << " bytes, pipe " << bytes;
      EXPECT_GE(present, pm::pipe_records_in(pm::pipe_size(p.write), size));
    }
  }
}

// --- the rendezvous: send_and_await_ack, acknowledge ---------------------

// The scheduler state of process `pid` (the third field of /proc/pid/stat):
// 'R' running, 'S' asleep in the kernel, 'Z' exited, ...
char process_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  const size_t paren = line.rfind(')');
  return paren == std::string::npos || paren + 2 >= line.size() ? '?' : line[paren + 2];
}

// Waits, without any time limit of its own (the test's watchdog has one),
// until `pid` is asleep in the kernel or has exited: whatever it was going to
// do without our help it has then done.
void wait_until_blocked(pid_t pid) {
  for (;;) {
    const char state = process_state(pid);
    if (state == 'S' || state == 'D' || state == 'Z' || state == 'X' || state == '?') return;
    ::sched_yield();
  }
}

size_t bytes_in(const pm::Fd& fd) {
  int n = 0;
  EXPECT_EQ(::ioctl(fd.get(), FIONREAD, &n), 0);
  return static_cast<size_t>(n);
}

// The property of capacity 0: a send does not complete before a receiver has
// taken the message. A sender child reports each completed send on a third
// pipe; the test, as the receiver, reads each message, lets the sender run
// until it blocks (or exits), and checks that the send has not completed and
// nothing further was sent, before it acknowledges. No timing is involved: a
// correct sender blocks in its acknowledgement read whatever the schedule, and
// a sender that did not wait would have completed by the time it blocks or
// exits.
TEST(Rendezvous, SendDoesNotCompleteBeforeTheReceiverTookTheMessage) {
  constexpr uint64_t kSends = 5;
  pm::Pipe data = pm::make_pipe();
  pm::Pipe ack = pm::make_pipe();
  pm::Pipe done = pm::make_pipe();
  const pid_t pid = pm::fork_child([&] {
    data.read.close();
    ack.write.close();
    done.read.close();
    for (uint64_t i = 0; i < kSends; ++i) {
      pm::send_and_await_ack(data.write, ack.read, &i, sizeof i);
      pm::write_all(done.write, &i, sizeof i);
    }
  });
  data.write.close();
  ack.read.close();
  done.write.close();
  for (uint64_t i = 0; i < kSends; ++i) {
    uint64_t got = ~0ull;
    ASSERT_TRUE(pm::read_exact(data.read, &got, sizeof got));
    EXPECT_EQ(got, i);
    wait_until_blocked(pid);
    EXPECT_EQ(bytes_in(done.read), i * sizeof(uint64_t)) << "send " << i << " completed early";
    EXPECT_EQ(bytes_in(data.read), 0u) << "a second message was sent before " << i << " was taken";
    pm::acknowledge(ack.write);
  }
  ack.write.close();
  EXPECT_NO_THROW(pm::reap(pid));
  std::vector<uint64_t> completed(kSends, ~0ull);
  ASSERT_TRUE(pm::read_exact(done.read, completed.data(), kSends * sizeof(uint64_t)));
  for (uint64_t i = 0; i < kSends; ++i) EXPECT_EQ(completed[i], i);
  EXPECT_TRUE(drain(data.read).empty());
}

TEST(Rendezvous, SendFailsWhenEveryReceiverIsGone) {
  pm::Pipe data = pm::make_pipe();
  pm::Pipe ack = pm::make_pipe();
  ack.write.close();  // no receiver can acknowledge any more
  const uint64_t msg = 7;
  try {
    pm::send_and_await_ack(data.write, ack.read, &msg, sizeof msg);
    FAIL() << "send_and_await_ack did not throw";
  } catch (const SystemError& e) {
    EXPECT_EQ(e.err(), EPIPE);
  }
  EXPECT_EQ(bytes_in(data.read), sizeof msg);  // sent, but never taken
}

TEST(Rendezvous, AcknowledgeWritesOneByte) {
  pm::Pipe ack = pm::make_pipe();
  pm::acknowledge(ack.write);
  EXPECT_EQ(bytes_in(ack.read), 1u);
}

// --- fork_child, reap, Children ------------------------------------------

TEST(Fork, ChildRunsTheCallableAndExitsZero) {
  pm::Pipe p = pm::make_pipe();
  const pid_t pid = pm::fork_child([&] {
    const char msg[] = "hi";
    pm::write_all(p.write, msg, 2);
  });
  p.write.close();
  EXPECT_NO_THROW(pm::reap(pid));
  EXPECT_EQ(drain(p.read), "hi");
}

TEST(Fork, ExceptionInChildIsOneLineOnStderrAndStatusOne) {
  pm::Pipe err = pm::make_pipe();
  const pid_t pid = pm::fork_child([&] {
    ::dup2(err.write.get(), STDERR_FILENO);
    throw std::runtime_error("boom");
  });
  err.write.close();
  try {
    pm::reap(pid);
    FAIL() << "reap did not throw";
  } catch (const SystemError& e) {
    EXPECT_NE(std::string(e.what()).find("exited with status 1"), std::string::npos) << e.what();
  }
  const std::string line = drain(err.read);
  EXPECT_NE(line.find("boom"), std::string::npos) << line;
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "more than one line: " << line;
}

TEST(Fork, NonZeroExitAndDeathBySignalThrow) {
  const pid_t exits = pm::fork_child([] { ::_exit(3); });
  EXPECT_THROW(pm::reap(exits), SystemError);
  const pid_t killed = pm::fork_child([] { ::raise(SIGKILL); });
  try {
    pm::reap(killed);
    FAIL() << "reap did not throw";
  } catch (const SystemError& e) {
    EXPECT_NE(std::string(e.what()).find("signal 9"), std::string::npos) << e.what();
  }
}

TEST(Fork, ChildDoesNotFlushTheParentsStdioBuffers) {
  pm::Pipe p = pm::make_pipe();
  FILE* f = ::fdopen(::dup(p.write.get()), "w");
  ASSERT_NE(f, nullptr);
  static char buf[BUFSIZ];
  ASSERT_EQ(std::setvbuf(f, buf, _IOFBF, sizeof buf), 0);
  std::fputs("once", f);  // buffered, not yet written
  const pid_t pid = pm::fork_child([] {});
  pm::reap(pid);
  std::fclose(f);  // the parent's flush: the only copy
  p.write.close();
  EXPECT_EQ(drain(p.read), "once");
}

int g_atexit_fd = -1;
void atexit_handler() {
  if (g_atexit_fd >= 0) {
    [[maybe_unused]] ssize_t n = ::write(g_atexit_fd, "atexit", 6);
  }
}

TEST(Fork, ChildDoesNotRunAtexitHandlers) {
  static const bool registered = std::atexit(atexit_handler) == 0;
  ASSERT_TRUE(registered);
  pm::Pipe p = pm::make_pipe();
  g_atexit_fd = p.write.get();
  const pid_t pid = pm::fork_child([] {});
  pm::reap(pid);
  g_atexit_fd = -1;
  p.write.close();
  EXPECT_EQ(drain(p.read), "");
}

// fork() failing with EAGAIN (here: RLIMIT_NPROC, which root ignores, so the
// child drops to an unprivileged uid first) must surface as LimitError: the
// `limit` outcome, not a failure.
TEST(Fork, ProcessLimitSurfacesAsLimitError) {
  enum { kLimitError = 0, kCannotDrop = 2, kForked = 3, kOtherError = 4 };
  const pid_t pid = pm::fork_child([] {
    if (::geteuid() == 0 && (::setgid(60003) != 0 || ::setuid(60003) != 0)) ::_exit(kCannotDrop);
    const rlimit none{0, 0};
    if (::setrlimit(RLIMIT_NPROC, &none) != 0) ::_exit(kCannotDrop);
    try {
      pm::reap(pm::fork_child([] {}));
      ::_exit(kForked);
    } catch (const cmbench::LimitError& e) {
      ::_exit(e.err() == EAGAIN ? kLimitError : kOtherError);
    } catch (...) {
      ::_exit(kOtherError);
    }
  });
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == kCannotDrop || WEXITSTATUS(status) == kForked)
    GTEST_SKIP() << "this process is exempt from RLIMIT_NPROC";
  EXPECT_EQ(WEXITSTATUS(status), kLimitError);
}

TEST(Children, ReapAllSucceedsWhenEveryChildDoes) {
  pm::Children children(4);
  for (int i = 0; i < 4; ++i) children.spawn([] {});
  EXPECT_EQ(children.size(), 4u);
  EXPECT_NO_THROW(children.reap_all());
}

TEST(Children, DestructorKillsAndReapsChildrenLeftRunning) {
  pm::Pipe p = pm::make_pipe();
  std::vector<pid_t> pids;
  {
    pm::Children children(2);
    for (int i = 0; i < 2; ++i) {
      children.spawn([&] {
        const pid_t self = ::getpid();
        pm::write_all(p.write, &self, sizeof self);
        for (;;) ::pause();
      });
      pid_t pid = 0;
      ASSERT_TRUE(pm::read_exact(p.read, &pid, sizeof pid));
      pids.push_back(pid);
    }
  }  // not reaped: the destructor must kill and reap both
  for (pid_t pid : pids) {
    EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1);
    EXPECT_EQ(errno, ECHILD);
  }
}

TEST(Children, ReapAllThrowsOnAFailedChildAndTheRestAreCleanedUp) {
  std::vector<pid_t> pids;
  pm::Pipe p = pm::make_pipe();
  try {
    pm::Children children(3);
    children.spawn([] { throw std::runtime_error("first unit fails"); });
    children.spawn([&] {
      const pid_t self = ::getpid();
      pm::write_all(p.write, &self, sizeof self);
      for (;;) ::pause();
    });
    pid_t pid = 0;
    ASSERT_TRUE(pm::read_exact(p.read, &pid, sizeof pid));
    pids.push_back(pid);
    children.reap_all();
    FAIL() << "reap_all did not throw";
  } catch (const SystemError&) {
  }
  for (pid_t pid : pids) EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1);
}

// --- SharedMapping, SharedMutex -------------------------------------------

TEST(SharedMapping, ChildWritesAreSeenByTheParent) {
  pm::SharedMapping shared(3 * 4096);
  auto* words = shared.at<uint64_t>();
  EXPECT_EQ(words[0], 0u);  // zero-filled
  const pid_t pid = pm::fork_child([&] {
    words[0] = 7;
    *shared.at<uint64_t>(2 * 4096) = 9;
  });
  pm::reap(pid);
  EXPECT_EQ(words[0], 7u);
  EXPECT_EQ(*shared.at<uint64_t>(2 * 4096), 9u);
}

TEST(SharedMapping, MoveTransfersTheMapping) {
  pm::SharedMapping a(4096);
  void* data = a.data();
  pm::SharedMapping b(std::move(a));
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(b.data(), data);
}

TEST(SharedMutex, ExcludesAcrossProcesses) {
  struct Shared {
    pm::SharedMutex mutex;
    uint64_t count = 0;  // deliberately not atomic: only the mutex protects it
  };
  pm::SharedMapping mapping(sizeof(Shared));
  auto* shared = new (mapping.data()) Shared;
  constexpr int kUnits = 4;
  constexpr int kIncrements = 20000;
  {
    pm::Children children(kUnits);
    for (int u = 0; u < kUnits; ++u) {
      children.spawn([&] {
        for (int k = 0; k < kIncrements; ++k) {
          shared->mutex.lock();
          uint64_t v = shared->count;
          asm volatile("" ::: "memory");  // keep the read-modify-write split
          shared->count = v + 1;
          shared->mutex.unlock();
        }
      });
    }
    children.reap_all();
  }
  EXPECT_EQ(shared->count, uint64_t{kUnits} * kIncrements);
  shared->~Shared();
}

// --- prodcons -------------------------------------------------------------

std::vector<cmbench::ParamDef> prodcons_defs() {
  auto defs = cmbench::prodcons::spec().params;
  const auto& model = cmbench::models::process::info().params;
  defs.insert(defs.end(), model.begin(), model.end());
  return defs;
}

cmbench::Params prodcons_params(int p, int c, int b, int s, int m) {
  return cmbench::make_params(prodcons_defs(), {{"producers", std::to_string(p)},
                                                {"consumers", std::to_string(c)},
                                                {"capacity", std::to_string(b)},
                                                {"payload", std::to_string(s)},
                                                {"messages", std::to_string(m)}});
}

void expect_ok(const cmbench::Probe& probe) {
  EXPECT_TRUE(probe.started());
  EXPECT_TRUE(probe.stopped());
  EXPECT_TRUE(probe.verified());
  EXPECT_TRUE(probe.verdict().ok) << probe.verdict().message;
}

class ProdconsProcess : public ::testing::TestWithParam<std::tuple<std::pair<int, int>, int, int>> {};

TEST_P(ProdconsProcess, EveryMessageOnceInOrderAndWhole) {
  const auto [pc, capacity, payload] = GetParam();
  const auto params = prodcons_params(pc.first, pc.second, capacity, payload, 2003);
  const auto& impl = cmbench::impls::prodcons_process;
  ASSERT_NE(impl.unsupported, nullptr);
  if (auto why = impl.unsupported(params)) {
    // Only a capacity beyond what one pipe can hold is refused.
    EXPECT_GT(static_cast<size_t>(capacity),
              pm::pipe_max_records(sizeof(cmbench::prodcons::Message<1024>)));
    EXPECT_NE(why->find("capacity"), std::string::npos) << *why;
    GTEST_SKIP() << *why;
  }
  cmbench::Probe probe;
  impl.run(params, probe);
  expect_ok(probe);
  EXPECT_EQ(probe.merged_latency().count(), 2003u);
  EXPECT_TRUE(probe.notes().contains("capacity"));
  EXPECT_TRUE(probe.notes().contains("channel"));
}

INSTANTIATE_TEST_SUITE_P(Sizes, ProdconsProcess,
                         ::testing::Combine(::testing::Values(std::pair{1, 1}, std::pair{4, 4},
                                                              std::pair{3, 2}),
                                            ::testing::Values(0, 1, 7, 1024),
                                            ::testing::Values(0, 64, 1024)));

TEST(ProdconsProcessLimits, CapacityBeyondOnePipeIsRefusedInOneLine) {
  const size_t max = pm::pipe_max_records(sizeof(cmbench::prodcons::Message<1024>));
  const auto& impl = cmbench::impls::prodcons_process;
  auto why = impl.unsupported(prodcons_params(1, 1, static_cast<int>(max) + 1, 1024, 10));
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("'capacity'"), std::string::npos) << *why;
  EXPECT_NE(why->find("0.." + std::to_string(max)), std::string::npos) << *why;
  EXPECT_EQ(why->find('\n'), std::string::npos) << *why;
  EXPECT_FALSE(impl.unsupported(prodcons_params(1, 1, static_cast<int>(max), 1024, 10)));
  EXPECT_FALSE(impl.unsupported(prodcons_params(1, 1, 0, 1024, 10)));
}

TEST(ProdconsProcessLimits, RunsAtTheLargestAcceptedCapacity) {
  for (int payload : {0, 1024}) {
    const size_t max = payload == 0
                           ? pm::pipe_max_records(sizeof(cmbench::prodcons::Message<0>))
                           : pm::pipe_max_records(sizeof(cmbench::prodcons::Message<1024>));
    cmbench::Probe probe;
    cmbench::impls::prodcons_process.run(
        prodcons_params(2, 2, static_cast<int>(max), payload, static_cast<int>(max) * 2), probe);
    expect_ok(probe);
  }
}

// Capacity 0 with many producers: one acknowledgement pipe each, and every
// descriptor closed where the file's header comment says, or consumers would
// never see EOF (the test would hang).
TEST(ProdconsProcessRendezvous, ManyProducersAndManyConsumers) {
  for (auto [p, c] : {std::pair{64, 1}, std::pair{1, 8}, std::pair{33, 5}}) {
    cmbench::Probe probe;
    cmbench::impls::prodcons_process.run(prodcons_params(p, c, 0, 64, 1000), probe);
    expect_ok(probe);
    EXPECT_NE(probe.notes().at("capacity").get<std::string>().find("rendezvous"),
              std::string::npos);
    EXPECT_NE(probe.notes().at("channel").get<std::string>().find("acknowledgement pipe per "
                                                                  "producer"),
              std::string::npos);
  }
}

// Runs `f` in a child whose RLIMIT_NOFILE soft limit is `soft` and returns its
// exit status, so the limit does not leak into the rest of the test binary.
template <typename F>
int with_nofile_limit(rlim_t soft, F f) {
  const pid_t pid = pm::fork_child([&] {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) ::_exit(90);
    limit.rlim_cur = soft;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) ::_exit(91);
    ::_exit(f());
  });
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(ProdconsProcessRendezvous, TooFewDescriptorsAreRefusedUpFront) {
  // 64 descriptors: 32 in reserve, 2 for the data pipe, 2 per producer.
  const int status = with_nofile_limit(64, [] {
    const auto& impl = cmbench::impls::prodcons_process;
    auto why = impl.unsupported(prodcons_params(16, 1, 0, 0, 100));
    if (!why || why->find("'producers'") == std::string::npos ||
        why->find("1..15") == std::string::npos || why->find('\n') != std::string::npos)
      return 1;
    if (impl.unsupported(prodcons_params(15, 1, 0, 0, 100))) return 2;
    // Capacity > 0 needs four descriptors whatever P is.
    if (impl.unsupported(prodcons_params(16, 1, 1, 0, 100))) return 3;
    return 0;
  });
  EXPECT_EQ(status, 0);
}

TEST(ProdconsProcessRendezvous, RunningOutOfDescriptorsIsALimit) {
  const int status = with_nofile_limit(24, [] {
    // UBSan's vptr check (in the sanitizer build) looks a dynamic type up
    // with a pipe the first time it meets it, which fails while every
    // descriptor is taken, and then reports the LimitError under
    // construction as having an invalid vptr. Meeting the type once while
    // descriptors remain fills its cache.
    try {
      throw cmbench::LimitError("prime", EMFILE);
    } catch (const cmbench::LimitError& e) {
      if (e.err() != EMFILE) return 4;
    }
    cmbench::Probe probe;
    try {
      cmbench::impls::prodcons_process.run(prodcons_params(64, 1, 0, 0, 100), probe);
      return 1;
    } catch (const cmbench::LimitError& e) {
      return e.err() == EMFILE && !probe.started() ? 0 : 2;
    } catch (...) {
      return 3;
    }
  });
  EXPECT_EQ(status, 0);
}

// --- counter --------------------------------------------------------------

class CounterProcess : public ::testing::TestWithParam<std::tuple<int, std::string>> {};

TEST_P(CounterProcess, CountIsUnitsTimesIncrements) {
  const auto [units, mode] = GetParam();
  auto defs = cmbench::counter::spec().params;
  const auto& model = cmbench::models::process::info().params;
  defs.insert(defs.end(), model.begin(), model.end());
  const auto params = cmbench::make_params(
      defs, {{"units", std::to_string(units)}, {"increments", "1000"}, {"mode", mode}});
  const auto& impl = cmbench::impls::counter_process;
  EXPECT_EQ(impl.unsupported, nullptr);
  cmbench::Probe probe;
  impl.run(params, probe);
  expect_ok(probe);
  EXPECT_TRUE(probe.notes().contains("lock"));
  if (mode == "message") {
    // The smallest pipe that always holds kMessageCapacity messages, and the
    // note states the range it holds.
    const size_t bytes = pm::pipe_bytes_for(cmbench::counter::kMessageCapacity, 8);
    const size_t at_least = pm::pipe_records_in(bytes, 8);
    EXPECT_GE(at_least, cmbench::counter::kMessageCapacity);
    EXPECT_LT(pm::pipe_records_in(bytes / 2, 8), cmbench::counter::kMessageCapacity);
    const std::string note = probe.notes().at("channel").get<std::string>();
    EXPECT_NE(note.find("between " + std::to_string(at_least) + " and " +
                        std::to_string(bytes / 8)),
              std::string::npos)
        << note;
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, CounterProcess,
                         ::testing::Combine(::testing::Values(1, 2, 64),
                                            ::testing::Values("lock", "atomic", "message")));

}  // namespace
