#pragma once
// The handoff two threads ping-pong over: one std::mutex guards the value and
// whose turn it is, and the thread without the turn waits on one condition
// variable — the model's Condition (models/thread/condition.hpp), as in its
// BoundedQueue, so that the thread model waits on one primitive everywhere.
// The pingpong workload and cmbench-micro's `switch` both use it, so they
// time the same primitive.
#include <cstdint>
#include <mutex>

#include "models/thread/condition.hpp"

namespace cmbench::models::thread {

// The court both threads play on. Everything is guarded by `mutex`.
struct Court {
  enum class Turn { a, b };
  std::mutex mutex;
  Condition turn_changed;
  Turn turn = Turn::a;
  uint64_t value = 0;

  // Writes `v`, hands the turn to `to`, and wakes the peer. The peer is
  // notified after the mutex is released, so that it does not wake only to
  // block on the mutex this thread still holds; that is safe because the
  // turn is changed under the mutex and the peer checks it under the mutex
  // (wait with a predicate), so the wake-up cannot be lost.
  void hand(Turn to, uint64_t v) {
    {
      std::lock_guard lock(mutex);
      value = v;
      turn = to;
    }
    turn_changed.notify_one();
  }

  // Blocks until the turn is `mine` and returns the value handed over.
  uint64_t await(Turn mine) {
    std::unique_lock lock(mutex);
    turn_changed.wait(lock, [this, mine] { return turn == mine; });
    return value;
  }
};

}  // namespace cmbench::models::thread
