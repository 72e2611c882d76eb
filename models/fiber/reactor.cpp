#include "models/fiber/reactor.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include "harness/cell/errors.hpp"
#include "models/fiber/offload.hpp"

namespace cmbench::fiber {

namespace {
// A failing epoll_wait or eventfd read means the runtime's own descriptors
// are broken: nothing sensible can go on.
[[noreturn]] void reactor_failure(const char* call, int err) noexcept {
  std::fprintf(stderr, "cmbench::fiber: %s failed: %s (errno %d)\n", call, std::strerror(err), err);
  std::abort();
}
}  // namespace

Reactor::~Reactor() {
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (epfd_ >= 0) ::close(epfd_);
}

void Reactor::open() {
  if (epfd_ >= 0) return;
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) throw_errno("epoll_create1");
}

void Reactor::open_wake() {
  if (wake_fd_ >= 0) return;
  open();
  const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) throw_errno("eventfd");
  // Level-triggered: it is reported at every poll until a poll reads it.
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    const int err = errno;
    ::close(fd);
    throw_errno("epoll_ctl(eventfd)", err);
  }
  wake_fd_ = fd;
}

bool Reactor::arm(int fd, bool write, Waiter* w) {
  if (fd < 0) throw std::logic_error("cmbench::fiber: wait on a negative descriptor");
  const auto index = static_cast<std::size_t>(fd);
  if (index >= fds_.size()) fds_.resize(std::max(index + 1, 2 * fds_.size()));
  if (!fds_[index].registered) {
    open();
    // Both directions at once, so that a descriptor is added once in its
    // lifetime; an edge in a direction nobody waits for only sets a flag.
    // EPOLLRDHUP: a peer's shutdown wakes a reader (which then reads EOF).
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.fd = fd;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) throw_errno("epoll_ctl(EPOLL_CTL_ADD)");
    fds_[index].registered = true;
  }
  FdState& st = fds_[index];
  bool& ready = write ? st.write_ready : st.read_ready;
  if (ready) {
    ready = false;
    return true;
  }
  Waiter*& slot = write ? st.writer : st.reader;
  if (slot)
    throw std::logic_error(fmt::format(
        "cmbench::fiber: two fibers wait to {} descriptor {}", write ? "write" : "read", fd));
  slot = w;
  ++waiters_;
  return false;
}

void Reactor::disarm(int fd, bool write, Waiter* w) noexcept {
  // Looked up again: fds_ may have grown while the fiber waited.
  if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return;
  FdState& st = fds_[static_cast<std::size_t>(fd)];
  Waiter*& slot = write ? st.writer : st.reader;
  if (slot == w) {
    slot = nullptr;
    --waiters_;
  }
}

void Reactor::deregister(int fd) {
  // ENOENT/EBADF: the descriptor was closed already (which removed it).
  if (epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr) != 0 && errno != ENOENT && errno != EBADF)
    throw_errno("epoll_ctl(EPOLL_CTL_DEL)");
}

void Reactor::drop_waiters() noexcept {
  for (FdState& st : fds_) st.reader = st.writer = nullptr;
  waiters_ = 0;
}

int Reactor::wait(std::vector<epoll_event>& events, int64_t timeout_ns) noexcept {
  if (events.empty()) events.resize(128);
  int n = 0;
  bool pwait2 = have_pwait2_.load(std::memory_order_relaxed);
  if (pwait2) {
    timespec ts{static_cast<time_t>(timeout_ns / 1'000'000'000),
                static_cast<long>(timeout_ns % 1'000'000'000)};
    n = epoll_pwait2(epfd_, events.data(), static_cast<int>(events.size()),
                     timeout_ns < 0 ? nullptr : &ts, nullptr);
    if (n < 0 && errno == ENOSYS) {
      pwait2 = false;
      have_pwait2_.store(false, std::memory_order_relaxed);
    }
  }
  if (!pwait2) {
    // Milliseconds, rounded up so that a sleeper is never woken early.
    const int ms = timeout_ns < 0 ? -1 : static_cast<int>((timeout_ns + 999'999) / 1'000'000);
    n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), ms);
  }
  if (n < 0) {
    if (errno != EINTR) reactor_failure(pwait2 ? "epoll_pwait2" : "epoll_wait", errno);
    n = 0;
  }
  return n;
}

void Reactor::kick() noexcept {
  const uint64_t one = 1;
  if (::write(wake_fd_, &one, sizeof one) < 0) {
    // EAGAIN: the counter is full, so the waiter is being woken anyway.
  }
}

void Reactor::read_wake() noexcept {
  uint64_t count = 0;
  if (::read(wake_fd_, &count, sizeof count) < 0) {
    // EAGAIN: another worker read it already.
  }
}

void Reactor::wait_wake() noexcept {
  pollfd p{wake_fd_, POLLIN, 0};
  if (::poll(&p, 1, -1) < 0 && errno != EINTR) reactor_failure("poll(eventfd)", errno);
  read_wake();
}

void Reactor::post(OffloadJob* job) noexcept {
  inbox_lock_.lock();
  job->next = nullptr;
  OffloadJob* head = inbox_head_.load(std::memory_order_relaxed);
  if (head)
    inbox_tail_->next = job;
  else
    inbox_head_.store(job, std::memory_order_relaxed);
  inbox_tail_ = job;
  // Only the first job of a batch writes; the scheduler reads the eventfd
  // before it drains, so a later job either joins the batch it drains or
  // finds the inbox empty and writes again.
  if (!head) kick();
  inbox_lock_.unlock();
}

OffloadJob* Reactor::take_all() noexcept {
  inbox_lock_.lock();
  OffloadJob* head = inbox_head_.exchange(nullptr, std::memory_order_relaxed);
  inbox_tail_ = nullptr;
  inbox_lock_.unlock();
  return head;
}

OffloadJob* Reactor::next_of(OffloadJob* job) noexcept { return job->next; }

}  // namespace cmbench::fiber
