// The echo workload's load generator and its process, thread and uv servers,
// at tiny sizes: every server with C in {1, 8}, closed and open loop; a
// response that differs is caught; a server that cannot hold C connections
// ends promptly as a LimitError carrying errno; and nothing is left behind
// (no listener on the port, no child, no thread).
//
// The generator re-executes /proc/self/exe as `loadgen`, so this binary
// answers to that command itself (main, at the end).
#include <arpa/inet.h>
#include <fmt/format.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "harness/cell/errors.hpp"
#include "harness/cell/fd.hpp"
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "workloads/echo/spec.hpp"

namespace cmbench::impls {
extern const Impl echo_process;
extern const Impl echo_thread;
extern const Impl echo_uv;
}  // namespace cmbench::impls

namespace {

using cmbench::Impl;
using cmbench::Params;
using cmbench::Probe;
namespace echo = cmbench::echo;

const Impl& impl_of(const std::string& model) {
  if (model == "process") return cmbench::impls::echo_process;
  if (model == "thread") return cmbench::impls::echo_thread;
  return cmbench::impls::echo_uv;
}

Params echo_params(std::map<std::string, std::string> given) {
  return cmbench::make_params(echo::spec().params, given);
}

// Listening sockets on `port` in /proc/net/tcp (state 0A is LISTEN).
int listeners_on(uint16_t port) {
  int n = 0;
  for (const char* path : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      std::string sl, local, remote, state;
      ls >> sl >> local >> remote >> state;
      const auto colon = local.rfind(':');
      if (colon == std::string::npos) continue;
      const unsigned long p = std::stoul(local.substr(colon + 1), nullptr, 16);
      if (p == port && state == "0A") ++n;
    }
  }
  return n;
}

int thread_count() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  return -1;
}

bool has_children() {
  siginfo_t info{};
  // WNOWAIT: look without reaping. ECHILD: no child at all.
  return waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0;
}

// Runs one cell in this process and checks everything the contract asks.
void expect_ok(const std::string& model, const std::map<std::string, std::string>& given) {
  const Params p = echo_params(given);
  const int threads_before = thread_count();
  Probe probe;
  ASSERT_NO_THROW(impl_of(model).run(p, probe));
  EXPECT_TRUE(probe.started());
  EXPECT_TRUE(probe.stopped());
  ASSERT_TRUE(probe.verified());
  EXPECT_TRUE(probe.verdict().ok) << probe.verdict().message;
  EXPECT_EQ(probe.operations(), p.u("requests"));
  EXPECT_EQ(probe.merged_latency().count(), p.u("requests"));
  const uint16_t port = echo::LoadGen::last_port();
  ASSERT_NE(port, 0);
  EXPECT_EQ(listeners_on(port), 0) << "a listener is left on port " << port;
  EXPECT_FALSE(has_children()) << "a child process is left";
  EXPECT_EQ(thread_count(), threads_before) << "a thread is left";
  EXPECT_TRUE(probe.notes().contains("load_generator"));
}

struct Case {
  std::string model;
  int connections;
  std::string loop;
};

class EchoTest : public ::testing::TestWithParam<Case> {};

TEST_P(EchoTest, ServesEveryRequestAndLeavesNothing) {
  const Case& c = GetParam();
  expect_ok(c.model, {{"connections", std::to_string(c.connections)},
                      {"requests", "200"},
                      {"loop", c.loop},
                      {"rate", "2000"}});
}

std::vector<Case> all_cases() {
  std::vector<Case> out;
  for (std::string m : {"process", "thread", "uv"})
    for (int conns : {1, 8})
      for (std::string loop : {"closed", "open"}) out.push_back({m, conns, loop});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Echo, EchoTest, ::testing::ValuesIn(all_cases()),
                         [](const auto& info) {
                           return info.param.model + "_C" + std::to_string(info.param.connections) +
                                  "_" + info.param.loop;
                         });

class EchoSizes : public ::testing::TestWithParam<std::string> {};

