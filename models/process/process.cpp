#include "models/process/process.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <bit>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

namespace cmbench::models::process {

namespace {

size_t page_size() {
  static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

size_t records_per_page(size_t record_size) {
  if (record_size == 0 || record_size > PIPE_BUF || record_size > page_size())
    throw SystemError("pipe record of " + std::to_string(record_size) +
                          " bytes: records must be 1.." + std::to_string(PIPE_BUF) +
                          " bytes so that each write is atomic",
                      EINVAL);
  return page_size() / record_size;
}

}  // namespace

// --- pipes ---

Pipe make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2");
  return Pipe{Fd(fds[0]), Fd(fds[1])};
}

size_t pipe_size(const Fd& fd) {
  const int size = ::fcntl(fd.get(), F_GETPIPE_SZ);
  if (size < 0) throw_errno("fcntl(F_GETPIPE_SZ)");
  return static_cast<size_t>(size);
}

size_t set_pipe_size(const Fd& fd, size_t bytes) {
  const int size = ::fcntl(fd.get(), F_SETPIPE_SZ, static_cast<int>(bytes));
  if (size < 0) throw_errno("fcntl(F_SETPIPE_SZ, " + std::to_string(bytes) + ")");
  return static_cast<size_t>(size);
}

size_t pipe_max_size() {
  std::ifstream in("/proc/sys/fs/pipe-max-size");
  size_t bytes = 0;
  if (!(in >> bytes) || bytes == 0)
    throw SystemError("cannot read /proc/sys/fs/pipe-max-size", errno);
  return bytes;
}

size_t pipe_records_in(size_t bytes, size_t record_size) {
  const size_t per = records_per_page(record_size);
  const size_t slots = bytes / page_size();
  if (slots == 0) return 0;
  return 1 + (slots - 1) * per;
}

size_t pipe_bytes_for(size_t records, size_t record_size) {
  const size_t per = records_per_page(record_size);
  // Invert pipe_records_in(): 1 + (slots - 1) * per >= records.
  const size_t slots = records <= 1 ? 1 : 1 + (records - 1 + per - 1) / per;
  return std::bit_ceil(slots) * page_size();
}

size_t pipe_max_records(size_t record_size) {
  // The kernel rounds a requested size up to a power-of-two number of pages
  // and refuses (EPERM) a rounded size above pipe-max-size.
  const size_t slots = std::bit_floor(pipe_max_size() / page_size());
  return pipe_records_in(slots * page_size(), record_size);
}

bool read_exact(const Fd& fd, void* buf, size_t n) {
  auto* p = static_cast<std::byte*>(buf);
  size_t done = 0;
  while (done < n) {
    const ssize_t got = retry_on_eintr([&] { return ::read(fd.get(), p + done, n - done); });
    if (got < 0) throw_errno("read");
    if (got == 0) {
      if (done == 0) return false;
      throw SystemError("read: end of file after " + std::to_string(done) + " of " +
                            std::to_string(n) + " bytes of a record",
                        0);
    }
    done += static_cast<size_t>(got);
  }
  return true;
}

void write_all(const Fd& fd, const void* buf, size_t n) {
  const auto* p = static_cast<const std::byte*>(buf);
  size_t done = 0;
  while (done < n) {
    const ssize_t put = retry_on_eintr([&] { return ::write(fd.get(), p + done, n - done); });
    if (put < 0) throw_errno("write");
    done += static_cast<size_t>(put);
  }
}

void send_and_await_ack(const Fd& data, const Fd& ack, const void* msg, size_t n) {
  write_all(data, msg, n);
  char token;
  if (!read_exact(ack, &token, 1))
    throw SystemError("acknowledgement pipe closed before the message was taken: every "
                      "receiver is gone",
                      EPIPE);
}

void acknowledge(const Fd& ack) {
  const char token = 'a';
  write_all(ack, &token, 1);
}

// --- children ---

namespace detail {

void child_failed(const char* what) noexcept {
  // One line, assembled in a fixed buffer and written with one write(2):
  // stdio would share buffers with the parent, and allocating is pointless
  // when we are about to exit.
  char line[512];
  int len = std::snprintf(line, sizeof line, "cmbench: child %d failed: %s\n",
                          static_cast<int>(::getpid()), what);
  if (len < 0) len = 0;
  if (static_cast<size_t>(len) >= sizeof line) {
    len = sizeof line - 1;
    line[len - 1] = '\n';
  }
  [[maybe_unused]] ssize_t ignored = ::write(STDERR_FILENO, line, static_cast<size_t>(len));
  ::_exit(1);
}

}  // namespace detail

void reap(pid_t pid) {
  int status = 0;
  if (retry_on_eintr([&] { return ::waitpid(pid, &status, 0); }) < 0)
    throw_errno("waitpid(" + std::to_string(pid) + ")");
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  if (WIFEXITED(status))
    throw SystemError("child " + std::to_string(pid) + " exited with status " +
                          std::to_string(WEXITSTATUS(status)),
                      0);
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = sigdescr_np(sig);
    throw SystemError("child " + std::to_string(pid) + " was killed by signal " +
                          std::to_string(sig) + " (" + (name ? name : "unknown") + ")",
                      0);
  }
  throw SystemError("child " + std::to_string(pid) + " ended with wait status " +
                        std::to_string(status),
                    0);
}

Children::~Children() {
  // Only reached with children left when the run is unwinding: make sure
  // none of them outlives it. Errors are ignored; there is nothing left to do.
  for (size_t i = reaped_; i < pids_.size(); ++i) ::kill(pids_[i], SIGKILL);
  for (size_t i = reaped_; i < pids_.size(); ++i) {
    int status = 0;
    retry_on_eintr([&] { return ::waitpid(pids_[i], &status, 0); });
  }
}

void Children::reap_all() {
  while (reaped_ < pids_.size()) {
    // Counted as reaped before reap() can throw: waitpid has consumed the
    // child by then, and the destructor must not signal a recycled pid.
    const pid_t pid = pids_[reaped_++];
    reap(pid);
  }
}

// --- shared memory ---

SharedMapping::SharedMapping(size_t bytes) : size_(bytes == 0 ? 1 : bytes) {
  void* mem = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (mem == MAP_FAILED) throw_errno("mmap(MAP_SHARED | MAP_ANONYMOUS, " + std::to_string(size_) + ")");
  data_ = mem;
}

SharedMapping& SharedMapping::operator=(SharedMapping&& other) noexcept {
  if (this != &other) {
    if (data_) ::munmap(data_, size_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

SharedMapping::~SharedMapping() {
  if (data_) ::munmap(data_, size_);
}

SharedMutex::SharedMutex() {
  pthread_mutexattr_t attr;
  if (int err = pthread_mutexattr_init(&attr); err != 0) throw_errno("pthread_mutexattr_init", err);
  int err = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  if (err == 0) err = pthread_mutex_init(&m_, &attr);
  pthread_mutexattr_destroy(&attr);
  if (err != 0) throw_errno("pthread_mutex_init(PTHREAD_PROCESS_SHARED)", err);
}

SharedMutex::~SharedMutex() { pthread_mutex_destroy(&m_); }

}  // namespace cmbench::models::process
