// skynet in the uv model: every unit of the 10-ary tree is a heap object on
// one libuv loop, holding its state — the leaves it covers, its partial sum
// and how many children have not reported yet — and two continuations: the
// one that starts it and the one that reports its result to its parent.
//
// A unit starts when the loop calls its start callback (posted by its
// parent, or by the creator for the root). A leaf's result is its ordinal at
// once; an inner unit allocates its 10 children, posts their start callbacks
// and returns to the loop. Units are started in FIFO order, so the tree
// unfolds breadth first and nearly all of its (10 * leaves - 1) / 9 units are
// alive at once, as in every model.
//
// The channel from child to parent is a callback carrying the child's value,
// scheduled by the loop's `continuation` policy (Loop::complete): inline, it
// runs right after the callback that produced it returns; deferred, on the
// next loop iteration. It adds the child's result to the parent's partial
// sum, frees the child and, when it was the last one outstanding, the
// parent's result is scheduled for its own parent the same way. The root's
// result ends the run: nothing is queued any more and uv_run returns.
//
// A unit that cannot be allocated is a limit, and the half-built tree must
// not be left waiting: the parent counts only the children it made, every
// unit that starts afterwards ends at once as if it were a leaf with 0, so
// the tree still collapses to the root, freeing every unit, and the run
// throws with the number of units reached.
#include <fmt/format.h>

#include <cerrno>
#include <cstdint>
#include <new>

#include "harness/cell/errors.hpp"
#include "harness/registry/registry.hpp"
#include "models/uv/loop.hpp"
#include "workloads/skynet/spec.hpp"

namespace cmbench::skynet::uv {
namespace {

using cmbench::uv::Loop;
using cmbench::uv::Task;

struct Tree {
  Loop& loop;
  uint64_t created = 0;    // units allocated so far
  uint64_t root_sum = 0;   // the root's result
  bool root_done = false;
  bool out_of_memory = false;
};

struct Unit {
  Task start;   // posted by the parent: the unit's first callback
  Task report;  // scheduled when the unit's result is ready: the parent's side
  Tree* tree = nullptr;
  Unit* parent = nullptr;
  uint64_t first = 0;  // the ordinal of the first leaf under this unit
  uint64_t span = 0;   // how many leaves are under it
  uint64_t sum = 0;    // the partial sum, then the result
  uint32_t pending = 0;  // children that have not reported yet

  // Allocates a unit and posts its start callback; nullptr when out of
  // memory.
  static Unit* spawn(Tree& tree, Unit* parent, uint64_t first, uint64_t span) {
    auto* u = new (std::nothrow) Unit;
    if (u == nullptr) return nullptr;
    ++tree.created;
    u->start.run = &start_cb;
    u->start.data = u;
    u->report.run = &report_cb;
    u->report.data = u;
    u->tree = &tree;
    u->parent = parent;
    u->first = first;
    u->span = span;
    tree.loop.post(&u->start);
    return u;
  }

  static void start_cb(Task* t) {
    auto* self = static_cast<Unit*>(t->data);
    Tree& tree = *self->tree;
    if (self->span == 1) {
      self->sum = self->first;
      self->finish();
      return;
    }
    if (tree.out_of_memory) {  // tearing down: end without children
      self->finish();
      return;
    }
    const uint64_t child_span = self->span / 10;
    for (uint64_t i = 0; i < 10; ++i) {
      if (spawn(tree, self, self->first + i * child_span, child_span) == nullptr) {
        tree.out_of_memory = true;
        break;
      }
      ++self->pending;
    }
    if (self->pending == 0) self->finish();
  }

  // The result is ready: hand it to the parent through the loop.
  void finish() {
    if (parent == nullptr) {
      tree->root_sum = sum;
      tree->root_done = true;
      delete this;
      return;
    }
    tree->loop.complete(&report);
  }

  // Runs on the parent's behalf with this child's result.
  static void report_cb(Task* t) {
    auto* child = static_cast<Unit*>(t->data);
    Unit* parent = child->parent;
    parent->sum += child->sum;
    delete child;
    if (--parent->pending == 0) parent->finish();
  }
};

void run(const Params& p, Probe& probe) {
  const uint64_t leaves = p.u("leaves");
  const auto continuation = cmbench::uv::continuation_param(p);

  Loop loop(continuation);
  Tree tree{loop};

  probe.start();
  if (Unit::spawn(tree, nullptr, 0, leaves) == nullptr) tree.out_of_memory = true;
  loop.run();
  probe.stop();

  if (tree.out_of_memory) {
    probe.note("reached", tree.created);
    throw_errno(fmt::format("operator new (skynet unit {} of {})", tree.created + 1,
                            units_of(leaves)),
                ENOMEM);
  }

  probe.note("continuation", cmbench::uv::continuation_note(continuation));
  probe.note("unit",
             fmt::format("a heap object of {} bytes (allocated with new): its leaf range, "
                         "partial sum, pending-children count, and its start and report tasks",
                         sizeof(Unit)));
  probe.note("channel",
             "child to parent: a report callback carrying the child's result, scheduled by "
             "the continuation policy; it adds to the parent's sum and frees the child");

  Verdict v = verify(p, tree.root_sum);
  if (v.ok && !tree.root_done)
    v = Verdict::fail("the loop ran out of work before the root had its result");
  if (v.ok && tree.created != units_of(leaves))
    v = Verdict::fail(fmt::format("expected {} units, created {}", units_of(leaves), tree.created));
  probe.verify(v);
}

}  // namespace
}  // namespace cmbench::skynet::uv

CMBENCH_IMPL(skynet, uv, cmbench::skynet::uv::run, nullptr)