// Requests of one byte, and requests larger than a server's read buffer (the
// echo comes back in pieces; uv may have to queue a write).
TEST_P(EchoSizes, OneByteAndLargerThanTheReadBuffer) {
  expect_ok(GetParam(), {{"connections", "3"}, {"requests", "30"}, {"size", "1"}});
  expect_ok(GetParam(), {{"connections", "3"}, {"requests", "30"}, {"size", "40000"}});
  expect_ok(GetParam(), {{"connections", "2"}, {"requests", "20"}, {"size", "65536"}, {"loop", "open"},
                         {"rate", "1000"}});
}

INSTANTIATE_TEST_SUITE_P(Echo, EchoSizes, ::testing::Values("process", "thread", "uv"));

// --- the generator against servers written here ---------------------------

// A one-connection server on a thread that answers through `respond`.
template <typename F>
void with_test_server(F respond, const Params& p, Probe& probe, cmbench::Verdict& verdict) {
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(lfd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(lfd, 16), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  probe.start();
  {
    echo::LoadGen gen(p, ntohs(addr.sin_port));
    std::thread server([&] {
      const int c = ::accept(lfd, nullptr, nullptr);
      if (c < 0) return;
      respond(c);
      ::close(c);
    });
    gen.wait();
    // A failed system call of the generator (a reset) is an exception with
    // its errno; the server thread is joined either way.
    try {
      verdict = gen.finish(probe);
    } catch (const cmbench::SystemError& e) {
      verdict = cmbench::Verdict::fail(fmt::format("{} [errno {}]", e.what(), e.err()));
    }
    ::shutdown(lfd, SHUT_RDWR);
    server.join();
  }
  probe.stop();
  ::close(lfd);
}

TEST(EchoLoadGen, CatchesAResponseThatDiffersByOneByte) {
  const Params p = echo_params({{"connections", "1"}, {"requests", "10"}, {"size", "100"}});
  Probe probe;
  cmbench::Verdict v;
  with_test_server(
      [](int c) {
        char buf[100];
        size_t total = 0;
        for (;;) {
          const ssize_t n = ::read(c, buf, sizeof buf);
          if (n <= 0) return;
          for (ssize_t i = 0; i < n; ++i, ++total)
            if (total == 250) buf[i] ^= 1;  // byte 50 of request 2
          if (::send(c, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) return;
        }
      },
      p, probe, v);
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.message.find("byte 50 of the response to its request 2"), std::string::npos) << v.message;
  EXPECT_NE(v.message.find("2 of 10 requests answered"), std::string::npos) << v.message;
}

TEST(EchoLoadGen, ReportsAServerThatClosesEarly) {
  const Params p = echo_params({{"connections", "1"}, {"requests", "10"}});
  Probe probe;
  cmbench::Verdict v;
  with_test_server(
      [](int c) {
        char buf[64];
        for (int i = 0; i < 3; ++i) {
          size_t got = 0;
          while (got < sizeof buf) {
            const ssize_t n = ::read(c, buf + got, sizeof buf - got);
            if (n <= 0) return;
            got += static_cast<size_t>(n);
          }
          if (::send(c, buf, sizeof buf, MSG_NOSIGNAL) != 64) return;
        }
      },
      p, probe, v);
  EXPECT_FALSE(v.ok);
  // A close with the fourth request unread resets the connection; one
  // before it arrived is an end of file. Either way the generator says so.
  EXPECT_TRUE(v.message.find("closed by the server") != std::string::npos ||
              v.message.find("Connection reset by peer") != std::string::npos)
      << v.message;
  EXPECT_NE(v.message.find("3 of 10 requests answered"), std::string::npos) << v.message;
  EXPECT_EQ(probe.merged_latency().count(), 3u);
}

// The reset case of the test above, made certain: the server closes only
// once the fourth request is there, unread, so the kernel sends an RST. The
// generator's recv fails with ECONNRESET: an error with its errno (the cell
// is `failed`), not a verification failure. (The test above, taking either
// case as it came, aborted once under load: finish() threw past the join of
// the server's thread.)
TEST(EchoLoadGen, AResetIsAnErrorWithItsErrno) {
  const Params p = echo_params({{"connections", "1"}, {"requests", "10"}});
  Probe probe;
  cmbench::Verdict v;
  with_test_server(
      [](int c) {
        char buf[64];
        for (int i = 0; i < 3; ++i) {
          size_t got = 0;
          while (got < sizeof buf) {
            const ssize_t n = ::read(c, buf + got, sizeof buf - got);
            if (n <= 0) return;
            got += static_cast<size_t>(n);
          }
          if (::send(c, buf, sizeof buf, MSG_NOSIGNAL) != 64) return;
        }
        pollfd pfd{c, POLLIN, 0};
        ::poll(&pfd, 1, 10'000);
      },
      p, probe, v);
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.message.find("Connection reset by peer"), std::string::npos) << v.message;
  EXPECT_NE(v.message.find(fmt::format("[errno {}]", ECONNRESET)), std::string::npos) << v.message;
  EXPECT_NE(v.message.find("3 of 10 requests answered"), std::string::npos) << v.message;
}

// --- limits, in a forked child so the lowered limits stay there ------------

struct ChildOutcome {
  int code = -1;         // exit status, or -1
  std::string message;   // what the child reported
  double seconds = 0;
};

constexpr int kLimitExit = 42;
constexpr int kOtherExit = 43;
constexpr int kOkExit = 44;
constexpr int kSkipExit = 45;

// Forks a child that runs `setup` and then the model's echo cell; the child
// reports the exception's errno and message through a pipe.
template <typename Setup>
ChildOutcome run_in_child(const std::string& model, const Params& p, Setup setup) {
  int fds[2];
  EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  const int64_t t0 = cmbench::now_ns();
  std::fflush(stdout);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    auto report = [&](int code, const std::string& text) {
      [[maybe_unused]] ssize_t w = ::write(fds[1], text.data(), text.size());
      ::_exit(code);
    };
    std::string why;
    if (!setup(why)) report(kSkipExit, why);
    Probe probe;
    try {
      impl_of(model).run(p, probe);
    } catch (const cmbench::LimitError& e) {
      report(kLimitExit, std::to_string(e.err()) + " " + e.what());
    } catch (const std::exception& e) {
      report(kOtherExit, e.what());
    }
    report(kOkExit, probe.verdict().message);
  }
  ::close(fds[1]);
  ChildOutcome out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.message.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  out.seconds = static_cast<double>(cmbench::now_ns() - t0) / 1e9;
  out.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::printf("  %s: exit %d after %.3f s: %s\n", model.c_str(), out.code, out.seconds,
              out.message.c_str());
  return out;
}

