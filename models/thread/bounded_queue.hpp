#pragma once
// BoundedQueue<T>: the thread model's channel, a blocking multi-producer,
// multi-consumer queue on one std::mutex and condition variables, with the
// semantics of a Go channel:
//
//   capacity B > 0  a ring buffer of exactly B slots, allocated once in the
//                   constructor. push() blocks while all B are full, so at
//                   most B values have been pushed and not yet popped; a push
//                   completes as soon as its value is in the ring.
//   capacity 0      a rendezvous through one handoff slot (see push()): a
//                   push completes only once a popper has taken its value.
//
// pop() blocks while the queue is empty and returns std::nullopt once the
// queue is closed and drained. close() lets consumers finish: values already
// in the queue are still delivered. Pushing after close() is a logic error
// and throws std::logic_error (Go panics on a send to a closed channel).
//
// How the waiting is done, and why:
//   - Two condition variables, not_full_ (pushers waiting for a free slot)
//     and not_empty_ (poppers waiting for a value), so that a notification
//     always reaches a thread waiting for what just changed. Every waiter on
//     one of them waits for the same predicate, which is what makes
//     notify_one() enough: any woken waiter can use the slot or the value.
//     Capacity 0 adds a third, taken_cv_, on which only pushers whose value
//     sits in the handoff slot wait for a popper to take it.
//   - Waiter counts, kept under the mutex, so that the fast path of an
//     uncontended push or pop makes no futex call at all: a thread notifies
//     only when someone is waiting (Waiters, below).
//   - And a count of the notify_one()s those waiters have not yet woken
//     from, so that a thread notifies only when some waiter has not been
//     notified already. Without it, every push made while a woken consumer
//     was still on its way back to the mutex (tens of microseconds on a VM)
//     made one more FUTEX_WAKE system call: measured with
//     cmbench-queue-stress at 1 producer, 1 consumer, capacity 1024, that
//     made a value cost 2.5 times what it cost on glibc's condition variable,
//     which keeps the same count. Why the count cannot lose a wake-up is
//     explained at Waiters. What it changed in the thread model's prodcons
//     cells (2-core VM, two runs each): capacity 1024 cheaper (1x1 206 and
//     404 ns a message before, 146 and 142 after; 4x4 740 and 618 ns, 206
//     and 181), capacity 0 and 1 at 4x4 dearer (5.6 and 6.6 us, 9.8 and 13.2;
//     8.9 and 7.1 us, 13.2 and 12.8), 1x1 at capacity 0 and 1 the same. The
//     extra wakes had woken a second sleeper while the first was on its way,
//     which at 4x4 kept more threads awake: 1.1 to 1.2 voluntary context
//     switches a message before, 2.4 to 2.5 after. glibc's own condition
//     variable, which does not make them either, is dearer still there
//     (cmbench-queue-stress --cv std: 18 to 20 us at 4x4 capacity 0).
//   - Notifications are made after the mutex is released where that is
//     correct, so the woken thread does not wake only to block on the mutex
//     its notifier still holds. It is correct here because every predicate
//     is changed under the mutex before the notifier decides to notify, and
//     every waiter re-checks its predicate under the mutex (wait with a
//     predicate, which also makes spurious wake-ups harmless).
//   - close() sets the flag under the mutex and notifies *all* waiters of
//     both variables: each predicate includes `closed_`, and a thread that
//     starts waiting after close() sees the flag before it blocks, so no
//     wake-up can be lost.
//   - The condition variables are the model's own Condition (a futex word,
//     models/thread/condition.hpp), not std::condition_variable: glibc's
//     loses a notify_one now and then when several threads wait (glibc bug
//     25847), which hung this queue with 4 producers waiting on not_full_ in
//     front of an empty ring. `Cv` lets the stress tool (perf/queue_stress.cpp)
//     run the same queue on std::condition_variable to measure that.
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "models/thread/condition.hpp"

