// skynet in the thread model: every unit of the tree, leaves included, is a
// std::thread. An inner unit creates its 10 children, each with a pointer to
// the unit's own channel, receives their 10 sums from that channel, joins
// them, and sends its own sum up to its parent's channel. A leaf sends its
// ordinal. The main thread creates the root and receives the root's sum.
// With 10,000 leaves that is 11,111 threads, up to all of them alive at once
// (a leaf ends as soon as it has sent, but creation runs ahead of it).
//
// The channel is one BoundedQueue<uint64_t> of capacity 10 per inner unit,
// the model's channel (std::mutex + condition variables) that every thread
// workload of the suite uses. It is the idiomatic choice because it is the
// shape of the original skynet: one channel per parent that all ten
// children send into, buffered so that no child ever blocks on its send, and
// the parent sums the values in the order they arrive. The alternative,
// one std::promise/std::future pair per child, is a one-shot channel per
// value: ten shared states to allocate per unit instead of one queue, and
// the parent would wait for its children in creation order rather than
// completion order. Both would be fair; the queue is the same primitive the
// other thread workloads measure.
//
// Thread stacks are std::thread's default (models/thread/stack.hpp), not
// changed. When the kernel refuses a thread (EAGAIN: pid_max, 32,768 here,
// or vm.max_map_count, two mappings per stack; ENOMEM), the tree must still
// come down: the unit that failed records the error (the first one wins),
// joins the children it did create, and still sends a value up, so its
// parent never waits for a sum that cannot come; every unit created after
// the failure is seen sends up at once without creating children. Every
// created unit therefore sends exactly one value and is joined, the root
// returns, and the run throws LimitError after the whole tree is joined.
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <new>
#include <optional>
#include <string>
#include <system_error>
#include <thread>

#include "harness/cell/errors.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/thread/bounded_queue.hpp"
#include "models/thread/stack.hpp"
#include "workloads/skynet/spec.hpp"

namespace cmbench::skynet {
namespace {

using models::thread::BoundedQueue;
using Channel = BoundedQueue<uint64_t>;

constexpr int kFanOut = 10;

// What all units of one tree share: the count of units created (for the
// note when the kernel stops the tree) and the first creation failure.
struct Tree {
  std::atomic<uint64_t> created{0};
  std::atomic<bool> failed{false};
  int err = 0;  // written once by the unit that set `failed` first

  void fail(int e) {
    bool expected = false;
    if (failed.compare_exchange_strong(expected, true, std::memory_order_relaxed)) err = e;
  }
  bool has_failed() const { return failed.load(std::memory_order_relaxed); }
};

// Starts a thread running unit(); returns 0, or the errno of the failure.
int start_unit(std::thread& t, Tree& tree, uint64_t ordinal, uint64_t size, Channel& parent);

// The body of one unit: `size` leaves below it (1 for a leaf), the first of
// them numbered `ordinal`; its result goes to `parent`.
void unit(Tree& tree, uint64_t ordinal, uint64_t size, Channel& parent) {
  if (size == 1) {
    parent.push(ordinal);
    return;
  }
  // A unit that finds the tree already failing creates nothing more, so the
  // tree comes down quickly; its value is ignored.
  if (tree.has_failed()) {
    parent.push(0);
    return;
  }
  Channel children(kFanOut);  // capacity 10: no child blocks on its send
  std::array<std::thread, kFanOut> threads;
  const uint64_t child_size = size / kFanOut;
  int started = 0;
  for (; started < kFanOut; ++started) {
    const int err =
        start_unit(threads[started], tree, ordinal + started * child_size, child_size, children);
    if (err != 0) {
      tree.fail(err);
      break;
    }
  }
  uint64_t sum = 0;
  for (int i = 0; i < started; ++i) sum += *children.pop();
  // The children have sent their sums and are ending; joining them here is
  // what keeps any thread from outliving the run.
  for (int i = 0; i < started; ++i) threads[i].join();
  parent.push(sum);
}

int start_unit(std::thread& t, Tree& tree, uint64_t ordinal, uint64_t size, Channel& parent) {
  try {
    t = std::thread(unit, std::ref(tree), ordinal, size, std::ref(parent));
  } catch (const std::system_error& e) {
    return e.code().value();
  } catch (const std::bad_alloc&) {
    return ENOMEM;
  }
  // Counted only for the note; relaxed, as the count is read after the
  // root is joined.
  tree.created.fetch_add(1, std::memory_order_relaxed);
  return 0;
}

void run(const Params& p, Probe& probe) {
  const uint64_t leaves = p.u("leaves");
  Tree tree;
  Channel result(1);
  std::thread root;
  uint64_t sum = 0;

  probe.start();
  if (const int err = start_unit(root, tree, 0, leaves, result); err != 0) tree.fail(err);
  if (root.joinable()) {
    sum = *result.pop();
    root.join();
  }
  probe.stop();

  if (tree.has_failed()) {
    // The whole tree has been joined: every unit's join of its children
    // happened before it sent its value up.
    probe.note("reached", tree.created.load(std::memory_order_relaxed));
    throw_errno("std::thread (pthread_create) after " +
                    std::to_string(tree.created.load(std::memory_order_relaxed)) + " of " +
                    std::to_string(units_of(leaves)) + " units",
                tree.err);
  }
  probe.verify(verify(p, sum));
  probe.note("threads", units_of(leaves));
  probe.note("channel",
             "one BoundedQueue<uint64_t> of capacity 10 per inner unit (std::mutex + condition "
             "variables); its 10 children push their sums, the unit pops 10 and joins them");
  probe.note("stack_bytes", models::thread::default_stack_bytes());
}

}  // namespace
}  // namespace cmbench::skynet

CMBENCH_IMPL(skynet, thread, ::cmbench::skynet::run, nullptr)