int open_fd_count() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++n;
    ::closedir(d);
  }
  return n - 1;  // the directory's own descriptor
}

// RLIMIT_NOFILE (soft and hard, so the server's raise_fd_limit cannot undo
// it) at 128, with all but `free` descriptors taken by /dev/null: the server
// has room for a few connections, not for 64. The generator inherits the
// limit but not the fillers (it closes every descriptor it does not use), so
// it can open its 64.
bool few_descriptors(int free, std::string& why) {
  const rlimit lim{128, 128};
  if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) {
    why = std::string("setrlimit: ") + std::strerror(errno);
    return false;
  }
  while (open_fd_count() < 128 - free)
    if (::open("/dev/null", O_RDONLY | O_CLOEXEC) < 0) break;
  return true;
}

class EchoFdLimit : public ::testing::TestWithParam<std::string> {};

TEST_P(EchoFdLimit, AcceptOutOfDescriptorsIsAPromptLimit) {
  const Params p = echo_params({{"connections", "64"}, {"requests", "640"}});
  const ChildOutcome out = run_in_child(GetParam(), p, [](std::string& why) {
    return few_descriptors(24, why);
  });
  if (out.code == kSkipExit) GTEST_SKIP() << out.message;
  ASSERT_EQ(out.code, kLimitExit) << out.message;
  EXPECT_EQ(out.message.rfind(std::to_string(EMFILE) + " ", 0), 0u) << out.message;
  EXPECT_NE(out.message.find("accept"), std::string::npos) << out.message;
  EXPECT_LT(out.seconds, 20.0) << "the limit must end the cell promptly, not at a timeout";
}

// The process server holds one connection at a time (each child holds its
// own), so descriptors do not limit it: it meets the limit on processes.
INSTANTIATE_TEST_SUITE_P(Echo, EchoFdLimit, ::testing::Values("thread", "uv"));