namespace cmbench::models::thread {

template <typename T, typename Cv = Condition>
class BoundedQueue {
  // The ring's slots are created once, default-initialised (so the kernel
  // maps their pages lazily, as it would for a Go channel's buffer), and then
  // only assigned to.
  static_assert(std::is_default_constructible_v<T>);
  static_assert(std::is_nothrow_move_assignable_v<T>);

 public:
  explicit BoundedQueue(size_t capacity)
      : capacity_(capacity),
        slots_count_(capacity > 0 ? capacity : 1),
        slots_(std::make_unique_for_overwrite<T[]>(slots_count_)) {}

  BoundedQueue(const BoundedQueue&) = delete;
  BoundedQueue& operator=(const BoundedQueue&) = delete;

  size_t capacity() const noexcept { return capacity_; }

  // Blocks until the value is in the queue (capacity > 0) or has been taken
  // by a popper (capacity 0). Throws std::logic_error when the queue is, or
  // becomes while this push waits for room, closed.
  void push(const T& value) { push_impl(value); }
  void push(T&& value) { push_impl(std::move(value)); }

  // Blocks until a value is available and returns it, or returns
  // std::nullopt once the queue is closed and every value has been popped.
  std::optional<T> pop() {
    // One named result, returned from every path, so that it is constructed
    // in the caller's storage (NRVO): a 1 KiB message is copied once, out of
    // its slot.
    std::optional<T> out;
    bool wake_pusher = false;
    bool wake_depositor = false;
    {
      std::unique_lock lock(mutex_);
      if (count_ == 0 && !closed_) not_empty_.wait(lock, [this] { return count_ > 0 || closed_; });
      if (count_ == 0) return out;  // closed and drained
      out.emplace(std::move(slots_[head_]));
      if (++head_ == slots_count_) head_ = 0;
      --count_;
      wake_pusher = not_full_.claim_one();
      if (capacity_ == 0) {
        ++taken_;
        wake_depositor = taken_cv_.waiting > 0;
      }
    }
    // With capacity 0 the slot is free again, so the next pusher may deposit
    // before the depositor of this value has even woken up; that depositor
    // only needs to see `taken_` pass its ticket. Several depositors can
    // therefore be waiting at once (usually one; more only when an earlier
    // one has not been scheduled yet), each for its own ticket, so they are
    // all woken and each re-checks its own. notify_one() would not do here:
    // after the mutex is released, a newer depositor can start waiting and
    // receive the one notification meant for this value's depositor.
    if (wake_depositor) taken_cv_.cv.notify_all();
    if (wake_pusher) not_full_.cv.notify_one();
    return out;
  }

  // No more pushes. Poppers drain what is left and then get std::nullopt;
  // pushers waiting for room throw. A value already deposited in the
  // capacity-0 handoff slot counts as sent: it is still delivered, and its
  // pusher returns once a popper takes it. Closing twice is harmless.
  void close() {
    bool wake_poppers = false;
    bool wake_pushers = false;
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
      wake_poppers = not_empty_.waiting > 0;
      wake_pushers = not_full_.waiting > 0;
    }
    if (wake_poppers) not_empty_.cv.notify_all();
    if (wake_pushers) not_full_.cv.notify_all();
  }

