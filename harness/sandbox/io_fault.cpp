// libcmbench_iofault.so: fault injection at the system-call boundary of the
// echo workload, for the fault tests. The runner preloads it (LD_PRELOAD)
// into a cell only when CMBENCH_FAULT names an `io:` fault for that cell
// (harness/sandbox/runner.cpp), so an ordinary run pays nothing for it: the
// library is simply not in the process. The cell's environment reaches the
// load generator it starts, so the one library serves both sides, whatever
// the model: raw system calls (process, thread, fiber), libuv and Boost.Asio
// (boost-fiber, coro) all end in the libc functions interposed here. (Go
// makes its system calls without libc; models/go/src/echo.go has its own
// hook for the server side, driven by the same variable.)
//
//   CMBENCH_FAULT=io:<side>:<fault>[,<fault>...][@<cell filter>]
//   side   server (the cell process and what it forks), loadgen, or both
//   fault  short-read    every read on a TCP socket asks for 1 to 7 bytes
//          short-write   every write on a TCP socket offers 1 to 7 bytes
//          short-io      both
//          read-first    a read on a non-blocking TCP socket with data
//                        waiting first finds nothing (EAGAIN), and the data
//                        comes, with its readiness edge, right after: the
//                        read raced the data's arrival and lost — the race of
//                        the old echo/fiber crash (3ff484d), every time. The
//                        next read on that socket gets the data.
//          reset[#N]     the N-th read on a TCP connection (default 1)
//                        resets it: the peer gets a real RST, the caller
//                        ECONNRESET
//          CALL=ERRNO[#N[+]]  the N-th call (N+: and every later one) of
//                        CALL fails with ERRNO (a name: EMFILE...); CALL is
//                        accept, connect, socket, read or write. read=
//                        ECONNRESET is a reset, as above; EMFILE also brings
//                        the descriptor limit down to what is open, and
//                        accept=ECONNABORTED takes a connection off the queue
//                        (both below: a state the kernel would be in).
// Only TCP sockets are touched (and socket() when it asks for one): the
// result pipe, /proc and every other descriptor pass through unchanged. A
// short read or write is followed by the readiness edge the kernel would
// give (see resignal_readable below), so it is one the kernel could make.
// CMBENCH_FAULT_LOG=<file> appends one line per fault and process the first
// time that fault fires, so a test can tell an injected fault from one that
// never happened.
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

