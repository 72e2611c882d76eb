#pragma once
// The process model's primitives, in the style of fmt's os.h: small
// move-only RAII wrappers over pipes, forked children,
// shared mappings and a process-shared mutex. Setup failures throw
// SystemError or LimitError carrying errno (through throw_errno); EINTR is
// retried in exactly one place (retry_on_eintr); close() is never retried,
// because on Linux the descriptor is gone even when close() reports an error,
// and retrying could close a descriptor another thread just opened.
#include <pthread.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <exception>
#include <utility>
#include <vector>

#include "harness/cell/errors.hpp"
#include "harness/cell/fd.hpp"

namespace cmbench::models::process {

// Calls f() again for as long as it fails with EINTR (returns -1 and sets
// errno to EINTR). Every blocking system call of this model goes through it,
// so the retry policy lives in one place.
template <typename F>
auto retry_on_eintr(F&& f) {
  for (;;) {
    auto result = f();
    if (result != -1 || errno != EINTR) return result;
  }
}

// The owned descriptor of every primitive here is cmbench's one Fd
// (harness/cell/fd.hpp): its close() throws SystemError and is never retried.
using cmbench::Fd;

// Both ends of a pipe. Created with pipe2(O_CLOEXEC) so that nothing this
// suite might exec inherits them; forked children do inherit them (fork does
// not exec) and must close the ends they do not use.
struct Pipe {
  Fd read;
  Fd write;
};
Pipe make_pipe();

// Pipe buffer sizes (F_GETPIPE_SZ / F_SETPIPE_SZ). set_pipe_size returns the
// size the kernel chose (it rounds up to a power-of-two number of pages).
size_t pipe_size(const Fd& fd);
size_t set_pipe_size(const Fd& fd, size_t bytes);
// /proc/sys/fs/pipe-max-size: the largest buffer an unprivileged process may
// ask for. Root may exceed it, but the suite does not rely on that, so a
// result does not depend on who ran it. Throws SystemError if unreadable.
size_t pipe_max_size();

// How many records of `record_size` bytes (<= PIPE_BUF, each one write())
// a pipe buffer of `bytes` holds at the least, whatever the order of reads
// and writes. The kernel keeps a pipe as a ring of page-sized slots: a small
// write is appended to the newest page if it fits there and otherwise takes a
// fresh slot, and a slot is freed only once every byte in it has been read.
// So each page holds floor(page / record_size) records, and when the writer
// finds every slot taken, the oldest page may hold as little as one unread
// record: the guaranteed capacity is 1 + (slots - 1) * floor(page / record).
// (A 2-page pipe of 8-byte records holds between 513 and 1024 of them.)
size_t pipe_records_in(size_t bytes, size_t record_size);
// The buffer size to ask for so that at least `records` records fit: a
// power-of-two number of pages, as the kernel would round it anyway.
size_t pipe_bytes_for(size_t records, size_t record_size);
// The largest `records` that pipe_bytes_for() keeps within pipe_max_size().
size_t pipe_max_records(size_t record_size);

// Reads exactly n bytes, retrying short reads and EINTR. Returns false on EOF
// before the first byte (the writers are gone); throws SystemError on EOF in
// the middle, and SystemError/LimitError on any other failure.
bool read_exact(const Fd& fd, void* buf, size_t n);
// Writes all n bytes, retrying short writes and EINTR. A write of at most
// PIPE_BUF bytes to a blocking pipe is atomic: it is never split or
// interleaved with another writer's, so one call is one whole message.
void write_all(const Fd& fd, const void* buf, size_t n);

// The two halves of a rendezvous over pipes, the process model's unbuffered
// channel. A sender owns an acknowledgement pipe that only it reads; every
// receiver holds the write end of every sender's acknowledgement pipe.
// send_and_await_ack() writes one message of n <= PIPE_BUF bytes to the
// shared data pipe (one atomic write) and then blocks until one byte arrives
// on `ack`; a receiver calls acknowledge() on the sender's pipe only after it
// has read and taken the message. So when send_and_await_ack() returns, a
// receiver has the value, and a sender never has more than one message in the
// data pipe. Throws SystemError (EPIPE) if `ack` reaches end of file: every
// receiver is gone and the message will never be taken.
void send_and_await_ack(const Fd& data, const Fd& ack, const void* msg, size_t n);
// The receiver's half: one byte to the acknowledgement pipe of the sender
// whose message it has taken. It never blocks, because a sender waits for
// each acknowledgement before it sends again, so an acknowledgement pipe
// holds at most one byte.
void acknowledge(const Fd& ack);

namespace detail {
// Writes one line naming the child and the error to stderr with write(2)
// (no stdio: the parent's buffers must not be flushed twice) and _exit(1)s.
[[noreturn]] void child_failed(const char* what) noexcept;
}  // namespace detail

// Forks a child that runs f() and then _exit()s: the child never returns into
// the harness code that called us, runs no atexit handlers or static
// destructors, and does not flush stdio buffers it inherited from the parent.
// An exception escaping f() becomes one line on stderr and exit status 1,
// which reap() turns into a SystemError in the parent. fork failing with
// EAGAIN or ENOMEM (process limit, pid_max, memory) throws LimitError.
template <typename F>
pid_t fork_child(F&& f) {
  const pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork");
  if (pid == 0) {
    try {
      f();
    } catch (const std::exception& e) {
      detail::child_failed(e.what());
    } catch (...) {
      detail::child_failed("unknown exception");
    }
    ::_exit(0);
  }
  return pid;
}

// Waits for child `pid` (retrying EINTR) and throws SystemError if it exited
// with a non-zero status or was killed by a signal.
void reap(pid_t pid);

// The children of one run. It exists so that no unit outlives an error: if
// the run unwinds (a fork hit a limit, a child failed) before every child was
// reaped, the destructor SIGKILLs and reaps the rest.
class Children {
 public:
  // Reserves room for `expected` pids, so that spawning does not allocate
  // (an allocation failing after fork would lose track of a child).
  explicit Children(size_t expected) { pids_.reserve(expected); }
  Children(const Children&) = delete;
  Children& operator=(const Children&) = delete;
  ~Children();