 private:
  template <typename U>
  void push_impl(U&& value) {
    std::unique_lock lock(mutex_);
    if (closed_) throw_closed();
    if (count_ == slots_count_) {
      not_full_.wait(lock, [this] { return count_ < slots_count_ || closed_; });
      if (closed_) throw_closed();
    }
    size_t tail = head_ + count_;
    if (tail >= slots_count_) tail -= slots_count_;
    slots_[tail] = std::forward<U>(value);
    ++count_;
    const bool wake_popper = not_empty_.claim_one();

    if (capacity_ > 0) {
      lock.unlock();
      if (wake_popper) not_empty_.cv.notify_one();
      return;
    }

    // Capacity 0, the rendezvous. The single slot is a handoff slot: the
    // wait above admits one pusher at a time (the slot counts as full from
    // the deposit until a popper moves the value out). The pusher takes a
    // ticket, the number of its deposit, and waits until `taken_`, which only
    // pop() advances and only at the moment it moves a value out of the slot
    // under the mutex, reaches that ticket. Deposits and takes alternate
    // strictly, so taken_ >= ticket means exactly "a popper has this value":
    // the push cannot return before that, which is Go's unbuffered channel.
    const uint64_t ticket = ++deposited_;
    // The popper is woken with the mutex released, so that it does not wake
    // only to block on the mutex this thread holds. While it is released a
    // popper may already take the value; the pusher then does not sleep at
    // all. (Measured: about a quarter fewer context switches per handoff
    // than notifying under the mutex and waiting at once.) A depositor is
    // counted in taken_cv_.waiting only while it waits, and pop() reads the
    // count under the mutex, so a take either sees the waiter and notifies
    // it or happens before the waiter's predicate check and is seen there.
    if (wake_popper) {
      lock.unlock();
      not_empty_.cv.notify_one();
      lock.lock();
    }
    if (taken_ < ticket) taken_cv_.wait(lock, [this, ticket] { return taken_ >= ticket; });
  }

  [[noreturn]] static void throw_closed() {
    throw std::logic_error("BoundedQueue::push on a closed queue");
  }

  const size_t capacity_;
  const size_t slots_count_;  // capacity_, or the one handoff slot for capacity 0
  const std::unique_ptr<T[]> slots_;

  // A condition variable and, guarded by mutex_, the threads waiting on it:
  //   waiting   threads inside wait(), asleep or on their way back to the
  //             mutex;
  //   notified  notify_one()s made for them (claim_one()) that no waiter has
  //             yet returned from: at most `waiting`.
  // Every return from cv.wait() consumes one notification if any is left,
  // whichever waiter it was made for, and the returning thread re-checks its
  // predicate under the mutex.
  //
  // Why this cannot lose a wake-up (the counting of glibc's condition
  // variable before 2.25, with the queue's mutex as its internal lock): a
  // notifier claims under the mutex, after it changed the predicate, and
  // only while waiting > notified. Each counted waiter read the Condition's
  // word under the mutex before the claim, so the notification's bump and
  // FUTEX_WAKE (made after the mutex is released) either wake it, or make
  // its FUTEX_WAIT return at once, or wake another sleeper that read the
  // word as early. So each unconsumed notification is a return still to
  // come, and that return re-checks the predicate after the change it was
  // made for. A notification consumed by another waiter's return (a
  // spurious one, or one meant for an earlier change) leaves the waiter it
  // was meant for counted as not notified, so the next change notifies it.
  // A notify_all() (close, depositors) wakes every waiter; it claims nothing.
  struct Waiters {
    Cv cv;
    size_t waiting = 0;
    size_t notified = 0;

    template <typename Pred>
    void wait(std::unique_lock<std::mutex>& lock, Pred pred) {
      ++waiting;
      while (!pred()) {
        cv.wait(lock);
        if (notified > 0) --notified;
      }
      --waiting;
      assert(notified <= waiting);
    }
    // Under the mutex: true when a waiter is left that no notify_one() has
    // been made for, and counts one; the caller then calls cv.notify_one().
    bool claim_one() noexcept {
      if (notified == waiting) return false;
      ++notified;
      return true;
    }
  };

  std::mutex mutex_;
  Waiters not_full_;   // pushers waiting for a free slot
  Waiters not_empty_;  // poppers waiting for a value
  Waiters taken_cv_;   // capacity 0 only: depositors wait for their take
  // Everything below is guarded by mutex_.
  size_t head_ = 0;   // the oldest value's slot
  size_t count_ = 0;  // values in the slots
  bool closed_ = false;
  uint64_t deposited_ = 0;  // capacity 0: deposits made (the last ticket handed out)
  uint64_t taken_ = 0;      // capacity 0: deposits taken by a popper
};

}  // namespace cmbench::models::thread