namespace {

enum Call { kAccept, kConnect, kSocket, kRead, kWrite, kCalls };
const char* const kCallNames[kCalls] = {"accept", "connect", "socket", "read", "write"};

struct ErrnoFault {
  bool on = false;
  int err = 0;
  unsigned long nth = 1;
  bool and_later = false;
};

struct Config {
  bool active = false;
  bool short_read = false;
  bool short_write = false;
  bool read_first = false;
  // read-first: the descriptors whose last read was made to find nothing.
  std::atomic<bool> raced[65536]{};
  ErrnoFault call[kCalls];
  std::atomic<unsigned long> count[kCalls]{};
  std::atomic<unsigned long> short_count{0};
  std::atomic<bool> logged[kCalls + 3]{};  // + short reads, short writes, read-first
  const char* side = "";
} g;

// The real functions, looked up once when the library is loaded.
using read_fn = ssize_t (*)(int, void*, size_t);
using readv_fn = ssize_t (*)(int, const iovec*, int);
using recv_fn = ssize_t (*)(int, void*, size_t, int);
using recvfrom_fn = ssize_t (*)(int, void*, size_t, int, sockaddr*, socklen_t*);
using recvmsg_fn = ssize_t (*)(int, msghdr*, int);
using write_fn = ssize_t (*)(int, const void*, size_t);
using writev_fn = ssize_t (*)(int, const iovec*, int);
using send_fn = ssize_t (*)(int, const void*, size_t, int);
using sendto_fn = ssize_t (*)(int, const void*, size_t, int, const sockaddr*, socklen_t);
using sendmsg_fn = ssize_t (*)(int, const msghdr*, int);
using accept_fn = int (*)(int, sockaddr*, socklen_t*);
using accept4_fn = int (*)(int, sockaddr*, socklen_t*, int);
using connect_fn = int (*)(int, const sockaddr*, socklen_t);
using socket_fn = int (*)(int, int, int);

struct Real {
  read_fn read;
  readv_fn readv;
  recv_fn recv;
  recvfrom_fn recvfrom;
  recvmsg_fn recvmsg;
  write_fn write;
  writev_fn writev;
  send_fn send;
  sendto_fn sendto;
  sendmsg_fn sendmsg;
  accept_fn accept;
  accept4_fn accept4;
  connect_fn connect;
  socket_fn socket;
} real;

template <typename F>
void resolve(F& f, const char* name) {
  f = reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
  if (!f) {
    std::fprintf(stderr, "libcmbench_iofault: no next definition of %s\n", name);
    std::abort();
  }
}

int errno_by_name(const char* name, size_t len) {
  for (int e = 1; e < 256; ++e) {
    const char* n = strerrorname_np(e);
    if (n && std::strlen(n) == len && std::strncmp(n, name, len) == 0) return e;
  }
  return 0;
}

[[noreturn]] void bad_spec(const char* spec, const char* why) {
  std::fprintf(stderr, "CMBENCH_FAULT='%s': %s\n", spec, why);
  std::exit(2);
}

// One fault of the comma-separated list: [begin, end).
void parse_fault(const char* spec, const char* begin, const char* end) {
  const std::string_view f(begin, static_cast<size_t>(end - begin));
  if (f == "short-read") {
    g.short_read = true;
    return;
  }
  if (f == "short-write") {
    g.short_write = true;
    return;
  }
  if (f == "short-io") {
    g.short_read = g.short_write = true;
    return;
  }
  if (f == "read-first") {
    g.read_first = true;
    return;
  }

  std::string_view call = f, err_name;
  unsigned long nth = 1;
  bool and_later = false;
  if (auto hash = f.find('#'); hash != std::string_view::npos) {
    call = f.substr(0, hash);
    std::string_view n = f.substr(hash + 1);
    if (!n.empty() && n.back() == '+') {
      and_later = true;
      n.remove_suffix(1);
    }
    nth = 0;
    for (char c : n) {
      if (c < '0' || c > '9') bad_spec(spec, "#N is not a number");
      nth = nth * 10 + static_cast<unsigned long>(c - '0');
    }
    if (nth == 0) bad_spec(spec, "#N counts from 1");
  }
  if (call == "reset") {
    err_name = "ECONNRESET";
    call = "read";
  } else if (auto eq = call.find('='); eq != std::string_view::npos) {
    err_name = call.substr(eq + 1);
    call = call.substr(0, eq);
  } else {
    bad_spec(spec, "unknown io fault; accepted: short-read, short-write, short-io, read-first, "
                   "reset[#N], CALL=ERRNO[#N[+]]");
  }
  for (int c = 0; c < kCalls; ++c)
    if (call == kCallNames[c]) {
      const int err = errno_by_name(err_name.data(), err_name.size());
      if (err == 0) bad_spec(spec, "unknown errno name");
      g.call[c] = {true, err, nth, and_later};
      return;
    }
  bad_spec(spec, "CALL is one of accept, connect, socket, read, write");
}

// This process's side: the command after the binary, from /proc/self/cmdline.
const char* side_of_this_process() {
  static char buf[4096];
  const int fd = ::open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  const ssize_t n = real.read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return "";
  buf[n] = '\0';
  const char* arg1 = buf + std::strlen(buf) + 1;
  if (arg1 >= buf + n) return "";
  if (std::strcmp(arg1, "loadgen") == 0) return "loadgen";
  if (std::strcmp(arg1, "cell") == 0) return "server";
  return "";
}

__attribute__((constructor)) void init() {
  resolve(real.read, "read");
  resolve(real.readv, "readv");
  resolve(real.recv, "recv");
  resolve(real.recvfrom, "recvfrom");
  resolve(real.recvmsg, "recvmsg");
  resolve(real.write, "write");
  resolve(real.writev, "writev");
  resolve(real.send, "send");
  resolve(real.sendto, "sendto");
  resolve(real.sendmsg, "sendmsg");
  resolve(real.accept, "accept");
  resolve(real.accept4, "accept4");
  resolve(real.connect, "connect");
  resolve(real.socket, "socket");
  const char* spec = std::getenv("CMBENCH_FAULT");
  if (!spec || std::strncmp(spec, "io:", 3) != 0) return;
  const char* p = spec + 3;
  const char* colon = std::strchr(p, ':');
  if (!colon) bad_spec(spec, "expected io:<side>:<fault>");
  const std::string_view want(p, static_cast<size_t>(colon - p));
  if (want != "server" && want != "loadgen" && want != "both")
    bad_spec(spec, "the side is server, loadgen or both");
  const char* end = std::strchr(colon + 1, '@');
  if (!end) end = colon + 1 + std::strlen(colon + 1);
  for (const char* b = colon + 1; b < end;) {
    const char* comma = static_cast<const char*>(std::memchr(b, ',', static_cast<size_t>(end - b)));
    const char* e = comma ? comma : end;
    parse_fault(spec, b, e);
    b = e + 1;
  }
  g.side = side_of_this_process();
  g.active = *g.side != '\0' && (want == "both" || want == g.side);
}

// True for a TCP socket (stream, IPv4 or IPv6). Only asked while a fault is
// active, so its three system calls cost nothing in an ordinary run.
bool is_tcp(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
  int type = 0;
  socklen_t len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) return false;
  sockaddr_storage addr{};
  len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return false;
  return addr.ss_family == AF_INET || addr.ss_family == AF_INET6;
}

