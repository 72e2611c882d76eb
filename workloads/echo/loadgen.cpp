// The echo workload's load generator: the LoadGen handle the cell holds, and
// the generator process itself (`cmbench loadgen`). The contract is the
// comment in workloads/echo/spec.hpp; this file says how it is kept.
//
// The cell and the generator share three descriptors, which the generator
// finds at fixed numbers after exec:
//   3  a memfd holding LoadGenShared: the forks' start-up errors and the
//      generator's Result, written once when it is finished;
//   4  the write end of the "done" pipe: one byte after the Result is
//      written; its end of file (the generator died) wakes the cell too;
//   5  the read end of the "lifeline" pipe: only the cell holds the write
//      end, so end of file here means the cell is gone and the generator
//      quits without a report.
// A memfd rather than an anonymous shared mapping, because the mapping has to
// survive execve; a report in memory rather than through the pipe, so that
// the cell never reads a half-written one.
//
// The idle workload's mode (loop=idle, workloads/idle/spec.hpp) uses the same
// descriptors for two more signals: the generator writes one byte 'r'
// (kReadyByte) to "done" once all C connections are open and answered their
// first request, and the cell writes one byte 'g' (kGoByte) to the lifeline
// when the generator may start the trickle (after it has read its memory).
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "harness/cell/cpus.hpp"
#include "harness/cell/errors.hpp"
#include "harness/cell/fd.hpp"
#include "workloads/echo/spec.hpp"

namespace cmbench::echo {

namespace {

constexpr int kReportFd = 3;
constexpr int kDoneFd = 4;
constexpr int kLifelineFd = 5;
constexpr char kReadyByte = 'r';  // on "done": idle mode, every connection open
constexpr char kDoneByte = 'd';   // on "done": the report is written
constexpr char kGoByte = 'g';     // on the lifeline: idle mode, start the trickle
constexpr uint64_t kMagic = 0x316f686365626d63;  // "cmbecho1"
constexpr size_t kMaxSize = 65'536;              // the spec's largest `size`

// What the generator reports. It is built in the generator's own memory and
// copied into the mapping in one go before the done byte is written, so it is
// plain data (no pointers, trivially copyable) and complete when read.
struct Result {
  uint64_t magic;           // kMagic once written
  uint64_t connections;     // connections established
  uint64_t sent;            // requests whose sending began
  uint64_t completed;       // responses complete and equal to their request
  int32_t err;              // errno of the first error, 0 if there is none
  int32_t generator_limit;  // 1: the first error is the generator running out of a resource
  char error[512];          // the first error in words, empty if none
  uint64_t fd_limit;        // the generator's RLIMIT_NOFILE after raising it
  int64_t start_ns;         // before the first connect
  int64_t connected_ns;     // when the last of the C connections was established
  int64_t first_send_ns;    // when the first request was sent (closed) or due (open)
  int64_t end_ns;           // when the last response was complete
  double cpu_s;             // the generator's own CPU time, user + system
  Histogram hist;           // latency of every completed request
};
static_assert(std::is_trivially_copyable_v<Result>);

}  // namespace

namespace detail {
struct LoadGenShared {
  // Written by the cell's forks while starting the generator: its pid, and
  // the errno if the second fork or the exec failed.
  int32_t pid;
  int32_t fork_errno;
  int32_t exec_errno;
  Result result;
};
}  // namespace detail

namespace {

using detail::LoadGenShared;

std::atomic<uint16_t> g_last_port{0};

// SplitMix64's finaliser: a cheap bijective mix, so neighbouring requests
// and offsets get unrelated bytes.
inline uint64_t mix(uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
  x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
  return x ^ (x >> 31);
}

// Bytes [offset, offset + n) of request k (the k-th of the run), into out.
// Byte b is byte b % 8 of mix(k * 2^16 + b / 8): every request of the run has
// its own content, so a response delivered to the wrong connection, a stale
// one or a reordered one differs from what is expected.
void pattern(uint64_t k, size_t offset, uint8_t* out, size_t n) noexcept {
  size_t o = offset;
  const size_t end = offset + n;
  while (o < end) {
    const uint64_t w = mix((k << 16) + o / 8);
    const size_t b = o % 8;
    const size_t take = std::min<size_t>(8 - b, end - o);
    for (size_t i = 0; i < take; ++i) out[o - offset + i] = static_cast<uint8_t>(w >> (8 * (b + i)));
    o += take;
  }
}

bool is_generator_limit(int err) noexcept {
  // EADDRNOTAVAIL: no ephemeral port left for one more connection to the port.
  return is_limit_errno(err) || err == EADDRNOTAVAIL;
}

struct Config {
  uint16_t port = 0;
  uint64_t connections = 0;
  uint64_t requests = 0;
  size_t size = 0;
  bool open = false;
  // loop=idle: C connections opened at most kOpenWindow at a time, each
  // sending one first request (closed loop, not timed); `trickle` more per
  // connection afterwards, on the open-loop schedule, once the cell says go.
  bool idle = false;
  uint64_t trickle = 0;
  uint64_t rate = 0;
  int64_t deadline_s = kDeadlineSeconds;
};

// Connections opened and not yet answered their first request, at most, in
// the idle mode: fewer than the listen backlog (somaxconn is often 4096), so
// that the server's accept queue never overflows and no SYN is dropped and
// retried a second later; the server accepts as fast as it can either way.
constexpr uint64_t kOpenWindow = 512;
// Connections per source address. One source address and one server port
// allow one connection per ephemeral port (net.ipv4.ip_local_port_range:
// 28,232 by default), so beyond this many the generator binds each
// connection to the next loopback address, 127.0.0.2, 127.0.0.3, ...
// (IP_BIND_ADDRESS_NO_PORT: the port is still chosen at connect()).
constexpr uint64_t kConnsPerSource = 16384;

// The generator proper: one thread, one epoll instance, level-triggered.
class Generator {
 public:
  Generator(const Config& cfg, Result& res) : cfg_(cfg), res_(res), conns_(cfg.connections) {}
  ~Generator() {
    if (epfd_ >= 0) ::close(epfd_);
  }
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;

