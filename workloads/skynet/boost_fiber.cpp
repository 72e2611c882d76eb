// skynet in the boost-fiber model, in the shape of Go's classic skynet (see
// workloads/skynet/fiber.cpp) and of Boost.Fiber's own skynet benchmark:
// every unit is a boost::fibers::fiber on the round_robin scheduler (one
// thread; threads > 1: work_stealing on that many, models/boost_fiber/runtime.hpp, 3); an inner unit creates ten children, pop()s their ten results from
// its own boost::fibers::unbuffered_channel<uint64_t> (on its stack), joins
// them and push()es the sum to its parent. Two choices differ from
// Boost.Fiber's benchmark and are those of the suite's other fiber rows:
// children are launched with launch::post (the default: queued), not
// launch::dispatch (run at once, depth first), so the tree unfolds level by
// level and nearly every unit is alive at once (1,111,111 fibers for a
// million leaves); and the channel is unbuffered, as Go's make(chan int) is,
// not a buffered_channel(16). Stacks: pooled_fixedsize_stack, no guard page.
//
// When a stack cannot be allocated (std::bad_alloc from Boost.Pool), the
// parent stops creating children, collects and joins those it made, and the
// tree finishes with a flag set; the cell then throws LimitError. No fiber is
// left running.
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>

#include "harness/cell/errors.hpp"
#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/boost_fiber/runtime.hpp"
#include "workloads/skynet/spec.hpp"

namespace cmbench::skynet::boost_fiber {

namespace bf = cmbench::boost_fiber;
namespace fibers = boost::fibers;

namespace {

constexpr uint64_t kDiv = 10;

struct Tree {
  cmbench::boost_fiber::StackAllocator salloc;
  // Atomic: with threads > 1 (work_stealing) units on several threads count.
  std::atomic<uint64_t> created{0};
  std::atomic<bool> out_of_memory{false};
};

void skynet(Tree& tree, fibers::unbuffered_channel<uint64_t>& c, uint64_t num, uint64_t size) {
  if (size == 1) {
    c.push(num);
    return;
  }
  fibers::unbuffered_channel<uint64_t> rc;
  fibers::fiber children[kDiv];
  const uint64_t child = size / kDiv;
  uint64_t made = 0;
  try {
    for (; made < kDiv; ++made) {
      children[made] = fibers::fiber(std::allocator_arg, tree.salloc,
                                     [&tree, &rc, sub = num + made * child, child] {
                                       skynet(tree, rc, sub, child);
                                     });
      tree.created.fetch_add(1, std::memory_order_relaxed);
    }
  } catch (const std::bad_alloc&) {
    tree.out_of_memory = true;
  }
  uint64_t sum = 0;
  for (uint64_t i = 0; i < made; ++i) sum += rc.value_pop();
  for (uint64_t i = 0; i < made; ++i) children[i].join();
  c.push(sum);
}

void run(const Params& params, Probe& probe) {
  const uint64_t leaves = params.u("leaves");
  const unsigned threads = bf::threads_of(params);
  Tree tree{bf::stack_allocator(params.u("stack_size"), threads)};
  uint64_t sum = 0;

  bf::prepare(probe, params.u("stack_size"), threads);
  bf::WorkStealing workers(threads);
  probe.note("channel",
             "boost::fibers::unbuffered_channel<uint64_t> per inner unit, on its stack; children "
             "launched with launch::post and joined");

  probe.start();
  {
    // Go's main: c := make(chan int); go skynet(c, 0, leaves, 10); <-c
    fibers::unbuffered_channel<uint64_t> c;
    fibers::fiber root(std::allocator_arg, tree.salloc, [&] { skynet(tree, c, 0, leaves); });
    tree.created.fetch_add(1, std::memory_order_relaxed);
    sum = c.value_pop();
    root.join();
  }
  probe.stop();
  probe.note("fibers_created", tree.created.load());
  if (tree.out_of_memory) {
    probe.note("reached", tree.created.load());
    throw LimitError("malloc(pooled fiber stack): " + std::string(std::strerror(ENOMEM)) +
                         " after " + std::to_string(tree.created.load()) + " of " +
                         std::to_string(units_of(leaves)) + " units",
                     ENOMEM);
  }
  probe.verify(verify(params, sum));
}

}  // namespace

}  // namespace cmbench::skynet::boost_fiber

CMBENCH_IMPL(skynet, boost_fiber, cmbench::skynet::boost_fiber::run, nullptr)