void log_once(int slot, const char* what) {
  if (g.logged[slot].exchange(true)) return;
  const char* path = std::getenv("CMBENCH_FAULT_LOG");
  if (!path || !*path) return;
  char line[256];
  const int n = std::snprintf(line, sizeof line, "%s pid=%d %s\n", g.side, static_cast<int>(getpid()), what);
  const int fd = ::open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  if (n > 0) (void)!real.write(fd, line, static_cast<size_t>(n));
  ::close(fd);
}

// An injected EMFILE is made true: every free slot below the highest
// descriptor open now is filled (with /dev/null, close-on-exec) and the soft
// RLIMIT_NOFILE comes down to that descriptor plus one, so the table really
// is full. Programs react to the state and not only to the errno (libuv
// sheds the connections it cannot accept, and only then, and its server
// tells it from the descriptors in use); a hole left below the limit would
// be a slot the next accept() takes.
void exhaust_descriptors() {
  std::vector<bool> open;
  if (DIR* d = opendir("/proc/self/fd")) {
    const int own = dirfd(d);
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      const int fd = std::atoi(e->d_name);
      if (fd == own) continue;
      if (static_cast<size_t>(fd) >= open.size()) open.resize(static_cast<size_t>(fd) + 1);
      open[static_cast<size_t>(fd)] = true;
    }
    closedir(d);
  }
  if (open.empty()) return;
  const int highest = static_cast<int>(open.size()) - 1;
  for (int fd = 0; fd < highest; ++fd)
    if (!open[static_cast<size_t>(fd)]) {
      // The lowest free slot is the one open() takes, in order.
      const int filler = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (filler < 0 || filler >= highest) {
        if (filler >= 0) ::close(filler);
        break;
      }
      open[static_cast<size_t>(filler)] = true;
    }
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    lim.rlim_cur = static_cast<rlim_t>(highest + 1);
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

// Whether this call of `c` fails, and with which errno (0: it does not).
int injected_errno(Call c) {
  const ErrnoFault& f = g.call[c];
  if (!f.on) return 0;
  const unsigned long n = g.count[c].fetch_add(1) + 1;
  if (n != f.nth && !(f.and_later && n > f.nth)) return 0;
  char what[96];
  std::snprintf(what, sizeof what, "%s=%s#%lu", kCallNames[c], strerrorname_np(f.err), f.nth);
  log_once(c, what);
  if (f.err == EMFILE) exhaust_descriptors();
  return f.err;
}

// A real reset: connect() with AF_UNSPEC disconnects a TCP socket, and
// disconnecting an established connection sends the peer an RST.
int reset(int fd) {
  sockaddr unspec{};
  unspec.sa_family = AF_UNSPEC;
  real.connect(fd, &unspec, sizeof unspec);
  errno = ECONNRESET;
  return -1;
}

// A short read or write the kernel makes means the socket was drained or
// full at that moment, and an edge-triggered reactor (Asio's epoll, the
// fiber runtime's) rightly waits for the next readiness edge before trying
// again; one made here leaves data behind or room free, and no edge would
// ever come. So after each one the library delivers the edge the kernel
// would deliver once the condition ended: setting SO_RCVLOWAT makes TCP
// check for readable data and wake its waiters (tcp_set_rcvlowat ->
// tcp_data_ready), setting SO_SNDBUF wakes writers (sk_write_space). The
// values set are the ones the socket has (SO_SNDBUF reads back doubled).
void resignal_readable(int fd) {
  int lowat = 1;
  socklen_t len = sizeof lowat;
  if (getsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, &len) == 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat);
}

