#pragma once
// Channel<T>: Go's channel, for fibers of one Scheduler.
//
// Capacity B is honoured exactly:
//   B > 0  a ring buffer of exactly B slots, allocated when the channel is
//          made. A send completes once its value is in a slot; with all B
//          slots full the sender parks, so at most B values are ever sent and
//          not yet received.
//   B = 0  no buffer at all (rendezvous). A sender that finds no parked
//          receiver parks with a pointer to its value in the senders' queue,
//          and only the receiver that has taken the value out makes it
//          runnable again; so send() returns only after a receiver took the
//          value. A sender that finds a parked receiver writes the value
//          straight into the receiver's result and wakes it: that receiver is
//          committed to the value, which is Go's "receive happens before the
//          send completes".
// As in Go, values bypass the buffer whenever they can: a send that finds a
// parked receiver hands its value over directly, and a receive that frees a
// slot of a full buffer moves the oldest parked sender's value into it (so
// the buffer stays FIFO and that sender completes).
//
// close(): parked receivers wake with std::nullopt, later receivers drain the
// buffer and then get std::nullopt; send on a closed channel throws
// ChannelClosed (Go panics), and so do the sends of senders parked at the
// time of close. Closing twice throws too.
//
// Waiter queues are intrusive lists of the parked fibers' control blocks,
// each pointing (ControlBlock::wait) at what the fiber waits with, on its
// own stack: its receive's result, or its send's value. No operation
// allocates, and close() wakes every parked fiber without touching their
// stacks: the queue is walked through the control blocks, which lie side by
// side in the pool's arrays, where records on the stacks put each on a page
// of its own (spawn at 1,000,000 units: close() visited a million cold
// stack pages, docs/models.md).
//
// With one-thread schedulers nothing is locked; while an M:N scheduler runs
// (any_multi()) every operation holds the channel's SpinLock, and a fiber
// that parks hands it to Scheduler::park(), which releases it only once the
// fiber's context is saved: a waker on another thread, which needs the lock
// to find the waiter, cannot resume it earlier.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "models/fiber/intrusive.hpp"
#include "models/fiber/scheduler.hpp"
#include "models/fiber/spinlock.hpp"

namespace cmbench::fiber {

class ChannelClosed : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

template <typename T>
class alignas(64) Channel {
 public:
  explicit Channel(std::size_t capacity)
      : cap_(checked_capacity(capacity)), buf_(capacity ? alloc_.allocate(capacity) : nullptr) {}
  // Precondition: no fiber is parked on the channel.
  ~Channel() {
    while (count_ > 0) {
      std::destroy_at(buf_ + head_);
      advance(head_);
      --count_;
    }
    if (buf_) alloc_.deallocate(buf_, cap_);
  }
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Each operation is compiled twice: locked, taken while an M:N scheduler
  // runs, and the one-thread original, which one global load and a branch
  // choose between. The locked one is kept out of line, so that inlining it
  // does not weigh on the caller's loop in the one-thread case.
  void send(const T& value) {
    if (any_multi()) [[unlikely]]
      send_shared(value);
    else
      send_impl<false>(value);
  }
  void send(T&& value) {
    if (any_multi()) [[unlikely]]
      send_shared(std::move(value));
    else
      send_impl<false>(std::move(value));
  }

  // The next value, or std::nullopt once the channel is closed and drained.
  std::optional<T> recv() {
    if (any_multi()) [[unlikely]]
      return recv_shared();
    return recv_impl<false>();
  }

  void close() {
    IntrusiveQueue<ControlBlock, false> receivers;
    IntrusiveQueue<ControlBlock, false> senders;
    {
      QueueLock<true> guard(lock_);  // not on a fast path: always locked
      if (closed_) throw ChannelClosed("close of closed channel");
      closed_ = true;
      receivers.splice(recvq_);
      senders.splice(sendq_);  // their records' `taken` stays false
    }
    // Woken after the lock is released (see wake()).
    while (ControlBlock* r = receivers.pop()) wake(r);
    while (ControlBlock* w = senders.pop()) wake(w);
  }

  std::size_t capacity() const noexcept { return cap_; }
  std::size_t size() const noexcept { return count_; }
  bool closed() const noexcept { return closed_; }
  std::size_t parked_senders() const noexcept { return sendq_.size(); }
  std::size_t parked_receivers() const noexcept { return recvq_.size(); }

 private:
  template <bool kShared>
  std::optional<T> recv_impl() {
    std::optional<T> out;  // one result object, so the return is elided
    QueueLock<kShared> guard(lock_);
    if (count_ > 0) {
      out.emplace(std::move(buf_[head_]));
      std::destroy_at(buf_ + head_);
      advance(head_);
      --count_;
      if (ControlBlock* f = sendq_.pop()) {
        SendWaiter* w = static_cast<SendWaiter*>(f->wait);
        take(w, [this](auto&& v) {
          std::construct_at(buf_ + tail_, std::forward<decltype(v)>(v));
        });
        advance(tail_);
        ++count_;
        w->taken = true;
        wake_unlocked(guard, f);
      }
      return out;
    }
    if (ControlBlock* f = sendq_.pop()) {  // unbuffered: take from the sender
      SendWaiter* w = static_cast<SendWaiter*>(f->wait);
      take(w, [&out](auto&& v) { out.emplace(std::forward<decltype(v)>(v)); });
      w->taken = true;
      wake_unlocked(guard, f);
      return out;
    }
    if (closed_) return out;
    Scheduler* s = Scheduler::current();
    ControlBlock* self = running_fiber(s);
    self->wait = &out;
    recvq_.push(self);
    try {
      park(s, guard);  // woken by a sender (out holds its value) or by close()
    } catch (...) {
      QueueLock<kShared> again(lock_);
      recvq_.remove(self);
      throw;
    }
    return out;
  }