  // Returns false when the cell went away (no report wanted).
  bool run();
  // The idle mode's ready signal was written (for the report).
  bool ready_sent() const noexcept { return ready_sent_; }

 private:
  struct Conn {
    Fd fd;
    bool connected = false;
    bool busy = false;      // a request is outstanding (being written or answered)
    bool want_out = false;  // EPOLLOUT is registered
    uint64_t total = 0;     // requests this connection sends
    uint64_t next = 0;      // the request outstanding, or the next to send
    size_t wpos = 0;        // bytes of it written
    size_t rpos = 0;        // bytes of its response read
    int64_t base_ns = 0;    // its latency is measured from here: sent (closed) or due (open)
  };
  static constexpr uint64_t kLifelineTag = UINT64_MAX;

  uint64_t k_of(uint64_t j, uint64_t i) const noexcept { return i * cfg_.connections + j; }
  // The open-loop schedule (schedule_offset_ns, spec.hpp).
  int64_t due_ns(uint64_t k) const noexcept { return t0_ + schedule_offset_ns(k, schedule_base_, cfg_.rate); }

  void fail(int err, bool limit, std::string what);
  void fail_call(const char* call, uint64_t j, int err);
  bool open_connections();
  bool open_one(uint64_t j);
  void open_more();
  void hello_done(uint64_t j);
  void start_schedule(int64_t now);
  bool on_lifeline();
  void on_event(uint64_t j, uint32_t events);
  void on_connected(uint64_t j);
  void on_readable(uint64_t j);
  void send_request(uint64_t j, int64_t base_ns);
  void write_some(uint64_t j);
  void complete(uint64_t j);
  void set_want_out(uint64_t j, bool on);
  void send_due(int64_t now);
  void close_conn(Conn& c) { c.fd.reset(); }
  void close_all() {
    for (auto& c : conns_) close_conn(c);
  }

  const Config cfg_;
  Result& res_;
  std::vector<Conn> conns_;
  int epfd_ = -1;
  bool stopped_ = false;
  bool cell_gone_ = false;
  uint64_t connected_ = 0;
  uint64_t finished_ = 0;  // connections that sent and got back all their requests
  bool schedule_started_ = false;
  int64_t t0_ = 0;       // open loop: the schedule's origin
  uint64_t cursor_ = 0;  // open loop: the first request of the run not yet due
  uint64_t schedule_base_ = 0;  // open loop: the first request on the schedule
  // The idle mode.
  uint64_t opened_ = 0;    // connections whose socket was made
  uint64_t opening_ = 0;   // ... and whose first request is not answered yet
  uint64_t helloed_ = 0;   // connections whose first request was answered
  bool ready_sent_ = false;