// Tasks (processes and threads) of the real user id, which RLIMIT_NPROC counts.
int tasks_of_uid(uid_t uid) {
  int n = 0;
  if (DIR* d = ::opendir("/proc")) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      std::ifstream in(std::string("/proc/") + e->d_name + "/status");
      std::string line;
      long real = -1;
      int threads = 0;
      while (std::getline(in, line)) {
        if (line.rfind("Uid:", 0) == 0) real = std::stol(line.substr(4));
        if (line.rfind("Threads:", 0) == 0) threads = std::stoi(line.substr(8));
      }
      if (real == static_cast<long>(uid)) n += threads;
    }
    ::closedir(d);
  }
  return n;
}

// RLIMIT_NPROC just above what the user runs now: room for the generator and
// two more units. Root is exempt from RLIMIT_NPROC, so as root the child
// first becomes `nobody`.
bool few_processes(std::string& why) {
  if (::geteuid() == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(60001, 60001, 60001) != 0 ||
        ::setresuid(60001, 60001, 60001) != 0) {
      why = std::string("cannot become nobody: ") + std::strerror(errno);
      return false;
    }
    if (::access("/proc/self/exe", X_OK) != 0) {
      why = "nobody cannot execute this test binary (the generator re-executes it)";
      return false;
    }
  }
  const rlim_t n = static_cast<rlim_t>(tasks_of_uid(::getuid()) + 3);
  const rlimit lim{n, n};
  if (::setrlimit(RLIMIT_NPROC, &lim) != 0) {
    why = std::string("setrlimit(RLIMIT_NPROC): ") + std::strerror(errno);
    return false;
  }
  return true;
}

// RLIMIT_NPROC counts every task of the user on the machine, so two runs
// under few_processes() at once (ctest -j2 runs this test's two models side
// by side; another checkout's tests may run it too) each count the other's
// units against their room, and one's generator could not even fork (seen:
// "fork (load generator)" where pthread_create was expected). Such a run
// holds this machine-wide lock from before it counts the tasks until its
// cell has ended.
class NobodyLock {
 public:
  NobodyLock() : fd_(::open("/tmp/cmbench-test-rlimit-nproc.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0666)) {
    if (!fd_) throw cmbench::SystemError(std::string("open the lock file: ") + std::strerror(errno), errno);
    while (::flock(fd_.get(), LOCK_EX) != 0)
      if (errno != EINTR) throw cmbench::SystemError(std::string("flock: ") + std::strerror(errno), errno);
  }

 private:
  cmbench::Fd fd_;  // closing it releases the lock
};

class EchoProcessLimit : public ::testing::TestWithParam<std::string> {};

TEST_P(EchoProcessLimit, UnitsThatCannotBeCreatedAreAPromptLimit) {
  const Params p = echo_params({{"connections", "8"}, {"requests", "80"}});
  const NobodyLock lock;
  const ChildOutcome out = run_in_child(GetParam(), p, few_processes);
  if (out.code == kSkipExit) GTEST_SKIP() << out.message;
  ASSERT_EQ(out.code, kLimitExit) << out.message;
  EXPECT_EQ(out.message.rfind(std::to_string(EAGAIN) + " ", 0), 0u) << out.message;
  EXPECT_NE(out.message.find(GetParam() == "process" ? "fork" : "pthread_create"), std::string::npos)
      << out.message;
  EXPECT_LT(out.seconds, 20.0) << "the limit must end the cell promptly, not at a timeout";
}

INSTANTIATE_TEST_SUITE_P(Echo, EchoProcessLimit, ::testing::Values("process", "thread"));

// The generator running out of descriptors is a limit too, named as its own.
TEST(EchoLoadGen, GeneratorOutOfDescriptorsIsALimit) {
  const Params p = echo_params({{"connections", "64"}, {"requests", "640"}});
  const ChildOutcome out = run_in_child("process", p, [](std::string& why) {
    const rlimit lim{32, 32};
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) {
      why = std::strerror(errno);
      return false;
    }
    return true;
  });
  ASSERT_EQ(out.code, kLimitExit) << out.message;
  EXPECT_NE(out.message.find("load generator: socket"), std::string::npos) << out.message;
  EXPECT_LT(out.seconds, 20.0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "loadgen") return echo::loadgen_main(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
