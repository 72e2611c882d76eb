// The reactor (models/fiber/reactor.hpp) through the scheduler: waits on
// descriptors, edges, forget, polling rounds, and an echo server built from
// models/fiber/net.hpp driven by blocking clients.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>
#include "models/fiber/net.hpp"

#include "tests/unit/fiber_test_support.hpp"

namespace fiber_test {
namespace {

TEST(FiberReactor, WaitReadableParksUntilDataArrives) {
  Scheduler s(kTestStack);
  Pipe p;
  std::vector<std::string> log;
  s.spawn([&] {
    log.push_back("wait");
    EXPECT_TRUE(s.wait_readable(p.r));
    char c = 0;
    EXPECT_EQ(::read(p.r, &c, 1), 1);
    log.push_back(std::string("read ") + c);
  });
  s.spawn([&] {
    log.push_back("write");
    EXPECT_EQ(::write(p.w, "x", 1), 1);
  });
  s.run();
  EXPECT_EQ(log, (std::vector<std::string>{"wait", "write", "read x"}));
  s.forget(p.r);
}

TEST(FiberReactor, AnEdgeBeforeTheWaitIsNotLost) {
  Scheduler s(kTestStack);
  Pipe p;
  bool second = false;
  bool finished = false;
  s.spawn([&] {
    char c;
    ASSERT_EQ(::write(p.w, "a", 1), 1);
    ASSERT_TRUE(s.wait_readable(p.r));  // registers; ready at once
    ASSERT_EQ(::read(p.r, &c, 1), 1);
    ASSERT_EQ(::write(p.w, "b", 1), 1);
    // The edge of "b" arrives while nobody waits to read: the poll during
    // this sleep records it, and the next wait must return at once.
    s.sleep_until(cmbench::now_ns() + 1'000'000);
    second = s.wait_readable(p.r);
    finished = true;
  });
  s.spawn([&] {  // a watchdog, so that a lost edge fails instead of hanging
    s.sleep_until(cmbench::now_ns() + 300'000'000);
    if (!finished) s.forget(p.r);
  });
  s.run();
  EXPECT_TRUE(second);
  s.forget(p.r);
}

TEST(FiberReactor, ForgetWakesTheWaiterWithFalse) {
  Scheduler s(kTestStack);
  Pipe p;
  bool result = true;
  s.spawn([&] { result = s.wait_readable(p.r); });
  s.spawn([&] { s.forget(p.r); });
  s.run();
  EXPECT_FALSE(result);
}

TEST(FiberReactor, AYieldingFiberCannotStarveIo) {
  Scheduler s(kTestStack);
  Pipe p;
  bool done = false;
  int spins = 0;
  s.spawn([&] {
    s.wait_readable(p.r);
    done = true;
  });
  s.spawn([&] {
    ASSERT_EQ(::write(p.w, "z", 1), 1);
    while (!done && spins < 1'000'000) {
      ++spins;
      this_fiber::yield();
    }
  });
  s.run();
  EXPECT_TRUE(done);
  EXPECT_LT(spins, 1000);
  s.forget(p.r);
}

TEST(FiberReactor, BusyFibersCannotStarveIoEither) {
  // Two fibers ping-pong forever (until the reader is done): the run queue
  // never empties, so only the round polls let the pipe's reader in.
  Scheduler s(kTestStack);
  Pipe p;
  bool done = false;
  uint64_t rounds = 0;
  Channel<int> a(0), b(0);
  s.spawn([&] {
    s.wait_readable(p.r);
    done = true;
  });
  s.spawn([&] {
    ASSERT_EQ(::write(p.w, "z", 1), 1);
    while (!done && rounds < 1'000'000) {
      a.send(1);
      b.recv();
      ++rounds;
    }
    a.close();
  });
  s.spawn([&] {
    while (a.recv()) b.send(2);
  });
  s.run();
  EXPECT_TRUE(done);
  EXPECT_LT(rounds, 1000u);
  EXPECT_GT(s.round_polls(), 0u);
  s.forget(p.r);
}

// The echo/fiber crash (SIGSEGV in Scheduler::start, the stack pool's
// reserved count underflowed): a fiber that parks runs the round poll
// itself (park -> next_to_run -> poll), and that poll may report the
// parking fiber's own descriptor (or fire its own timer). The fiber is then
// the next to run: it must carry on, not be switched to (and started
// again) while it runs. Reproduced on demand by sweeping how many fibers
// finish before the wait (each finish is one switch towards the next round
// poll), so that for some count the round poll falls exactly on the park,
// with the data (or the deadline) already there and nothing else runnable.

TEST(FiberReactor, AParkingFiberReadiedByItsOwnRoundPollCarriesOn) {
  uint64_t polls_on_the_park = 0;
  sweep_round_poll_onto_a_park([&](Scheduler& s) {
    Pipe ready;  // readable before the wait: its edge comes at registration
    EXPECT_EQ(::write(ready.w, "x", 1), 1);
    const uint64_t before = s.round_polls();
    const bool ok = s.wait_readable(ready.r);
    char c = 0;
    const bool read = ::read(ready.r, &c, 1) == 1 && c == 'x';
    polls_on_the_park += s.round_polls() > before && s.blocking_polls() == 0;
    s.forget(ready.r);
    return ok && read;
  });
  // The sweep did put a round poll onto the park, or it proved nothing.
  EXPECT_GT(polls_on_the_park, 0u);
}

// An echo server built from the net helpers, driven by blocking clients on
// threads: the reactor end to end, independent of the load generator.
TEST(FiberNet, EchoServerServesConcurrentClients) {
  namespace net = cmbench::fiber::net;
  Scheduler s(kTestStack);
  uint16_t port = 0;
  net::Socket listener = net::listen_loopback(s, 16, port);
  constexpr int kClients = 4, kRequests = 50;
  Pipe done;
  int served = 0;
  std::vector<std::thread> clients;
  std::vector<int> good(kClients, 0);
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(port);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
      for (int r = 0; r < kRequests; ++r) {
        char req[32], resp[32];
        std::snprintf(req, sizeof req, "client %d request %d", c, r);
        const std::size_t n = std::strlen(req);
        if (::write(fd, req, n) != static_cast<ssize_t>(n)) break;
        std::size_t got = 0;
        while (got < n) {
          ssize_t k = ::read(fd, resp + got, n - got);
          if (k <= 0) break;
          got += static_cast<std::size_t>(k);
        }
        if (got == n && std::memcmp(req, resp, n) == 0) ++good[c];
      }
      ::close(fd);
    });
  }
  std::thread closer([&] {
    for (auto& t : clients) t.join();
    [[maybe_unused]] ssize_t k = ::write(done.w, "d", 1);
  });
  s.spawn([&] {
    while (net::Socket conn = net::accept(listener)) {
      s.spawn([&, conn = std::move(conn)]() mutable {
        char buf[64];
        while (std::size_t n = net::read_some(conn, buf, sizeof buf))
          if (!net::write_all(conn, buf, n)) break;
        ++served;
      });
    }
  });
  s.spawn([&] {
    s.wait_readable(done.r);
    s.forget(done.r);
    listener.close();
  });
  s.run();
  closer.join();
  EXPECT_EQ(served, kClients);
  for (int c = 0; c < kClients; ++c) EXPECT_EQ(good[c], kRequests) << "client " << c;
}

}  // namespace
}  // namespace fiber_test