void resignal_writable(int fd) {
  int size = 0;
  socklen_t len = sizeof size;
  if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, &len) == 0 && size > 1) {
    size /= 2;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  }
}

// A read on a TCP socket: -1 (errno set) when a fault fails it, else 0 with
// `len` cut to what a short read asks for.
int before_read(int fd, size_t& len) {
  if (!g.active || !is_tcp(fd)) return 0;
  if (const int err = injected_errno(kRead)) {
    if (err == ECONNRESET) return reset(fd);
    errno = err;
    return -1;
  }
  if (g.read_first && fd >= 0 && fd < 65536 && !g.raced[fd].exchange(false)) {
    int waiting = 0;
    const int flags = fcntl(fd, F_GETFL);
    if (flags >= 0 && (flags & O_NONBLOCK) && ioctl(fd, FIONREAD, &waiting) == 0 && waiting > 0) {
      g.raced[fd].store(true);
      log_once(kCalls + 2, "read-first");
      resignal_readable(fd);
      errno = EAGAIN;
      return -1;
    }
  }
  if (g.short_read && len > 1) {
    len = std::min<size_t>(len, 1 + g.short_count.fetch_add(1) % 7);
    log_once(kCalls, "short-read");
  }
  return 0;
}

int before_write(int fd, size_t& len) {
  if (!g.active || !is_tcp(fd)) return 0;
  if (const int err = injected_errno(kWrite)) {
    if (err == ECONNRESET) return reset(fd);
    errno = err;
    return -1;
  }
  if (g.short_write && len > 1) {
    len = std::min<size_t>(len, 1 + g.short_count.fetch_add(1) % 7);
    log_once(kCalls + 1, "short-write");
  }
  return 0;
}

// The result of a read cut to `len` bytes of `want`: when it filled the cut
// buffer, more may be waiting.
ssize_t after_read(int fd, ssize_t r, size_t len, size_t want) {
  if (r > 0 && len < want && static_cast<size_t>(r) == len) {
    const int saved = errno;
    resignal_readable(fd);
    errno = saved;
  }
  return r;
}

ssize_t after_write(int fd, ssize_t r, size_t len, size_t want) {
  if (r > 0 && len < want) {
    const int saved = errno;
    resignal_writable(fd);
    errno = saved;
  }
  return r;
}

// An accept that fails. ECONNABORTED is what Linux says of a pending
// connection that died before it was accepted: that connection leaves the
// queue with the error, so here too one is taken off the queue (and reset,
// as a dead connection is to its peer). Leaving it queued would fake a state
// the kernel never shows: an edge-triggered acceptor (Asio's) rightly waits
// for a new edge after ECONNABORTED, and none would come for it.
int fail_accept(int fd, int err) {
  if (err == ECONNABORTED) {
    const int c = real.accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c >= 0) {
      const linger reset_on_close{1, 0};
      setsockopt(c, SOL_SOCKET, SO_LINGER, &reset_on_close, sizeof reset_on_close);
      ::close(c);
    }
  }
  errno = err;
  return -1;
}

size_t iov_total(const iovec* iov, int n) {
  size_t t = 0;
  for (int i = 0; i < n; ++i) t += iov[i].iov_len;
  return t;
}

// Cuts an iovec array to `limit` bytes into `out` (at most 64 entries);
// returns the number of entries.
int cut_iov(const iovec* iov, int n, size_t limit, iovec* out) {
  int k = 0;
  for (int i = 0; i < n && k < 64 && limit > 0; ++i) {
    out[k] = iov[i];
    if (out[k].iov_len > limit) out[k].iov_len = limit;
    limit -= out[k].iov_len;
    ++k;
  }
  return k;
}

}  // namespace

