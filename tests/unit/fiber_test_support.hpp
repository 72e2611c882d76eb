#pragma once
// What the fiber runtime's test files share (tests/unit/fiber_*_test.cpp,
// all in the fiber_test binary): the test stack size, parameters for the
// workload implementations, and small fixtures (a pipe, a thread set).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/fiber/channel.hpp"
#include "models/fiber/mutex.hpp"
#include "models/fiber/scheduler.hpp"

namespace cmbench::models::fiber {
const ModelInfo& info();
}
namespace cmbench::impls {
extern const Impl prodcons_fiber;
extern const Impl counter_fiber;
extern const Impl pingpong_fiber;
extern const Impl spawn_fiber;
extern const Impl skynet_fiber;
extern const Impl ring_fiber;
extern const Impl echo_fiber;
extern const Impl sleepers_fiber;
extern const Impl blocking_fiber;
extern const Impl fairness_fiber;
extern const Impl idle_fiber;
}  // namespace cmbench::impls

namespace fiber_test {

using cmbench::fiber::Channel;
using cmbench::fiber::ChannelClosed;
using cmbench::fiber::ControlBlock;
using cmbench::fiber::FiberDeadlock;
using cmbench::fiber::JoinHandle;
using cmbench::fiber::Mutex;
using cmbench::fiber::Scheduler;
namespace this_fiber = cmbench::fiber::this_fiber;

// Roomier than the default so that gtest's failure messages (built on the
// fiber's stack) fit even under AddressSanitizer.
inline constexpr std::size_t kTestStack = 64 * 1024;

// A workload's parameters with the fiber model's own (stack_size, threads).
inline cmbench::Params params_for(const cmbench::WorkloadSpec& spec,
                                  const std::map<std::string, std::string>& given) {
  std::vector<cmbench::ParamDef> defs = spec.params;
  const auto& model = cmbench::models::fiber::info().params;
  defs.insert(defs.end(), model.begin(), model.end());
  return cmbench::make_params(defs, given);
}

// The same parameters on two threads (M:N mode).
inline std::map<std::string, std::string> mn(std::map<std::string, std::string> given) {
  given["threads"] = "2";
  return given;
}

// Runs a workload implementation and expects it started, stopped and verified.
inline void expect_ok(const cmbench::Impl& impl, const cmbench::Params& p) {
  cmbench::Probe probe;
  impl.run(p, probe);
  EXPECT_TRUE(probe.started());
  EXPECT_TRUE(probe.stopped());
  ASSERT_TRUE(probe.verified());
  EXPECT_TRUE(probe.verdict().ok) << probe.verdict().message;
}

// A non-blocking pipe.
struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    r = fds[0];
    w = fds[1];
  }
  ~Pipe() {
    ::close(r);
    ::close(w);
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
};

// Records which threads ran a fiber, from any of them.
struct ThreadsSeen {
  std::mutex mu;
  std::set<std::thread::id> ids;
  void note() {
    std::lock_guard lock(mu);
    ids.insert(std::this_thread::get_id());
  }
  std::size_t count() {
    std::lock_guard lock(mu);
    return ids.size();
  }
};

// The echo/fiber crash (SIGSEGV in Scheduler::start, the stack pool's
// reserved count underflowed): a fiber that parks runs the round poll
// itself (park -> next_to_run -> poll), and that poll may report the
// parking fiber's own descriptor (or fire its own timer). The fiber is then
// the next to run: it must carry on, not be switched to (and started
// again) while it runs. Reproduced on demand by sweeping how many fibers
// finish before the wait (each finish is one switch towards the next round
// poll), so that for some count the round poll falls exactly on the park,
// with the data (or the deadline) already there and nothing else runnable.
template <typename Wait>
void sweep_round_poll_onto_a_park(Wait wait) {
  for (int j = 0; j < 2 * static_cast<int>(Scheduler::kPollRound) + 8; ++j) {
    SCOPED_TRACE("fibers that finish before the wait: " + std::to_string(j));
    Scheduler s(kTestStack);
    Pipe other;  // a second waiter, so that every switch counts towards a poll
    bool woke = false;
    s.spawn([&] { EXPECT_TRUE(s.wait_readable(other.r)); });
    for (int i = 0; i < j; ++i) s.spawn([] {});
    s.spawn([&] {
      woke = wait(s);
      ASSERT_EQ(::write(other.w, "y", 1), 1);
    });
    s.run();
    EXPECT_TRUE(woke);
    EXPECT_EQ(s.live(), 0u);
    s.forget(other.r);
  }
}

}  // namespace fiber_test
