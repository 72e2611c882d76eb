#pragma once
// The runtime's reactor (Go's netpoller): one epoll set, the fibers parked
// on descriptors, and the way other threads wake the thread that waits in it.
//
// Descriptors are registered edge-triggered (EPOLLET), once, at the first
// wait: a connection costs one epoll_ctl(ADD) for its lifetime rather than a
// MOD per wait (level-triggered with one-shot would need one per wait, plain
// level-triggered would report a ready descriptor on every poll until someone
// drains it). Edges are not lost: an edge that arrives while no fiber waits
// in that direction is remembered as a ready flag, which the next wait
// consumes by returning at once, so the caller retries its operation (at
// worst one spurious retry, as in Go). A waiter record lives on the parked
// fiber's own stack.
//
// An eventfd in the epoll set (level-triggered) lets another thread wake the
// thread blocked in epoll: in M:N mode a worker when an earlier timer is
// added or the run ends (kick()), and the offload pool when a call is done.
// Finished offloads wait in the inbox, a FIFO under its own lock, until the
// scheduler drains it; the pool writes the eventfd while it holds that lock,
// so the scheduler cannot drain the job, end and close the descriptor before
// the write is done. The eventfd and the inbox are made only when first
// needed (M:N mode, or the first offload).
//
// The reactor readies nothing itself: dispatch(), forget() and drain() hand
// the fibers to a function of the scheduler's (which queues them). It takes
// no lock of its own either, but the inbox's: in M:N mode the scheduler
// calls it under its lock.
#include <sys/epoll.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "models/fiber/spinlock.hpp"

namespace cmbench::fiber {

struct ControlBlock;
struct OffloadJob;

class Reactor {
 public:
  // A fiber parked on one direction of a descriptor.
  struct Waiter {
    ControlBlock* fiber;
    bool forgotten;  // woken by forget(): the descriptor is gone
  };

  Reactor() = default;
  ~Reactor();
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  // Makes the epoll set / the wake eventfd in it, if not made yet. Throw
  // SystemError.
  void open();
  void open_wake();
  bool has_wake() const noexcept { return wake_fd_ >= 0; }

  // --- descriptors (under the scheduler's lock in M:N mode) ---
  // Registers `fd` at its first wait. Returns true when an edge came in
  // that direction since the last wait (the flag is consumed: the caller
  // retries at once); else installs `w` and returns false. Throws
  // std::logic_error if a fiber already waits there, SystemError if epoll
  // refuses the descriptor.
  bool arm(int fd, bool write, Waiter* w);
  // An unwound waiter leaves its slot (if forget() or shutdown has not
  // emptied it already).
  void disarm(int fd, bool write, Waiter* w) noexcept;
  // Deregisters `fd` (epoll_ctl DEL) and hands its waiters, marked
  // forgotten, to ready(fiber). Throws SystemError if DEL fails otherwise
  // than for a descriptor closed already.
  template <typename Ready>
  void forget(int fd, Ready&& ready);
  // Fibers parked on descriptors.
  std::size_t waiters() const noexcept { return waiters_; }
  // At shutdown every parked fiber is unwound: none may stay a waiter.
  void drop_waiters() noexcept;

  // --- polling ---
  // One epoll wait of up to timeout_ns (< 0: no timeout, 0: none at all)
  // into `events` (sized on first use). Returns how many events came.
  int wait(std::vector<epoll_event>& events, int64_t timeout_ns) noexcept;
  // Hands the waiters of the descriptors in events[0, n) to ready(fiber),
  // and remembers edges nobody waited for. Returns true if the wake eventfd
  // was among them (it has been read: the caller should drain the inbox).
  template <typename Ready>
  bool dispatch(const std::vector<epoll_event>& events, int n, Ready&& ready);
  // Wakes the thread blocked in wait() (the wake eventfd must exist).
  void kick() noexcept;
  // Blocks until the wake eventfd is signalled, then resets it (shutdown).
  void wait_wake() noexcept;
  // Whether timeouts are in nanoseconds (epoll_pwait2), not milliseconds.
  bool precise_timeouts() const noexcept { return have_pwait2_.load(std::memory_order_relaxed); }

  // --- the inbox: finished offloads, from any thread ---
  // Appends `job`; the first job of a batch writes the eventfd.
  void post(OffloadJob* job) noexcept;
  // Takes every job posted so far, oldest first, and hands each to
  // take(job). Cheap when empty (one load).
  template <typename Take>
  void drain(Take&& take) noexcept;

 private:
  struct FdState {
    Waiter* reader = nullptr;
    Waiter* writer = nullptr;
    bool registered = false;
    bool read_ready = false;   // an edge came while nobody waited to read
    bool write_ready = false;  // the same for writing
  };
  OffloadJob* take_all() noexcept;
  static OffloadJob* next_of(OffloadJob* job) noexcept;
  void read_wake() noexcept;
  void deregister(int fd);

  int epfd_ = -1;
  int wake_fd_ = -1;
  std::atomic<bool> have_pwait2_{true};  // until the kernel says ENOSYS
  std::vector<FdState> fds_;  // indexed by descriptor
  std::size_t waiters_ = 0;

  SpinLock inbox_lock_;
  std::atomic<OffloadJob*> inbox_head_{nullptr};  // read without the lock as a hint
  OffloadJob* inbox_tail_ = nullptr;
};

// ---------------------------------------------------------------------------

template <typename Ready>
void Reactor::forget(int fd, Ready&& ready) {
  if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return;
  FdState& st = fds_[static_cast<std::size_t>(fd)];
  if (!st.registered) return;
  deregister(fd);
  for (Waiter* w : {st.reader, st.writer}) {
    if (!w) continue;
    w->forgotten = true;
    --waiters_;
    ready(w->fiber);
  }
  st = FdState{};
}

template <typename Ready>
bool Reactor::dispatch(const std::vector<epoll_event>& events, int n, Ready&& ready) {
  bool woken = false;
  for (int i = 0; i < n; ++i) {
    const epoll_event& e = events[static_cast<std::size_t>(i)];
    if (e.data.fd == wake_fd_ && wake_fd_ >= 0) {
      read_wake();
      woken = true;
      continue;
    }
    const uint32_t ev = e.events;
    FdState& st = fds_[static_cast<std::size_t>(e.data.fd)];
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
      if (Waiter* w = std::exchange(st.reader, nullptr)) {
        --waiters_;
        ready(w->fiber);
      } else {
        st.read_ready = true;
      }
    }
    if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
      if (Waiter* w = std::exchange(st.writer, nullptr)) {
        --waiters_;
        ready(w->fiber);
      } else {
        st.write_ready = true;
      }
    }
  }
  return woken;
}

template <typename Take>
void Reactor::drain(Take&& take) noexcept {
  if (!inbox_head_.load(std::memory_order_relaxed)) return;
  for (OffloadJob* job = take_all(); job;) {
    // Read before take(): the job's fiber may run (and end the frame the
    // job lives in) once it is queued.
    OffloadJob* next = next_of(job);
    take(job);
    job = next;
  }
}

}  // namespace cmbench::fiber
