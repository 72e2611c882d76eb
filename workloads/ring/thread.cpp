// ring in the thread model: N threads, each blocked on its own mailbox, a
// BoundedQueue<uint64_t> of capacity 1 (one std::mutex and condition
// variables: the model's channel). Unit i pops the token from its mailbox
// and pushes it, one hop fewer, into unit i+1's. Capacity 1 is all a mailbox
// needs: there is only ever one token, so no push waits for room, and each
// hop is exactly one futex wake of the next thread and one futex wait of
// this one — the kernel context switch the classic thread-ring measures.
//
// Termination: the unit that pops the token with 0 hops left records its
// index and closes every mailbox; each other thread, blocked in pop(), gets
// std::nullopt and returns. Nothing can push after the close, because the
// token was the only thing ever pushed and it has stopped.
//
// The threads are created behind ThreadGroup's start gate and the token is
// put into unit 0's mailbox only after the gate opens, so a thread the
// kernel refuses (EAGAIN) leaves a ring that never started: the threads made
// so far are released with the abort flag and joined, and the cell ends as
// a limit. Thread stacks are std::thread's default, not changed.
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "models/thread/bounded_queue.hpp"
#include "models/thread/stack.hpp"
#include "models/thread/thread_group.hpp"
#include "workloads/ring/spec.hpp"

namespace cmbench::ring {
namespace {

using models::thread::BoundedQueue;
using models::thread::ThreadGroup;
using Mailbox = BoundedQueue<uint64_t>;

void run(const Params& p, Probe& probe) {
  const uint64_t n = p.u("units");
  const uint64_t t = p.u("hops");

  // One allocation per mailbox, before the timed region: a BoundedQueue
  // holds a mutex and cannot be moved, so it cannot live in a growing vector.
  std::vector<std::unique_ptr<Mailbox>> mailboxes;
  mailboxes.reserve(n);
  for (uint64_t i = 0; i < n; ++i) mailboxes.push_back(std::make_unique<Mailbox>(1));
  // Hops each unit made, written once by its thread as it ends.
  std::vector<uint64_t> hops(n, 0);
  uint64_t last_holder = n;  // written by the last holder, read after the joins
  // Declared after the mailboxes, so that on any exit the threads are joined
  // before the mailboxes they block on are destroyed.
  ThreadGroup units(n);

  probe.start();
  for (uint64_t i = 0; i < n; ++i) {
    units.spawn([&mailboxes, &hops, &last_holder, n, i] {
      Mailbox& mine = *mailboxes[i];
      Mailbox& next = *mailboxes[i + 1 == n ? 0 : i + 1];
      uint64_t sent = 0;
      while (std::optional<uint64_t> left = mine.pop()) {
        if (*left == 0) {
          last_holder = i;
          for (auto& m : mailboxes) m->close();
          break;
        }
        next.push(*left - 1);
        ++sent;
      }
      hops[i] = sent;
    });
  }
  units.start();
  mailboxes[0]->push(t);
  units.join_all();
  probe.stop();

  uint64_t hops_made = 0;
  for (uint64_t h : hops) hops_made += h;
  probe.verify(verify(p, last_holder, hops_made));
  probe.note("threads", n);
  probe.note("channel",
             "one BoundedQueue<uint64_t> of capacity 1 per thread as its mailbox (std::mutex + "
             "condition variables); a hop is one push into the next thread's mailbox");
  probe.note("termination",
             "the thread that receives the token with 0 hops left closes every mailbox; the "
             "others' pop() returns nullopt");
  probe.note("start",
             "threads wait at a std::latch until all N exist; the main thread then puts the token "
             "into unit 0's mailbox; creation and joining are inside the timed region");
  probe.note("stack_bytes", models::thread::default_stack_bytes());
}

}  // namespace
}  // namespace cmbench::ring

CMBENCH_IMPL(ring, thread, ::cmbench::ring::run, nullptr)