  template <typename F>
  void spawn(F&& f) {
    if (pids_.size() == pids_.capacity()) pids_.reserve(pids_.size() * 2 + 1);
    pids_.push_back(fork_child(std::forward<F>(f)));
  }
  // Reaps every child, in the order they were spawned; throws on the first
  // that failed (the destructor then kills and reaps the rest).
  void reap_all();
  size_t size() const noexcept { return pids_.size(); }

 private:
  std::vector<pid_t> pids_;
  size_t reaped_ = 0;  // pids_[0, reaped_) are reaped
};

// An anonymous MAP_SHARED mapping: memory that forked children share with the
// parent (writes in one process are seen by all). Zero-filled and populated
// at creation (MAP_POPULATE), so first-touch page faults land in setup, not
// in the timed region.
class SharedMapping {
 public:
  explicit SharedMapping(size_t bytes);
  SharedMapping(SharedMapping&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  SharedMapping& operator=(SharedMapping&& other) noexcept;
  SharedMapping(const SharedMapping&) = delete;
  SharedMapping& operator=(const SharedMapping&) = delete;
  ~SharedMapping();

  void* data() const noexcept { return data_; }
  size_t size() const noexcept { return size_; }
  // The mapping at `offset` as a T (the caller constructs it there if T is
  // not an implicit-lifetime type).
  template <typename T>
  T* at(size_t offset = 0) const noexcept {
    return reinterpret_cast<T*>(static_cast<std::byte*>(data_) + offset);
  }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

// A pthread mutex with PTHREAD_PROCESS_SHARED, to be constructed inside a
// SharedMapping so that forked children lock the same mutex. It is the
// default (normal) type and not PTHREAD_MUTEX_ROBUST: a robust mutex adds
// bookkeeping to every lock and unlock (the kernel's robust list) that the
// thread model's std::mutex does not pay, and its benefit — recovering when
// a holder dies — does not arise here, because the critical sections cannot
// fail; a child killed from outside while holding it would make the others
// hang, which the harness's watchdog turns into a timeout. Satisfies
// Lockable, so std::lock_guard works.
class SharedMutex {
 public:
  SharedMutex();
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;
  ~SharedMutex();

  void lock() {
    if (int err = pthread_mutex_lock(&m_); err != 0) [[unlikely]]
      throw_errno("pthread_mutex_lock", err);
  }
  void unlock() {
    if (int err = pthread_mutex_unlock(&m_); err != 0) [[unlikely]]
      throw_errno("pthread_mutex_unlock", err);
  }

 private:
  pthread_mutex_t m_;
};

}  // namespace cmbench::models::process