  // One thread, so one set of buffers serves every connection.
  static uint8_t wbuf_[kMaxSize];
  static uint8_t rbuf_[kMaxSize];
  static uint8_t ebuf_[kMaxSize];
};

uint8_t Generator::wbuf_[kMaxSize];
uint8_t Generator::rbuf_[kMaxSize];
uint8_t Generator::ebuf_[kMaxSize];

void Generator::fail(int err, bool limit, std::string what) {
  if (stopped_) return;
  stopped_ = true;
  res_.err = err;
  res_.generator_limit = limit ? 1 : 0;
  const size_t n = std::min(what.size(), sizeof res_.error - 1);
  std::memcpy(res_.error, what.data(), n);
  res_.error[n] = '\0';
}

void Generator::fail_call(const char* call, uint64_t j, int err) {
  fail(err, false,
       fmt::format("{} (connection {} of {} to 127.0.0.1:{}, after {} of its {} responses): {}", call,
                   j, cfg_.connections, cfg_.port, conns_[j].next, conns_[j].total,
                   std::strerror(err)));
}

bool Generator::open_connections() {
  if (cfg_.idle) {
    open_more();
    return !stopped_;
  }
  for (uint64_t j = 0; j < cfg_.connections; ++j)
    if (!open_one(j)) return false;
  return true;
}

// Idle mode: opens connections while fewer than kOpenWindow are opening.
void Generator::open_more() {
  while (!stopped_ && opening_ < kOpenWindow && opened_ < cfg_.connections) {
    ++opening_;
    if (!open_one(opened_++)) return;
  }
}

bool Generator::open_one(uint64_t j) {
  Conn& c = conns_[j];
  c.total = cfg_.idle ? 1 + cfg_.trickle : requests_of(cfg_.requests, cfg_.connections, j);
  c.fd.reset(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!c.fd) {
    const int err = errno;
    // Out of descriptors, perhaps: give them back before doing anything
    // else (the sanitizers, for one, need a pipe to check memory).
    close_all();
    fail(err, is_generator_limit(err),
         fmt::format("socket (connection {} of {}): {}", j, cfg_.connections, std::strerror(err)));
    return false;
  }
  const int one = 1;
  if (::setsockopt(c.fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
    fail_call("setsockopt(TCP_NODELAY)", j, errno);
    return false;
  }
  if (cfg_.connections > kConnsPerSource) {
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + static_cast<uint32_t>(j / kConnsPerSource));
    if (::setsockopt(c.fd.get(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) != 0 ||
        ::bind(c.fd.get(), reinterpret_cast<const sockaddr*>(&src), sizeof src) != 0) {
      const int err = errno;
      fail(err, is_generator_limit(err),
           fmt::format("bind to source 127.0.0.{} (connection {} of {}): {}", 1 + j / kConnsPerSource, j,
                       cfg_.connections, std::strerror(err)));
      return false;
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(cfg_.port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(c.fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 &&
      errno != EINPROGRESS) {
    const int err = errno;
    fail(err, is_generator_limit(err),
         fmt::format("connect to 127.0.0.1:{} (connection {} of {}): {}", cfg_.port, j,
                     cfg_.connections, std::strerror(err)));
    return false;
  }
  // Writable once the handshake completed (or failed: SO_ERROR says).
  epoll_event ev{};
  ev.events = EPOLLOUT;
  ev.data.u64 = j;
  c.want_out = true;
  if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, c.fd.get(), &ev) != 0) {
    const int err = errno;
    fail(err, is_generator_limit(err),
         fmt::format("epoll_ctl(ADD, connection {}): {}", j, std::strerror(err)));
    return false;
  }
  return true;
}

// Idle mode: connection j's first request was answered. Once every
// connection's was, the cell is told (kReadyByte on "done").
void Generator::hello_done(uint64_t j) {
  (void)j;
  --opening_;
  ++helloed_;
  if (helloed_ < cfg_.connections) {
    open_more();
    return;
  }
  res_.connected_ns = now_ns();
  const char ready = kReadyByte;
  ssize_t w;
  do {
    w = ::write(kDoneFd, &ready, 1);
  } while (w < 0 && errno == EINTR);
  if (w != 1) {
    // The cell is gone (EPIPE): nobody will say go.
    cell_gone_ = true;
    stopped_ = true;
    return;
  }
  ready_sent_ = true;
}

void Generator::start_schedule(int64_t now) {
  t0_ = now;
  res_.first_send_ns = now;
  schedule_started_ = true;
  send_due(now);
}

// The lifeline is readable: end of file (the cell is gone), or in the idle
// mode the cell's go. Returns false when the cell is gone.
bool Generator::on_lifeline() {
  char b = 0;
  ssize_t n;
  do {
    n = ::read(kLifelineFd, &b, 1);
  } while (n < 0 && errno == EINTR);
  if (n == 1) {
    // Only the idle mode's go is ever written; it comes after the ready.
    if (cfg_.idle && b == kGoByte && ready_sent_ && !schedule_started_) start_schedule(now_ns());
    return true;
  }
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void Generator::set_want_out(uint64_t j, bool on) {
  Conn& c = conns_[j];
  if (c.want_out == on) return;
  epoll_event ev{};
  ev.events = EPOLLIN | (on ? EPOLLOUT : 0u);
  ev.data.u64 = j;
  if (::epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd.get(), &ev) != 0) {
    fail_call("epoll_ctl(MOD)", j, errno);
    return;
  }
  c.want_out = on;
}

void Generator::on_connected(uint64_t j) {
  Conn& c = conns_[j];
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(c.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) {
    fail(err, is_generator_limit(err),
         fmt::format("connect to 127.0.0.1:{} (connection {} of {}, {} established): {}", cfg_.port,
                     j, cfg_.connections, connected_, std::strerror(err)));
    return;
  }
  c.connected = true;
  ++connected_;
  res_.connections = connected_;
  set_want_out(j, false);
  if (stopped_) return;
  const int64_t now = now_ns();
  if (connected_ == cfg_.connections) res_.connected_ns = now;
  if (c.total == 0) {
    close_conn(c);
    ++finished_;
  } else if (cfg_.idle) {
    send_request(j, now);  // its first request: answered before the trickle, not timed
  } else if (!cfg_.open) {
    if (res_.first_send_ns == 0) res_.first_send_ns = now;
    send_request(j, now);
  } else if (connected_ == cfg_.connections) {
    start_schedule(now);
  }
}

void Generator::send_request(uint64_t j, int64_t base_ns) {
  Conn& c = conns_[j];
  c.busy = true;
  c.wpos = 0;
  c.rpos = 0;
  c.base_ns = base_ns;
  ++res_.sent;
  write_some(j);
}

void Generator::write_some(uint64_t j) {
  Conn& c = conns_[j];
  const size_t n = cfg_.size - c.wpos;
  pattern(k_of(j, c.next), c.wpos, wbuf_, n);
  ssize_t w;
  do {
    w = ::send(c.fd.get(), wbuf_, n, MSG_NOSIGNAL);
  } while (w < 0 && errno == EINTR);
  if (w < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      set_want_out(j, true);
      return;
    }
    fail_call("send", j, errno);
    return;
  }
  c.wpos += static_cast<size_t>(w);
  set_want_out(j, c.wpos < cfg_.size);
}

void Generator::on_readable(uint64_t j) {
  Conn& c = conns_[j];
  if (!c.busy) {
    // Nothing is outstanding: a byte or an end of file here is the server's doing.
    uint8_t b;
    ssize_t n;
    do {
      n = ::recv(c.fd.get(), &b, 1, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0) {
      fail_call("recv", j, errno);
    } else if (n == 0) {
      fail(0, false,
           fmt::format("connection {} of {} was closed by the server after {} of its {} responses",
                       j, cfg_.connections, c.next, c.total));
    } else {
      fail(0, false,
           fmt::format("connection {} of {} received a byte while no request was outstanding "
                       "(after {} of its {} responses)",
                       j, cfg_.connections, c.next, c.total));
    }
    return;
  }
  ssize_t n;
  do {
    n = ::recv(c.fd.get(), rbuf_, cfg_.size - c.rpos, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    fail_call("recv", j, errno);
    return;
  }
  if (n == 0) {
    fail(0, false,
         fmt::format("connection {} of {} was closed by the server with request {} outstanding "
                     "({} of its {} bytes answered; {} of its {} responses complete)",
                     j, cfg_.connections, c.next, c.rpos, cfg_.size, c.next, c.total));
    return;
  }
  const size_t got = static_cast<size_t>(n);
  if (c.rpos + got > c.wpos) {
    fail(0, false,
         fmt::format("connection {} of {}: the server sent {} bytes of request {} but only {} were "
                     "sent",
                     j, cfg_.connections, c.rpos + got, c.next, c.wpos));
    return;
  }
  pattern(k_of(j, c.next), c.rpos, ebuf_, got);
  if (std::memcmp(rbuf_, ebuf_, got) != 0) {
    size_t at = 0;
    while (rbuf_[at] == ebuf_[at]) ++at;
    fail(0, false,
         fmt::format("connection {} of {}: byte {} of the response to its request {} is {:#04x}, "
                     "expected {:#04x}",
                     j, cfg_.connections, c.rpos + at, c.next, rbuf_[at], ebuf_[at]));
    return;
  }
  c.rpos += got;
  if (c.rpos == cfg_.size) complete(j);
}

void Generator::complete(uint64_t j) {
  Conn& c = conns_[j];
  const int64_t now = now_ns();
  const bool hello = cfg_.idle && c.next == 0;
  if (!hello) res_.hist.record(static_cast<uint64_t>(std::max<int64_t>(0, now - c.base_ns)));
  ++res_.completed;
  res_.end_ns = now;
  c.busy = false;
  ++c.next;
  if (hello) {
    if (c.next == c.total) {
      close_conn(c);
      ++finished_;
    }
    hello_done(j);
    return;
  }
  if (c.next == c.total) {
    // Its unit in the server sees end of file and ends.
    close_conn(c);
    ++finished_;
    return;
  }
  if (!cfg_.open && !cfg_.idle) {
    send_request(j, now);
  } else if (const int64_t due = due_ns(k_of(j, c.next)); due <= now) {
    // Late: it was due while the previous response was outstanding.
    send_request(j, due);
  }
  // Otherwise send_due() sends it when it falls due.
}

// Open loop: sends every request that has fallen due on a connection that is
// idle. A due request whose connection is busy is sent by complete().
void Generator::send_due(int64_t now) {
  const uint64_t total = cfg_.idle ? cfg_.connections * (1 + cfg_.trickle) : cfg_.requests;
  while (cursor_ < total && !stopped_) {
    const int64_t due = due_ns(cursor_);
    if (due > now) break;
    const uint64_t j = cursor_ % cfg_.connections;
    const uint64_t i = cursor_ / cfg_.connections;
    Conn& c = conns_[j];
    if (c.fd && !c.busy && c.next == i) send_request(j, due);
    ++cursor_;
  }
}

void Generator::on_event(uint64_t j, uint32_t events) {
  Conn& c = conns_[j];
  if (!c.fd) return;
  if (!c.connected) {
    on_connected(j);
    return;
  }
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(j);
  if (!stopped_ && c.fd && (events & EPOLLOUT) && c.busy && c.wpos < cfg_.size) write_some(j);
}

bool Generator::run() {
  res_.start_ns = now_ns();
  const int64_t deadline = res_.start_ns + cfg_.deadline_s * 1'000'000'000;
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) {
    const int err = errno;
    fail(err, is_generator_limit(err), fmt::format("epoll_create1: {}", std::strerror(err)));
    return true;
  }
  epoll_event lev{};
  lev.events = EPOLLIN;
  lev.data.u64 = kLifelineTag;
  if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, kLifelineFd, &lev) != 0) {
    fail(errno, false, fmt::format("epoll_ctl(ADD, lifeline): {}", std::strerror(errno)));
    return true;
  }
  if (cfg_.idle) {
    schedule_base_ = cfg_.connections;
    cursor_ = cfg_.connections;
  }
  if (!open_connections()) return !cell_gone_;

  constexpr int kEvents = 256;
  epoll_event events[kEvents];
  while (!stopped_ && finished_ < cfg_.connections) {
    int64_t now = now_ns();
    if (schedule_started_) {
      send_due(now);
      if (stopped_) break;
    }
    if (now >= deadline) {
      fail(ETIMEDOUT, false,
           fmt::format("gave up after the generator's deadline of {} s: {} of {} responses "
                       "complete, {} of {} connections established",
                       cfg_.deadline_s, res_.completed, cfg_.requests, connected_,
                       cfg_.connections));
      break;
    }
    int64_t until = deadline;
    const uint64_t scheduled = cfg_.idle ? cfg_.connections * (1 + cfg_.trickle) : cfg_.requests;
    if (schedule_started_ && cursor_ < scheduled) until = std::min(until, due_ns(cursor_));
    const int64_t wait = std::max<int64_t>(0, until - now);
    timespec ts{static_cast<time_t>(wait / 1'000'000'000), static_cast<long>(wait % 1'000'000'000)};
    const int n = ::epoll_pwait2(epfd_, events, kEvents, &ts, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(errno, false, fmt::format("epoll_pwait2: {}", std::strerror(errno)));
      break;
    }
    for (int e = 0; e < n && !stopped_; ++e) {
      if (events[e].data.u64 == kLifelineTag) {
        if (on_lifeline()) continue;
        cell_gone_ = true;
        stopped_ = true;
        break;
      }
      on_event(events[e].data.u64, events[e].events);
    }
  }
  // Every connection is closed before the report, so the server's units are
  // already ending when the cell learns the generator is done.
  close_all();
  return !cell_gone_;
}

// key=value arguments after "loadgen".
bool parse_args(int argc, char** argv, Config& cfg, std::string& error) {
  std::map<std::string, std::string> kv;
  for (int i = 2; i < argc; ++i) {
    std::string_view a = argv[i];
    const auto eq = a.find('=');
    if (eq == std::string_view::npos) {
      error = fmt::format("argument '{}' is not key=value", a);
      return false;
    }
    kv[std::string(a.substr(0, eq))] = std::string(a.substr(eq + 1));
  }
  auto num = [&](const char* key, uint64_t lo, uint64_t hi, uint64_t& out) {
    auto it = kv.find(key);
    if (it == kv.end()) {
      error = fmt::format("missing {}=", key);
      return false;
    }
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(it->second.c_str(), &end, 10);
    if (errno != 0 || end == it->second.c_str() || *end != '\0' || v < lo || v > hi) {
      error = fmt::format("{}={} is not in {}..{}", key, it->second, lo, hi);
      return false;
    }
    out = v;
    return true;
  };
  uint64_t port = 0, size = 0, deadline = kDeadlineSeconds;
  if (!num("port", 1, 65535, port) || !num("connections", 1, 10'000'000, cfg.connections) ||
      !num("requests", 0, UINT64_MAX / 2, cfg.requests) || !num("size", 1, kMaxSize, size) ||
      !num("rate", 1, 1'000'000'000, cfg.rate))
    return false;
  if (kv.count("deadline_s") && !num("deadline_s", 1, kDeadlineSeconds, deadline)) return false;
  const std::string loop = kv.count("loop") ? kv["loop"] : "";
  if (loop != "closed" && loop != "open" && loop != "idle") {
    error = fmt::format("loop={} is not closed, open or idle", loop);
    return false;
  }
  if (loop == "idle" && !num("trickle", 0, 1'000'000, cfg.trickle)) return false;
  cfg.port = static_cast<uint16_t>(port);
  cfg.size = size;
  cfg.open = loop == "open";
  cfg.idle = loop == "idle";
  cfg.deadline_s = static_cast<int64_t>(deadline);
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------
// The generator process.

int loadgen_main(int argc, char** argv) {
  Config cfg;
  std::string error;
  if (!parse_args(argc, argv, cfg, error)) {
    fmt::print(stderr, "cmbench loadgen: {} (an internal command: the echo workload runs it)\n",
               error);
    return 2;
  }
  struct stat st {};
  if (::fstat(kReportFd, &st) != 0 || static_cast<size_t>(st.st_size) < sizeof(LoadGenShared) ||
      ::fcntl(kDoneFd, F_GETFD) < 0 || ::fcntl(kLifelineFd, F_GETFD) < 0) {
    fmt::print(stderr, "cmbench loadgen: descriptors 3 (report), 4 (done) and 5 (lifeline) must be "
                       "open (an internal command: the echo workload runs it)\n");
    return 2;
  }
  void* mem = ::mmap(nullptr, sizeof(LoadGenShared), PROT_READ | PROT_WRITE, MAP_SHARED, kReportFd, 0);
  if (mem == MAP_FAILED) {
    fmt::print(stderr, "cmbench loadgen: mmap of the report: {}\n", std::strerror(errno));
    return 2;
  }
  auto* shared = static_cast<LoadGenShared*>(mem);
  // Writes to a socket the server closed fail with EPIPE (send uses
  // MSG_NOSIGNAL); so must the done byte if the cell is gone.
  ::signal(SIGPIPE, SIG_IGN);

  static Result res;  // 40 KiB: not on the stack
  res = Result{};
  bool report = true;
  // Off the pinned cell's CPU, before the first connection
  // (harness/cell/cpus.hpp). A move that fails is the run's error.
  try {
    if (const CpuMove move = apply_load_generator_cpus(); !move.error.empty()) {
      std::snprintf(res.error, sizeof res.error, "%s", move.error.c_str());
      res.err = move.err;
    } else {
      res.fd_limit = raise_fd_limit(cfg.connections);
      Generator gen(cfg, res);
      report = gen.run();
    }
  } catch (const std::exception& e) {
    // Only allocation can throw once the generator runs (its C connection
    // records, a message): the generator itself ran out.
    if (res.error[0] == '\0') {
      const std::string what = fmt::format("load generator: {}", e.what());
      std::snprintf(res.error, sizeof res.error, "%s", what.c_str());
      res.err = ENOMEM;
      res.generator_limit = 1;
    }
  }
  if (!report) return 3;  // the cell is gone: nobody would read it
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  res.cpu_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
              static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  res.magic = kMagic;
  std::memcpy(&shared->result, &res, sizeof res);
  const char done = kDoneByte;
  ssize_t w;
  do {
    w = ::write(kDoneFd, &done, 1);
  } while (w < 0 && errno == EINTR);
  return 0;
}

// ---------------------------------------------------------------------------
// The cell's handle.

uint16_t LoadGen::last_port() { return g_last_port.load(); }

namespace {

LoadSpec echo_load(const Params& params) {
  return {params.u("connections"), params.u("requests"), params.u("size"), params.s("loop"),
          params.u("rate"), 0};
}

}  // namespace

LoadGen::LoadGen(const Params& params, uint16_t port) : LoadGen(echo_load(params), port) {}

LoadGen::LoadGen(const LoadSpec& spec, uint16_t port)
    : requests_(spec.requests), exe_(self_exe()), loop_(spec.loop), connections_(spec.connections) {
  g_last_port.store(port);
  if (const char* cpus = std::getenv(kLoadGenCpusEnv)) cpus_ = cpus;
  // Everything the children need is prepared here: between fork and exec
  // they only make system calls.
  std::vector<std::string> args = {
      exe_,
      "loadgen",
      fmt::format("port={}", port),
      fmt::format("connections={}", spec.connections),
      fmt::format("requests={}", spec.requests),
      fmt::format("size={}", spec.size),
      fmt::format("loop={}", spec.loop),
      fmt::format("rate={}", spec.rate),
      fmt::format("deadline_s={}", kDeadlineSeconds),
  };
  if (spec.loop == "idle") args.push_back(fmt::format("trickle={}", spec.trickle));
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  Fd report(::memfd_create("cmbench-loadgen-report", MFD_CLOEXEC));
  if (!report) throw_errno("memfd_create (load generator report)");
  if (::ftruncate(report.get(), sizeof(LoadGenShared)) != 0)
    throw_errno("ftruncate (load generator report)");
  void* mem = ::mmap(nullptr, sizeof(LoadGenShared), PROT_READ | PROT_WRITE, MAP_SHARED, report.get(), 0);
  if (mem == MAP_FAILED) throw_errno("mmap (load generator report)");
  shared_ = new (mem) LoadGenShared{};
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    const int err = errno;
    ::munmap(shared_, sizeof(LoadGenShared));
    throw_errno("pipe2 (load generator done)", err);
  }
  Fd done_r(p[0]), done_w(p[1]);
  if (::pipe2(p, O_CLOEXEC) != 0) {
    const int err = errno;
    ::munmap(shared_, sizeof(LoadGenShared));
    throw_errno("pipe2 (load generator lifeline)", err);
  }
  Fd life_r(p[0]), life_w(p[1]);

  LoadGenShared* shared = shared_;
  const pid_t mid = ::fork();
  if (mid == 0) {
    // The intermediate child: forks the generator and exits at once, so the
    // generator is re-parented away from the cell.
    const pid_t gen = ::fork();
    if (gen < 0) {
      shared->fork_errno = errno;
      ::_exit(1);
    }
    if (gen == 0) {
      // The generator: its own session (out of the cell's process group),
      // nothing blocked, descriptors 3, 4 and 5 and the standard ones only.
      ::setsid();
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      const int a = ::fcntl(report.get(), F_DUPFD, 10);
      const int b = ::fcntl(done_w.get(), F_DUPFD, 10);
      const int c = ::fcntl(life_r.get(), F_DUPFD, 10);
      if (a < 0 || b < 0 || c < 0 || ::dup2(a, kReportFd) < 0 || ::dup2(b, kDoneFd) < 0 ||
          ::dup2(c, kLifelineFd) < 0) {
        shared->exec_errno = errno;
        ::_exit(127);
      }
      ::close_range(kLifelineFd + 1, ~0U, 0);
      // The cell's own image, even if its file was rebuilt since the run
      // started (exe_ is argv[0], for ps and the messages).
      ::execv("/proc/self/exe", argv.data());
      shared->exec_errno = errno;
      ::_exit(127);
    }
    shared->pid = gen;
    ::_exit(0);
  }
  if (mid < 0) {
    const int err = errno;
    ::munmap(shared_, sizeof(LoadGenShared));
    throw_errno("fork (load generator)", err);
  }
  // Only the generator writes "done" and reads the lifeline: with our copies
  // closed, its exit is an end of file on done_fd and our exit one on its
  // lifeline.
  done_w.reset();
  life_r.reset();
  int status = 0;
  while (::wait4(mid, &status, 0, &fork_usage_) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    const int err = shared_->fork_errno != 0 ? shared_->fork_errno : ECHILD;
    ::munmap(shared_, sizeof(LoadGenShared));
    throw_errno("fork (load generator)", err);
  }
  pid_ = shared_->pid;
  // The generator is not our child, so it could in principle exit, be reaped
  // by whoever adopted it and its pid be reused before this line; it is in
  // the middle of execve, so that does not happen in practice, and the pidfd
  // makes every later signal go to the right process.
  pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  done_fd_ = done_r.release();
  lifeline_fd_ = life_w.release();
}

LoadGen::~LoadGen() {
  if (!finished_) {
    if (pidfd_ >= 0) {
      ::syscall(SYS_pidfd_send_signal, pidfd_, SIGKILL, nullptr, 0);
    } else if (pid_ > 0) {
      pollfd d{done_fd_, POLLIN, 0};
      if (::poll(&d, 1, 0) == 0) ::kill(pid_, SIGKILL);  // still running, as far as we know
    }
  }
  if (pidfd_ >= 0) {
    // A pidfd polls readable once the process has exited. After a report
    // that is a matter of microseconds; the bound is for a generator stuck
    // in the kernel.
    pollfd p{pidfd_, POLLIN, 0};
    if (::poll(&p, 1, 2000) == 0) {
      ::syscall(SYS_pidfd_send_signal, pidfd_, SIGKILL, nullptr, 0);
      ::poll(&p, 1, 2000);
    }
    ::close(pidfd_);
  }
  if (done_fd_ >= 0) ::close(done_fd_);
  if (lifeline_fd_ >= 0) ::close(lifeline_fd_);
  if (shared_) ::munmap(shared_, sizeof(detail::LoadGenShared));
}

void LoadGen::wait() const {
  pollfd d{done_fd_, POLLIN, 0};
  while (::poll(&d, 1, -1) < 0 && errno == EINTR) {
  }
}

LoadGen::Signal LoadGen::next_signal() {
  if (done_seen_) return Signal::done;
  pollfd d{done_fd_, POLLIN, 0};
  if (::poll(&d, 1, 0) <= 0) return Signal::none;
  char b = 0;
  ssize_t n;
  do {
    n = ::read(done_fd_, &b, 1);
  } while (n < 0 && errno == EINTR);
  if (n == 1 && b == kReadyByte) return Signal::ready;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Signal::none;
  done_seen_ = true;  // the done byte, or end of file: the generator is gone
  return Signal::done;
}

void LoadGen::go() {
  const char g = kGoByte;
  ssize_t w;
  do {
    w = ::write(lifeline_fd_, &g, 1);
  } while (w < 0 && errno == EINTR);
  if (w != 1) throw_errno("write (load generator go)");
}

Verdict LoadGen::finish(Probe& probe) {
  if (!done_seen_) wait();
  finished_ = true;
  probe.exclude_child_usage(fork_usage_);
  // An exec that failed for lack of a resource (EMFILE under a low
  // RLIMIT_NOFILE, ENOMEM) is a limit like any other.
  if (const int err = shared_->exec_errno; err != 0)
    throw_errno(fmt::format("execv {} loadgen (the echo load generator)", exe_), err);
  // Read in place (the generator has stopped writing): a 40 KiB copy could
  // overflow a small fiber stack.
  const Result& r = shared_->result;
  if (r.magic != kMagic)
    throw SystemError(fmt::format("the echo load generator (pid {}, {} loadgen) ended without a "
                                  "report: it was killed, or this executable lacks the hidden "
                                  "loadgen command (workloads/echo/spec.hpp)",
                                  pid_, exe_),
                      0);
  if (r.err != 0 && r.generator_limit)
    throw LimitError(fmt::format("load generator: {}", r.error), r.err);

  probe.latency_histograms(1)[0] = r.hist;
  const bool idle = loop_ == "idle";
  // The idle mode's first requests are not operations: only the trickle is.
  probe.set_operations(idle ? (r.completed > connections_ ? r.completed - connections_ : 0) : r.completed);
  probe.note("load_generator",
             idle ? fmt::format(
                        "cmbench loadgen: a separate process (not the cell's descendant), one "
                        "thread, epoll; idle: connections opened at most {} at a time, each "
                        "answering one untimed first request; after the cell's go, the trickle: "
                        "requests due at a fixed total rate (open loop), at most one outstanding "
                        "per connection, latency from the due time",
                        kOpenWindow)
             : loop_ == "open"
                 ? "cmbench loadgen: a separate process (not the cell's descendant), one thread, "
                   "epoll; open loop: requests due at a fixed total rate, at most one outstanding "
                   "per connection, latency from the due time"
                 : "cmbench loadgen: a separate process (not the cell's descendant), one thread, "
                   "epoll; closed loop: each connection sends its next request when the response "
                   "is complete, latency from the send");
  // Its window (first request to last response) and its CPU time say
  // whether the generator, not the server, set the pace: a generator busy
  // for most of its window was the bottleneck.
  if (r.end_ns > r.first_send_ns && r.first_send_ns > 0)
    probe.note("load_generator_window_s", static_cast<double>(r.end_ns - r.first_send_ns) / 1e9);
  probe.note("load_generator_cpu_s", r.cpu_s);
  if (!cpus_.empty()) probe.note("load_generator_cpus", cpus_);

  // A system call of the generator failed (a connection reset or refused,
  // a read or write error): the run failed with that errno. A response that
  // differs, or a connection the server closed early, carries none: that is
  // the server's answer failing verification.
  if (r.err != 0)
    throw SystemError(fmt::format("load generator: {} ({} of {} requests answered)", r.error,
                                  r.completed, requests_),
                      r.err);
  if (r.error[0] != '\0')
    return Verdict::fail(fmt::format("load generator: {} ({} of {} requests answered)", r.error,
                                     r.completed, requests_));
  if (r.completed != requests_)
    return Verdict::fail(fmt::format("load generator: {} of {} requests answered", r.completed,
                                     requests_));
  return Verdict::pass();
}

}  // namespace cmbench::echo