extern "C" {

ssize_t read(int fd, void* buf, size_t len) {
  const size_t want = len;
  if (before_read(fd, len) < 0) return -1;
  return after_read(fd, real.read(fd, buf, len), len, want);
}

ssize_t __read_chk(int fd, void* buf, size_t len, size_t) { return read(fd, buf, len); }

ssize_t recv(int fd, void* buf, size_t len, int flags) {
  const size_t want = len;
  if (before_read(fd, len) < 0) return -1;
  return after_read(fd, real.recv(fd, buf, len, flags), len, want);
}

ssize_t __recv_chk(int fd, void* buf, size_t len, size_t, int flags) { return recv(fd, buf, len, flags); }

ssize_t recvfrom(int fd, void* buf, size_t len, int flags, sockaddr* from, socklen_t* fromlen) {
  const size_t want = len;
  if (before_read(fd, len) < 0) return -1;
  return after_read(fd, real.recvfrom(fd, buf, len, flags, from, fromlen), len, want);
}

ssize_t readv(int fd, const iovec* iov, int n) {
  size_t len = iov_total(iov, n);
  const size_t want = len;
  if (before_read(fd, len) < 0) return -1;
  if (len == want) return after_read(fd, real.readv(fd, iov, n), len, want);
  iovec cut[64];
  const int k = cut_iov(iov, n, len, cut);
  return after_read(fd, real.readv(fd, cut, k), iov_total(cut, k), want);
}

ssize_t recvmsg(int fd, msghdr* msg, int flags) {
  size_t len = iov_total(msg->msg_iov, static_cast<int>(msg->msg_iovlen));
  const size_t want = len;
  if (before_read(fd, len) < 0) return -1;
  if (len == want) return after_read(fd, real.recvmsg(fd, msg, flags), len, want);
  iovec cut[64];
  iovec* const iov = msg->msg_iov;
  const size_t iovlen = msg->msg_iovlen;
  msg->msg_iov = cut;
  msg->msg_iovlen = static_cast<size_t>(cut_iov(iov, static_cast<int>(iovlen), len, cut));
  const size_t cut_len = iov_total(cut, static_cast<int>(msg->msg_iovlen));
  const ssize_t r = real.recvmsg(fd, msg, flags);
  msg->msg_iov = iov;
  msg->msg_iovlen = iovlen;
  return after_read(fd, r, cut_len, want);
}

ssize_t write(int fd, const void* buf, size_t len) {
  const size_t want = len;
  if (before_write(fd, len) < 0) return -1;
  return after_write(fd, real.write(fd, buf, len), len, want);
}

ssize_t send(int fd, const void* buf, size_t len, int flags) {
  const size_t want = len;
  if (before_write(fd, len) < 0) return -1;
  return after_write(fd, real.send(fd, buf, len, flags), len, want);
}

ssize_t sendto(int fd, const void* buf, size_t len, int flags, const sockaddr* to, socklen_t tolen) {
  const size_t want = len;
  if (before_write(fd, len) < 0) return -1;
  return after_write(fd, real.sendto(fd, buf, len, flags, to, tolen), len, want);
}

ssize_t writev(int fd, const iovec* iov, int n) {
  size_t len = iov_total(iov, n);
  const size_t want = len;
  if (before_write(fd, len) < 0) return -1;
  if (len == want) return real.writev(fd, iov, n);
  iovec cut[64];
  const int k = cut_iov(iov, n, len, cut);
  return after_write(fd, real.writev(fd, cut, k), iov_total(cut, k), want);
}

ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
  size_t len = iov_total(msg->msg_iov, static_cast<int>(msg->msg_iovlen));
  const size_t want = len;
  if (before_write(fd, len) < 0) return -1;
  if (len == want) return real.sendmsg(fd, msg, flags);
  iovec cut[64];
  msghdr copy = *msg;
  copy.msg_iov = cut;
  copy.msg_iovlen = static_cast<size_t>(cut_iov(msg->msg_iov, static_cast<int>(msg->msg_iovlen), len, cut));
  return after_write(fd, real.sendmsg(fd, &copy, flags), iov_total(cut, static_cast<int>(copy.msg_iovlen)), want);
}

int accept(int fd, sockaddr* addr, socklen_t* len) {
  if (g.active && is_tcp(fd))
    if (const int err = injected_errno(kAccept)) return fail_accept(fd, err);
  return real.accept(fd, addr, len);
}

int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
  if (g.active && is_tcp(fd))
    if (const int err = injected_errno(kAccept)) return fail_accept(fd, err);
  return real.accept4(fd, addr, len, flags);
}

int connect(int fd, const sockaddr* addr, socklen_t len) {
  if (g.active && addr && (addr->sa_family == AF_INET || addr->sa_family == AF_INET6) && is_tcp(fd))
    if (const int err = injected_errno(kConnect)) {
      errno = err;
      return -1;
    }
  return real.connect(fd, addr, len);
}

int socket(int domain, int type, int protocol) {
  if (g.active && (domain == AF_INET || domain == AF_INET6) && (type & 0xf) == SOCK_STREAM)
    if (const int err = injected_errno(kSocket)) {
      errno = err;
      return -1;
    }
  return real.socket(domain, type, protocol);
}

}  // extern "C"