  [[gnu::noinline]] std::optional<T> recv_shared() { return recv_impl<true>(); }
  [[gnu::noinline]] void send_shared(const T& value) { send_impl<true>(value); }
  [[gnu::noinline]] void send_shared(T&& value) { send_impl<true>(std::move(value)); }

  // A parked sender's record, on its stack (its ControlBlock::wait); a
  // parked receiver's is its result, the std::optional<T> recv() returns.
  struct SendWaiter {
    const T* value;  // the sender's argument, on the sender's stack
    bool movable;    // sent as an rvalue: the receiver may move from it
    bool taken;      // a receiver took the value (false when woken by close)
  };

  template <bool kShared, typename U>
  void send_impl(U&& value) {
#if CMBENCH_TEST_FIBER_CHANNEL_WORK > 0
    // A test instrument, off by default (CMake option of the same name): a
    // fixed number of nop instructions per send (an empty asm would compile
    // to nothing), so that a build with it shows a known small slowdown of
    // the fiber channel's code path (e.g. to check that `ab --count
    // instructions` flags a 1% change).
    for (int i = 0; i < CMBENCH_TEST_FIBER_CHANNEL_WORK; ++i) asm volatile("nop");
#endif
    QueueLock<kShared> guard(lock_);
    if (closed_) throw ChannelClosed("send on closed channel");
    if (ControlBlock* r = recvq_.pop()) {
      static_cast<std::optional<T>*>(r->wait)->emplace(std::forward<U>(value));
      wake_unlocked(guard, r);
      return;
    }
    if (count_ < cap_) {
      std::construct_at(buf_ + tail_, std::forward<U>(value));
      advance(tail_);
      ++count_;
      return;
    }
    Scheduler* s = Scheduler::current();
    SendWaiter w{&value, std::is_rvalue_reference_v<U&&>, false};
    ControlBlock* self = running_fiber(s);
    self->wait = &w;
    sendq_.push(self);
    try {
      park(s, guard);  // woken by the receiver that took the value, or by close()
    } catch (...) {
      QueueLock<kShared> again(lock_);
      sendq_.remove(self);
      throw;
    }
    if (!w.taken) throw ChannelClosed("send on closed channel");
  }

  // The locked variant hands the lock to the scheduler, which releases it
  // once this fiber's context is saved.
  template <bool kShared>
  static void park(Scheduler* s, QueueLock<kShared>& guard) {
    if constexpr (kShared)
      s->park(guard.release());
    else
      s->park();
  }

  static ControlBlock* running_fiber(Scheduler* s) {
    ControlBlock* self = s ? s->running() : nullptr;
    if (!self)
      throw std::logic_error(
          "cmbench::fiber::Channel: an operation that must wait was called outside a fiber");
    return self;
  }

  // Constructs from the parked sender's value, in place: moved when it was
  // sent as an rvalue (the object is the sender's own, not const), copied
  // otherwise.
  template <typename Construct>
  static void take(SendWaiter* w, Construct&& construct) {
    if constexpr (std::is_copy_constructible_v<T>) {
      if (!w->movable) {
        construct(*w->value);
        return;
      }
    }
    construct(std::move(*const_cast<T*>(w->value)));
  }

  // A woken fiber is made ready only after the channel's lock is released,
  // and nothing of the channel is touched after that: in M:N mode the fiber
  // may run on another worker at once and end the scope that owns the
  // channel (skynet's parent returns as soon as its last receive does).
  // Unlocking after the wake-up wrote to a dead stack: AddressSanitizer
  // caught it as stack-use-after-scope in SpinLock::unlock.
  template <bool kShared>
  static void wake_unlocked(QueueLock<kShared>& guard, ControlBlock* fiber) noexcept {
    if constexpr (kShared)
      if (SpinLock* l = guard.release()) l->unlock();
    wake(fiber);
  }
  static void wake(ControlBlock* fiber) noexcept { fiber->sched->ready(fiber); }

  void advance(uint32_t& i) const noexcept {
    if (++i == cap_) i = 0;
  }

  static uint32_t checked_capacity(std::size_t capacity) {
    if (capacity > std::numeric_limits<uint32_t>::max())
      throw std::length_error("cmbench::fiber::Channel: capacity above 4294967295");
    return static_cast<uint32_t>(capacity);
  }

  // Everything an operation reads or writes under the lock, the lock
  // included, is in one cache line (the class is aligned to it): in M:N mode
  // the worker that takes the lock then has the rest with it, instead of
  // missing on a second line that the other worker wrote last (prodcons 4x4
  // at threads:0, capacity 1024: 0.63x the time of the old 104-byte layout,
  // which spans two lines wherever it lies; docs/models.md).
  [[no_unique_address]] std::allocator<T> alloc_;  // empty: takes no room
  SpinLock lock_;
  bool closed_ = false;
  uint32_t cap_;
  uint32_t head_ = 0;  // oldest value
  uint32_t tail_ = 0;  // next free slot
  uint32_t count_ = 0;
  T* buf_;
  IntrusiveQueue<ControlBlock, false> sendq_;
  IntrusiveQueue<ControlBlock, false> recvq_;
};

static_assert(sizeof(Channel<int>) == 64, "a channel is one cache line");

}  // namespace cmbench::fiber
