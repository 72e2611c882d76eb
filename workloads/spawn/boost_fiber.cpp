// spawn in the boost-fiber model: the main fiber (the thread's own context)
// creates N fibers on Boost.Fiber's round_robin scheduler; each counts itself
// parked and parks in pop() on one shared boost::fibers::unbuffered_channel
// `release`. The fiber that makes the count N pushes on `all_parked` (a
// buffered_channel of size 2: it holds one value), which main pops — Go's
// WaitGroup shape. Main then has memory read (on the thread's own stack) and
// close()s `release`: every parked pop() returns closed, each fiber counts
// itself finished and ends; main joins every fiber (a vector of N fiber
// handles, 8 bytes each, counted in the memory per unit).
//
// Stacks come from pooled_fixedsize_stack, colored (models/boost_fiber/runtime.hpp),
// no guard page; Boost.Fiber keeps a fiber's context object at the top of its
// stack, so a parked fiber costs the pages of its stack it touched and nothing
// else. When a stack cannot be allocated (Boost.Pool's malloc fails:
// std::bad_alloc), main stops creating, releases and joins the fibers it
// made, and the cell throws LimitError naming how many were reached.
#include <cerrno>
#include <cstdint>
#include <new>
#include <vector>

#include "harness/cell/errors.hpp"
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/boost_fiber/runtime.hpp"
#include "workloads/spawn/spec.hpp"

namespace cmbench::spawn::boost_fiber {

namespace bf = cmbench::boost_fiber;
namespace fibers = boost::fibers;

namespace {

void run(const Params& params, Probe& probe) {
  const uint64_t n = params.u("units");
  auto salloc = bf::stack_allocator(params.u("stack_size"));
  fibers::unbuffered_channel<bool> release;
  fibers::buffered_channel<bool> all_parked(2);
  std::vector<fibers::fiber> units;
  units.reserve(n);
  uint64_t parked = 0, finished = 0, created = 0;
  bool out_of_memory = false;

  bf::prepare(probe, params.u("stack_size"));
  probe.note("park", "pop() on one shared boost::fibers::unbuffered_channel; release = close()");
  probe.note("join", "the main fiber joins every fiber");

  probe.memory_baseline();
  probe.start();
  try {
    for (; created < n; ++created) {
      units.emplace_back(std::allocator_arg, salloc, [&] {
        if (++parked == n) all_parked.push(true);
        bool v = false;
        release.pop(v);  // parks until close()
        ++finished;
      });
    }
  } catch (const std::bad_alloc&) {
    out_of_memory = true;
  }
  if (!out_of_memory) {
    bool v = false;
    all_parked.pop(v);
    probe.memory_parked(n);
  }
  release.close();
  for (fibers::fiber& f : units) f.join();
  probe.stop();

  if (out_of_memory) {
    probe.note("reached", created);
    throw LimitError(limit_message(params, created, "malloc(pooled fiber stack)", ENOMEM), ENOMEM);
  }
  probe.verify(verify(params, parked, finished));
}

// This workload's fibers share the count of units parked unguarded: one thread only
// (models/boost_fiber/runtime.hpp, 3).
std::optional<std::string> unsupported(const Params& params) {
  return bf::one_thread_only(params, "the count of units parked");
}

}  // namespace

}  // namespace cmbench::spawn::boost_fiber

CMBENCH_IMPL(spawn, boost_fiber, cmbench::spawn::boost_fiber::run, cmbench::spawn::boost_fiber::unsupported)
