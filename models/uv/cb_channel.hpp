#pragma once
// CbChannel<T>: a Go-style channel for callbacks on one uv loop. Its waiters
// are callbacks, never blocked threads: send() and recv() return at once, and
// the callback passed to them runs when the operation completes.
//
// In the style of libuv's requests (uv_write_t, uv_fs_t), the caller owns the
// request: a SendReq or RecvReq it keeps alive, untouched, from the call until
// its callback ran. The request is the waiter: a parked request is linked into
// the channel's intrusive FIFO and a completed one into the loop's ready
// queue, so no channel operation allocates.
//
// Capacity B, as the suite defines it (workloads/prodcons/spec.hpp):
//   B > 0  a ring of exactly B slots, allocated once by the constructor. A
//          send completes as soon as its value is in a slot; when all B are
//          full the sender parks (its request, holding its value) and is
//          completed only when a receive frees a slot and its value is moved
//          into it. So at most B values are ever sent and not yet received.
//   B = 0  rendezvous: there are no slots. A send that finds a parked
//          receiver hands its value straight into that receiver's request;
//          otherwise the sender parks until a receiver arrives and takes the
//          value from it. Either way the receiver's callback is scheduled
//          before the sender's: the receive happens before the send completes.
//
// close(): the values already in the ring can still be received; after them
// every receive completes with nullopt (parked receivers at once). A send on a
// closed channel, and a sender still parked when it is closed, completes with
// status UV_EPIPE and its value is not delivered (where Go would panic).
//
// How a completed request's callback is scheduled (inline, through a
// trampoline, or deferred to the next loop iteration) is the Loop's policy:
// see Continuation in loop.hpp. Under the inline policy a callback can run
// before send()/recv()/close() returns; it never runs nested inside another
// channel callback.
//
// Not thread-safe: everything happens on the loop's thread, which is the
// model. Between loops on different threads the suite uses uv_async_t.
#include <uv.h>

#include <cstddef>
#include <memory>
#include <new>
#include <optional>

#include "harness/cell/errors.hpp"
#include "models/uv/loop.hpp"

namespace cmbench::uv {

template <typename T>
class CbChannel;

template <typename T>
struct SendReq : Task {
  using Cb = void (*)(SendReq* req, int status);
  // The value to send. Set it before send(); the channel copies it into a
  // slot or a receiver and never changes it.
  T value;
  // What the completion reported: 0 sent, UV_EPIPE the channel was closed.
  int status = 0;
  Cb on_sent = nullptr;
};

template <typename T>
struct RecvReq : Task {
  using Cb = void (*)(RecvReq* req, std::optional<T>& value);
  // The received value, or nullopt once the channel is closed and drained.
  // It is what on_value receives; it stays valid until the next recv().
  std::optional<T> value;
  Cb on_value = nullptr;
};

template <typename T>
class CbChannel {
 public:
  // Allocates the B slots now, so that no operation allocates later. The
  // slots are default-initialised: for a trivial T the pages are only
  // touched when a slot is first used. Running out of memory is a LimitError.
  CbChannel(Loop& loop, size_t capacity) : loop_(loop), capacity_(capacity) {
    if (capacity_ > 0) {
      slots_.reset(new (std::nothrow) T[capacity_]);
      if (!slots_) throw LimitError("CbChannel: allocating the ring of slots", ENOMEM);
    }
  }
  CbChannel(const CbChannel&) = delete;
  CbChannel& operator=(const CbChannel&) = delete;

  // Sends req->value; on_sent(req, status) runs when the send completed (see
  // the capacity rules above).
  void send(SendReq<T>* req, typename SendReq<T>::Cb on_sent) noexcept {
    req->run = &run_send;
    req->on_sent = on_sent;
    if (closed_) {
      finish_send(req, UV_EPIPE);
      return;
    }
    // A parked receiver means the ring is empty: hand the value over.
    if (!receivers_.empty()) {
      auto* r = static_cast<RecvReq<T>*>(receivers_.pop());
      r->value.emplace(req->value);
      loop_.complete(r);
      finish_send(req, 0);
      return;
    }
    if (count_ < capacity_) {
      slots_[tail_] = req->value;
      advance(tail_);
      ++count_;
      finish_send(req, 0);
      return;
    }
    senders_.push(req);  // full, or a rendezvous with no receiver yet
  }

  // Receives the next value; on_value(req, value) runs with it, or with
  // nullopt once the channel is closed and every value has been received.
  void recv(RecvReq<T>* req, typename RecvReq<T>::Cb on_value) noexcept {
    req->run = &run_recv;
    req->on_value = on_value;
    if (count_ > 0) {
      req->value.emplace(slots_[head_]);
      advance(head_);
      --count_;
      // Senders park only on a full ring: the first one's value takes the
      // slot just freed, and its send completes.
      if (!senders_.empty()) {
        auto* s = static_cast<SendReq<T>*>(senders_.pop());
        slots_[tail_] = s->value;
        advance(tail_);
        ++count_;
        loop_.complete(req);
        finish_send(s, 0);
        return;
      }
      loop_.complete(req);
      return;
    }
    // Rendezvous: take the value from the first parked sender.
    if (!senders_.empty()) {
      auto* s = static_cast<SendReq<T>*>(senders_.pop());
      req->value.emplace(s->value);
      loop_.complete(req);
      finish_send(s, 0);
      return;
    }
    if (closed_) {
      req->value.reset();
      loop_.complete(req);
      return;
    }
    receivers_.push(req);
  }

  // No more sends. Parked receivers (only possible with an empty ring) get
  // nullopt; parked senders get UV_EPIPE. Idempotent.
  void close() noexcept {
    if (closed_) return;
    closed_ = true;
    // Detach the queues first: under the inline policy the callbacks run
    // from here and may call recv()/send() again.
    TaskQueue receivers = receivers_.take();
    TaskQueue senders = senders_.take();
    while (Task* t = receivers.pop()) {
      auto* r = static_cast<RecvReq<T>*>(t);
      r->value.reset();
      loop_.complete(r);
    }
    while (Task* t = senders.pop()) finish_send(static_cast<SendReq<T>*>(t), UV_EPIPE);
  }

  bool closed() const noexcept { return closed_; }
  size_t capacity() const noexcept { return capacity_; }
  // Values in the ring, sent and not yet received.
  size_t size() const noexcept { return count_; }
  bool has_parked_senders() const noexcept { return !senders_.empty(); }
  bool has_parked_receivers() const noexcept { return !receivers_.empty(); }

 private:
  void advance(size_t& index) const noexcept {
    if (++index == capacity_) index = 0;
  }
  void finish_send(SendReq<T>* s, int status) noexcept {
    s->status = status;
    loop_.complete(s);
  }
  static void run_send(Task* t) {
    auto* s = static_cast<SendReq<T>*>(t);
    s->on_sent(s, s->status);
  }
  static void run_recv(Task* t) {
    auto* r = static_cast<RecvReq<T>*>(t);
    r->on_value(r, r->value);
  }

  Loop& loop_;
  size_t capacity_;
  std::unique_ptr<T[]> slots_;
  size_t head_ = 0;      // the oldest value
  size_t tail_ = 0;      // the next free slot
  size_t count_ = 0;     // values in the ring
  TaskQueue senders_;    // parked SendReq<T>, oldest first
  TaskQueue receivers_;  // parked RecvReq<T>, oldest first
  bool closed_ = false;
};

}  // namespace cmbench::uv
