#include "harness/sandbox/runner.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ipc.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <system_error>
#include <thread>
#include <vector>

#include "harness/cell/errors.hpp"
#include "harness/cell/memory.hpp"
#include "harness/cell/probe.hpp"
#include "harness/cell/speed.hpp"
#include "harness/registry/registry.hpp"
#include "harness/sandbox/crash.hpp"
#include "harness/sandbox/external.hpp"
#include "harness/sandbox/instructions.hpp"
#include "harness/sandbox/pin.hpp"
#include "harness/results/metrics.hpp"

extern char** environ;

namespace cmbench {

namespace {

// How often the tree's memory is read while a process-model cell runs. Each
// sample reads one smaps_rollup per process, which walks its page tables, so
// it is kept rare: the sampler runs in this (parent) process, outside the
// cell's rusage, and at this rate costs well under 1% of one core.
constexpr int kSampleMs = 50;

double tv_s(const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; }

// What a cell left running after it returned: the processes of its group
// still alive when it was reaped, and the TCP ports they were listening on.
struct Leftovers {
  int processes = 0;
  std::vector<int> listening_ports;
};

// The socket inodes a process holds ("socket:[12345]" links in /proc/PID/fd).
void socket_inodes(pid_t pid, std::set<unsigned long>& out) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  while (auto* ent = readdir(d)) {
    if (ent->d_name[0] == '.') continue;
    char target[64];
    ssize_t n = readlinkat(dirfd(d), ent->d_name, target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    unsigned long inode = 0;
    if (std::sscanf(target, "socket:[%lu]", &inode) == 1) out.insert(inode);
  }
  closedir(d);
}

// The local ports of the TCP sockets in LISTEN state (st 0A) among `inodes`,
// read from /proc/PID/net/tcp and tcp6: PID's network namespace, which is
// where its sockets live.
std::vector<int> listening_ports(pid_t pid, const std::set<unsigned long>& inodes) {
  std::vector<int> ports;
  for (const char* table : {"tcp", "tcp6"}) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/net/" + table);
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      std::istringstream f(line);
      std::string sl, local, remote, st, queues, timer, retr, uid, timeout;
      unsigned long inode = 0;
      if (!(f >> sl >> local >> remote >> st >> queues >> timer >> retr >> uid >> timeout >> inode))
        continue;
      if (st != "0A" || !inodes.count(inode)) continue;
      auto colon = local.rfind(':');
      if (colon == std::string::npos) continue;
      int port = static_cast<int>(std::strtol(local.c_str() + colon + 1, nullptr, 16));
      if (std::find(ports.begin(), ports.end(), port) == ports.end()) ports.push_back(port);
    }
  }
  std::sort(ports.begin(), ports.end());
  return ports;
}

// Kills whatever is left of the cell's process group and reaps every
// orphan this (subreaper) process inherited. Before it kills them it notes
// how many there were and which TCP ports they listened on: a socket
// outlives its cell only inside a process that does, so after the kill
// there would be nothing left to see.
Leftovers clean_up_group(pid_t pgid) {
  Leftovers left;
  if (kill(-pgid, 0) == 0) {
    std::vector<pid_t> members;
    if (auto* dir = opendir("/proc")) {
      while (auto* ent = readdir(dir)) {
        pid_t p = std::atoi(ent->d_name);
        if (p > 0 && getpgid(p) == pgid) members.push_back(p);
      }
      closedir(dir);
    }
    left.processes = static_cast<int>(members.size());
    std::set<unsigned long> inodes;
    for (pid_t p : members) socket_inodes(p, inodes);
    if (!inodes.empty()) left.listening_ports = listening_ports(members.front(), inodes);
    kill(-pgid, SIGKILL);
  }
  // Reap every orphan re-parented to us — all of them: a tree of 30,000
  // processes leaves 30,000 zombies, and each holds a pid that the next
  // cells would miss — and give the kernel a moment to deliver the kills
  // (a zombie still answers kill(-pgid, 0); the group is gone once none is
  // left), but never wait long.
  const int64_t until = now_ns() + 5'000'000'000;
  for (;;) {
    int status;
    pid_t r = waitpid(-1, &status, WNOHANG);
    if (r > 0) continue;
    if (r < 0 && errno == ECHILD) break;
    if (kill(-pgid, 0) != 0 || now_ns() > until) break;
    usleep(1000);
  }
  return left;
}

// --- shared memory a cell leaves behind -------------------------------------
//
// A POSIX shared-memory segment (shm_open) is a file in /dev/shm and lives
// until it is unlinked, whoever created it is gone; a System V segment
// (shmget) lives until IPC_RMID. Either would hold memory for the rest of the
// matrix and beyond. They are found by difference: /dev/shm and
// /proc/sysvipc/shm are listed before the cell starts and again after it was
// reaped (two small reads per repetition). The difference is only blamed on
// the cell when nothing else could have made it: it belongs to this user and
// no live process holds it (the cell's are all dead by then). What this cannot
// tell apart: another program of the same user that creates a segment and
// lets go of it, unheld, during the same repetition.

std::set<std::string> list_dev_shm() {
  std::set<std::string> names;
  if (DIR* d = opendir("/dev/shm")) {
    while (auto* ent = readdir(d))
      if (ent->d_name[0] != '.') names.insert(ent->d_name);
    closedir(d);
  }
  return names;
}

struct SysvSegment {
  long size = 0;
  pid_t creator = 0;
  long attached = 0;
  uid_t uid = 0;
};

// shmid -> segment, from /proc/sysvipc/shm (columns named by its header).
std::map<int, SysvSegment> list_sysv_shm() {
  std::map<int, SysvSegment> segs;
  std::ifstream in("/proc/sysvipc/shm");
  std::string header;
  if (!std::getline(in, header)) return segs;
  std::vector<std::string> cols;
  {
    std::istringstream h(header);
    for (std::string c; h >> c;) cols.push_back(c);
  }
  auto col = [&](const char* name) {
    return static_cast<size_t>(std::find(cols.begin(), cols.end(), name) - cols.begin());
  };
  const size_t id_c = col("shmid"), size_c = col("size"), cpid_c = col("cpid"),
               natt_c = col("nattch"), uid_c = col("uid");
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::vector<std::string> v;
    for (std::string x; f >> x;) v.push_back(x);
    if (std::max({id_c, size_c, cpid_c, natt_c, uid_c}) >= v.size()) continue;
    SysvSegment seg;
    seg.size = std::atol(v[size_c].c_str());
    seg.creator = static_cast<pid_t>(std::atol(v[cpid_c].c_str()));
    seg.attached = std::atol(v[natt_c].c_str());
    seg.uid = static_cast<uid_t>(std::atol(v[uid_c].c_str()));
    segs[std::atoi(v[id_c].c_str())] = seg;
  }
  return segs;
}

// True when a live process has `path` open or mapped. Only called when a
// new /dev/shm entry appeared, which is rare, so walking /proc is affordable.
bool held_by_a_live_process(const std::string& path) {
  DIR* proc = opendir("/proc");
  if (!proc) return false;
  bool held = false;
  while (auto* ent = readdir(proc)) {
    if (held) break;
    pid_t p = std::atoi(ent->d_name);
    if (p <= 0) continue;
    const std::string base = std::string("/proc/") + ent->d_name;
    if (DIR* fds = opendir((base + "/fd").c_str())) {
      while (auto* fd = readdir(fds)) {
        char target[PATH_MAX];
        ssize_t n = readlinkat(dirfd(fds), fd->d_name, target, sizeof target - 1);
        if (n <= 0) continue;
        target[n] = '\0';
        if (path == target) {
          held = true;
          break;
        }
      }
      closedir(fds);
    }
    if (held) break;
    std::ifstream maps(base + "/maps");
    for (std::string line; std::getline(maps, line);)
      if (line.size() >= path.size() && line.find(path) != std::string::npos) {
        held = true;
        break;
      }
  }
  closedir(proc);
  return held;
}

struct ShmSnapshot {
  std::set<std::string> posix;
  std::map<int, SysvSegment> sysv;
};

ShmSnapshot snapshot_shm() { return {list_dev_shm(), list_sysv_shm()}; }

// Removes the segments the cell left behind and says what they were, one
// phrase each ("shared-memory segment /dev/shm/x").
std::vector<std::string> remove_leaked_shm(const ShmSnapshot& before) {
  std::vector<std::string> leaks;
  const uid_t me = geteuid();
  for (const auto& name : list_dev_shm()) {
    if (before.posix.count(name)) continue;
    const std::string path = "/dev/shm/" + name;
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0 || st.st_uid != me) continue;
    if (held_by_a_live_process(path)) continue;
    if (unlink(path.c_str()) == 0 || errno == ENOENT)
      leaks.push_back(fmt::format("shared-memory segment {}", path));
  }
  for (const auto& [id, seg] : list_sysv_shm()) {
    if (before.sysv.count(id) || seg.uid != me || seg.attached != 0) continue;
    // The creator still alive and not the cell's (they are all dead now): not ours.
    if (seg.creator > 0 && kill(seg.creator, 0) == 0) continue;
    if (shmctl(id, IPC_RMID, nullptr) == 0 || errno == EINVAL || errno == EIDRM)
      leaks.push_back(fmt::format("System V shared-memory segment {} ({} bytes)", id, seg.size));
  }
  return leaks;
}

// The io fault library (harness/sandbox/io_fault.cpp) beside `exe`, when
// CMBENCH_FAULT asks for an io: fault in this cell; empty otherwise.
std::string io_fault_library(const std::string& exe, const std::string& cell) {
  const char* spec = std::getenv("CMBENCH_FAULT");
  if (!spec || std::strncmp(spec, "io:", 3) != 0) return "";
  const std::string s = spec;
  if (auto at = s.find('@'); at != std::string::npos && cell.find(s.substr(at + 1)) == std::string::npos)
    return "";
  return exe.substr(0, exe.rfind('/') + 1) + "libcmbench_iofault.so";
}

bool starts_with(const char* s, const std::string& prefix) {
  return std::strncmp(s, prefix.c_str(), prefix.size()) == 0;
}

// The environment of the cell: this process's, with the memory limit (or
// its absence) stated explicitly, so a limit in our own environment never
// leaks into a cell that was not given one; this process's pid (the cell
// dies with it); --keep-core's request; and for the io fault tests the
// library that injects them, preloaded.
std::vector<std::string> cell_environment(const RepetitionRequest& req, const std::string& preload) {
  std::vector<std::string> env;
  const std::string limit = std::string(kMemoryLimitEnv) + "=", runner = std::string(kRunnerPidEnv) + "=",
                    core = std::string(kKeepCoreEnv) + "=", pin = std::string(kPinEnv) + "=", ld = "LD_PRELOAD=",
                    asan = "ASAN_OPTIONS=";
  std::string ld_preload = preload, asan_options;
  for (char** e = environ; *e; ++e) {
    if (starts_with(*e, limit) || starts_with(*e, runner) || starts_with(*e, core) || starts_with(*e, pin)) continue;
    if (!preload.empty() && starts_with(*e, ld)) {
      ld_preload += ":" + std::string(*e + ld.size());
      continue;
    }
    if (!preload.empty() && starts_with(*e, asan)) {
      asan_options = std::string(*e + asan.size()) + ":";
      continue;
    }
    env.emplace_back(*e);
  }
  if (req.memory_limit_bytes > 0) env.push_back(limit + std::to_string(req.memory_limit_bytes));
  env.push_back(runner + std::to_string(getpid()));
  if (!req.core_dir.empty()) env.push_back(core + "1");
  if (req.pin) env.push_back(pin + "1");
  if (!preload.empty()) {
    env.push_back(ld + ld_preload);
#if defined(__SANITIZE_ADDRESS__)
    // A preloaded library comes before the sanitizer's runtime, which
    // refuses to start that way unless told the order is deliberate.
    env.push_back(asan + asan_options + "verify_asan_link_order=0");
#else
    if (!asan_options.empty()) env.push_back(asan + asan_options.substr(0, asan_options.size() - 1));
#endif
  }
  return env;
}

// The cell's standard error, passed through to ours as it comes, with its
// first and last bytes kept: what a runtime says when it aborts without a
// result (the Go runtime's "failed to create new OS thread") is the only
// account of it there is.
struct StderrCapture {
  static constexpr size_t kHead = 8192, kTail = 4096;
  std::string head, tail;
  void add(const char* data, size_t n) {
    (void)!::write(STDERR_FILENO, data, n);
    const size_t to_head = std::min(n, kHead - std::min(kHead, head.size()));
    head.append(data, to_head);
    tail.append(data + to_head, n - to_head);
    if (tail.size() > 2 * kTail) tail.erase(0, tail.size() - kTail);
  }
  std::string text() const {
    return tail.empty() ? head : head + "\n...\n" + tail.substr(tail.size() > kTail ? tail.size() - kTail : 0);
  }
};

// What a cell that exited without a result said on its way out, as an
// outcome: runtimes that abort instead of failing (the Go runtime cannot
// report a thread or memory it could not get; it prints and exits 2) say
// what ran out, and that is a `limit` like any other. What each says is
// its manifest's `last_words` (docs/cell-protocol.md).
struct LastWords {
  Outcome outcome = Outcome::failed;
  int err = 0;
  std::string message;
};

std::optional<LastWords> last_words(const std::string& model, const std::string& err_text) {
  std::smatch m;
  const ModelInfo* info = find_model(model);
  for (const auto& rule : info && info->external ? info->external->last_words : std::vector<ExternalProgram::LastWords>{}) {
    if (!std::regex_search(err_text, m, std::regex(rule.pattern))) continue;
    const int e = rule.errno_group > 0 && static_cast<size_t>(rule.errno_group) < m.size()
                      ? std::atoi(m[rule.errno_group].str().c_str())
                      : rule.err;
    std::string message = rule.message;
    auto replace = [&message](const std::string& key, const std::string& value) {
      for (size_t at = message.find(key); at != std::string::npos; at = message.find(key, at + value.size()))
        message.replace(at, key.size(), value);
    };
    for (size_t g = 1; g < m.size() && g <= 9; ++g) replace(fmt::format("{{{}}}", g), m[g].str());
    replace("{errno}", std::to_string(e));
    replace("{strerror}", std::strerror(e));
    const Outcome outcome = rule.outcome == "limit"    ? Outcome::limit
                            : rule.outcome == "failed" ? Outcome::failed
                            : is_limit_errno(e)        ? Outcome::limit
                                                       : Outcome::failed;
    return LastWords{outcome, e, message};
  }
  // Otherwise the first line that reads like an error, for the message
  // (searched by hand: std::regex recurses per character and a long line
  // would exhaust the stack).
  std::istringstream lines(err_text);
  for (std::string line; std::getline(lines, line);) {
    std::string lower = line;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    for (const char* word : {"error", "fatal", "panic", "cannot", "failed", "terminate", "abort"})
      if (lower.find(word) != std::string::npos) return LastWords{Outcome::failed, 0, line.substr(0, 300)};
  }
  return std::nullopt;
}

// CMBENCH_TEST_SLOW_SAMPLE_MS=N makes every memory sample of a process
// tree take N ms longer: the fault tests' stand-in for a tree of 30,000
// processes, whose memory takes that long to read, to show that the deadline
// holds while the loop is busy. One getenv() per sample (every 50 ms or
// more, in the parent) when unset.
void stall_for_tests() {
  const char* env = std::getenv("CMBENCH_TEST_SLOW_SAMPLE_MS");
  const long ms = env ? std::atol(env) : 0L;
  if (ms > 0) ::usleep(static_cast<useconds_t>(ms) * 1000);
}

// --- the watchdog -----------------------------------------------------------
//
// The deadline and a stop request are kept by a thread of their own, so that
// they hold whatever the runner's loop is doing: reading the memory of a tree of
// 30,000 processes takes seconds, during which the loop looks at no clock.
// At the deadline (or on the stop flag) it sends SIGKILL to the cell's whole
// process group. The group cannot have been recycled by then: its leader is
// our child, and it is reaped only after the watchdog has been stopped.
class Watchdog {
 public:
  enum class Fired { no, deadline, stop };
  Watchdog(pid_t pgid, int64_t deadline_ns, const volatile sig_atomic_t* stop) {
    // The thread takes no signals: a SIGINT must reach the thread that runs
    // the loop, and interrupt what it waits on.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    try {
      thread_ = std::thread([this, pgid, deadline_ns, stop] { watch(pgid, deadline_ns, stop); });
    } catch (const std::system_error&) {
      // No thread to be had (the machine is out of tasks): the loop's own
      // checks of the deadline and the flag remain.
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog() { disarm(); }
  // Stops watching; after it, fired() is final.
  void disarm() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  Fired fired() const { return fired_; }

 private:
  void watch(pid_t pgid, int64_t deadline_ns, const volatile sig_atomic_t* stop) {
    std::unique_lock lock(mu_);
    while (!done_) {
      const int64_t now = now_ns();
      if (now >= deadline_ns || (stop && *stop)) {
        fired_ = now >= deadline_ns ? Fired::deadline : Fired::stop;
        ::kill(-pgid, SIGKILL);
        return;
      }
      // The stop flag is a signal handler's: looked at every 50 ms.
      cv_.wait_for(lock, std::chrono::nanoseconds(std::min<int64_t>(deadline_ns - now, 50'000'000)));
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  Fired fired_ = Fired::no;
  std::thread thread_;
};

// --- core files (--keep-core) -----------------------------------------------

// Where the kernel puts core files; a core of a cell that ran in `cwd`
// lands there when the pattern is a relative name.
std::string core_pattern() {
  std::ifstream in("/proc/sys/kernel/core_pattern");
  std::string line;
  std::getline(in, line);
  return line;
}

// After a crash with --keep-core: moves the core file the kernel wrote into
// `cwd` to the --keep-core folder and says where it is, or why there is none.
nlohmann::json keep_core(const RepetitionRequest& req, const std::string& cwd, pid_t pid, bool dumped) {
  nlohmann::json core = nlohmann::json::object();
  const std::string pattern = core_pattern();
  std::string found;
  if (DIR* d = opendir(cwd.c_str())) {
    while (auto* ent = readdir(d))
      if (std::strncmp(ent->d_name, "core", 4) == 0) found = cwd + "/" + ent->d_name;
    closedir(d);
  }
  if (!found.empty()) {
    std::string name = fmt::format("{}-{}-{}.core", req.workload, req.model, pid);
    const std::string dest = req.core_dir + "/" + name;
    if (std::rename(found.c_str(), dest.c_str()) == 0) found = dest;
    core["file"] = found;
  } else if (!pattern.empty() && pattern[0] == '|') {
    core["note"] = fmt::format("the kernel hands core files to a program (core_pattern '{}'); look there{}",
                               pattern, dumped ? "" : ", though the kernel says no core was dumped");
  } else if (!pattern.empty() && pattern[0] == '/') {
    core["note"] = fmt::format("the kernel writes core files by the absolute pattern '{}' (pid {}){}", pattern,
                               pid, dumped ? "" : "; it says no core was dumped");
  } else {
    rlimit lim{};
    getrlimit(RLIMIT_CORE, &lim);
    core["note"] = lim.rlim_max == 0
                       ? std::string("no core was written: the hard limit on core files (RLIMIT_CORE) is 0")
                       : fmt::format("no core was written (core_pattern '{}')", pattern);
  }
  ::rmdir(cwd.c_str());  // empty once the core has moved
  return core;
}

}  // namespace

void become_subreaper() { prctl(PR_SET_CHILD_SUBREAPER, 1); }

int cell_death_signal() noexcept { return SIGRTMIN + 3; }

std::optional<uint64_t> parse_memory_size(std::string_view text) {
  size_t i = 0;
  uint64_t v = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    if (v > (UINT64_MAX - 9) / 10) return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(text[i] - '0');
  }
  if (i == 0) return std::nullopt;
  std::string unit(text.substr(i));
  for (const char* tail : {"iB", "B"})
    if (unit.size() > std::strlen(tail) && unit.ends_with(tail)) {
      unit.resize(unit.size() - std::strlen(tail));
      break;
    }
  int shift = 0;
  if (unit.empty() || unit == "B") shift = 0;
  else if (unit == "K" || unit == "k") shift = 10;
  else if (unit == "M" || unit == "m") shift = 20;
  else if (unit == "G" || unit == "g") shift = 30;
  else if (unit == "T" || unit == "t") shift = 40;
  else return std::nullopt;
  if (shift > 0 && v > (UINT64_MAX >> shift)) return std::nullopt;
  return v << shift;
}

std::string memory_size_text(uint64_t bytes) {
  static const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  double v = static_cast<double>(bytes);
  while (u < 4 && bytes >= (uint64_t{1} << (10 * (u + 1)))) {
    ++u;
    v /= 1024;
  }
  if (u == 0) return fmt::format("{} bytes", bytes);
  if (v == static_cast<double>(static_cast<uint64_t>(v))) return fmt::format("{} {}", static_cast<uint64_t>(v), units[u]);
  return fmt::format("{:.1f} {}", v, units[u]);
}

namespace {

RepetitionResult run_cell_process(const RepetitionRequest& req) {
  RepetitionResult res;
  // A cell runs this very binary: spawned through /proc/self/exe, which
  // names the running image even when the file it came from has been
  // rebuilt or removed since, so one results file never mixes two builds
  // (its path, resolved once, is only the cell's argv[0]). `ab` names its
  // binaries instead.
  static const std::string self = self_exe();
  const bool own = req.executable.empty();
  const std::string& exe = own ? self : req.executable;
  auto spawn_failure = [&res](const char* call, int err) {
    res.outcome = is_limit_errno(err) ? Outcome::limit : Outcome::failed;
    res.err = err;
    res.message = fmt::format("{}: {}", call, std::strerror(err));
    return res;
  };

  // The result pipe (the cell's fd 3) and its standard error (fd 2).
  int fds[2], errfds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return spawn_failure("pipe2", errno);
  if (pipe2(errfds, O_CLOEXEC) != 0) {
    const int err = errno;
    close(fds[0]);
    close(fds[1]);
    return spawn_failure("pipe2", err);
  }
  std::vector<std::string> args = {exe, "cell", "--workload", req.workload, "--model", req.model,
                                   "--result-fd", "3"};
  for (const auto& [k, v] : req.params) {
    args.push_back("--param");
    args.push_back(k + "=" + v);
  }
  // A model given with --external is unknown to a fresh cmbench: the cell
  // reads its manifest too. (Those of the default folder it finds itself.)
  if (const ModelInfo* m = find_model(req.model); m && m->external && !m->external->from_default_folder) {
    args.push_back("--external");
    args.push_back(m->external->manifest);
  }
  if (req.passes > 1) {
    args.push_back("--passes");
    args.push_back(std::to_string(req.passes));
  }
  // --count instructions: the same command under valgrind, which needs the
  // binary's path (through /proc/self/exe it would find valgrind itself).
  std::optional<CountOutput> count_output;
  if (req.count_instructions) {
    if (auto why = count_unavailable()) {
      close(fds[0]);
      close(fds[1]);
      close(errfds[0]);
      close(errfds[1]);
      res.outcome = Outcome::failed;
      res.message = "--count instructions: " + *why;
      return res;
    }
    try {
      count_output.emplace();
    } catch (const std::system_error& e) {
      close(fds[0]);
      close(fds[1]);
      close(errfds[0]);
      close(errfds[1]);
      return spawn_failure("mkdtemp (callgrind's output folder)", e.code().value());
    }
    std::vector<std::string> command = valgrind_command(count_output->pattern());
    args.insert(args.begin(), command.begin(), command.end());
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  // --keep-core: the cell runs in a fresh folder of its own under the
  // --keep-core folder, where a core named by a relative core_pattern lands.
  std::string core_cwd;
  if (!req.core_dir.empty()) {
    std::string tmpl = req.core_dir + "/.cell-XXXXXX";
    if (mkdtemp(tmpl.data())) core_cwd = tmpl;
  }

  // The child gets the result pipe as fd 3, its standard error through us,
  // and its own process group, so the watchdog can kill it and everything it
  // forked in one call.
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 3);
  posix_spawn_file_actions_adddup2(&fa, errfds[1], 2);
  // And no other descriptor of ours: one the runner inherited without
  // O_CLOEXEC (a shell's, a CI runner's) would otherwise sit in every cell's
  // table, count against its RLIMIT_NOFILE and move the numbers its
  // descriptors get, so that a cell at its descriptor limit ended one way
  // under one parent and another way under the next (libuv's EMFILE
  // shedding, Io/EchoFaults.*AcceptEmfile, told apart by the highest
  // descriptor in use, failed in CI and passed under a shell holding fd 251).
  posix_spawn_file_actions_addclosefrom_np(&fa, 4);
  if (!core_cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, core_cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none, defaults;
  sigemptyset(&none);
  // Signals the runner ignores (SIGXFSZ, so that a file-size limit is an
  // error and not a kill) are the cell's own business.
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGXFSZ);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<std::string> env =
      cell_environment(req, io_fault_library(exe, req.workload + "/" + req.model));
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  if (req.memory_limit_bytes > 0)
    res.memory_limit = {{"bytes", req.memory_limit_bytes}, {"method", "RLIMIT_AS"}};
  const ShmSnapshot shm_before = snapshot_shm();
  pid_t pid = -1;
  const int64_t t0 = now_ns();
  const char* program = count_output ? argv[0] : own ? "/proc/self/exe" : exe.c_str();
  int rc = posix_spawn(&pid, program, &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(fds[1]);
  close(errfds[1]);
  if (rc != 0) {
    close(fds[0]);
    close(errfds[0]);
    if (!core_cwd.empty()) ::rmdir(core_cwd.c_str());
    return spawn_failure("posix_spawn", rc);
  }

  const int64_t deadline = t0 + static_cast<int64_t>(req.timeout_s * 1e9);
  Watchdog watchdog(pid, deadline, req.stop);
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  std::string output;
  StderrCapture err_capture;
  bool eof = false, err_eof = false, exited = false, timed_out = false, interrupted = false;
  long long peak_tree = -1;
  int samples = 0;
  int64_t stopped_since = 0, stopped_ns = 0;
  int64_t next_sample = t0 + 10'000'000;  // first sample after 10 ms
  // Until the child has exited (or the deadline): read its result and its
  // standard error as they come, sample memory and note when it is stopped
  // and continued. EOF alone does not end the wait, and neither must its
  // absence: a unit the cell left behind may hold the pipe open.
  while (!exited && !(eof && pidfd < 0)) {
    int64_t now = now_ns();
    if (now >= deadline) {
      timed_out = true;
      break;
    }
    int64_t wait_until = deadline;
    if (req.sample_tree_memory && !exited) wait_until = std::min(wait_until, next_sample);
    int wait_ms = static_cast<int>(std::max<int64_t>(0, (wait_until - now + 999'999) / 1'000'000));
    // A stop flag set just before poll(), or a SIGSTOP, would otherwise wait
    // until the deadline: look at least ten times a second.
    wait_ms = std::min(wait_ms, 100);
    pollfd pfds[3] = {{eof ? -1 : fds[0], POLLIN, 0},
                      {exited || pidfd < 0 ? -1 : pidfd, POLLIN, 0},
                      {err_eof ? -1 : errfds[0], POLLIN, 0}};
    int n = poll(pfds, 3, pidfd < 0 && eof ? std::min(wait_ms, 10) : wait_ms);
    if (req.stop && *req.stop) {
      interrupted = true;
      break;
    }
    if (n < 0 && errno != EINTR) break;
    if (pfds[0].revents) {
      char buf[65536];
      ssize_t r = read(fds[0], buf, sizeof buf);
      if (r > 0) output.append(buf, static_cast<size_t>(r));
      else if (r == 0 || errno != EINTR) eof = true;
    }
    if (pfds[2].revents) {
      char buf[4096];
      ssize_t r = read(errfds[0], buf, sizeof buf);
      if (r > 0) err_capture.add(buf, static_cast<size_t>(r));
      else if (r == 0 || errno != EINTR) err_eof = true;
    }
    if (pfds[1].revents || (pidfd < 0 && eof)) exited = true;
    // Stopped and continued (job control, a debugger, SIGSTOP): the time in
    // between is wall time in which the cell did not run.
    siginfo_t si{};
    if (!exited && waitid(P_PID, static_cast<id_t>(pid), &si, WSTOPPED | WCONTINUED | WNOHANG) == 0 &&
        si.si_pid == pid) {
      if (si.si_code == CLD_STOPPED && stopped_since == 0) stopped_since = now_ns();
      if (si.si_code == CLD_CONTINUED && stopped_since != 0) {
        stopped_ns += now_ns() - stopped_since;
        stopped_since = 0;
      }
    }
    if (req.sample_tree_memory && !exited && now_ns() >= next_sample) {
      // A tree that is exiting reads as -1 (a zombie has no mappings): not a sample.
      const int64_t s0 = now_ns();
      stall_for_tests();
      long long tree = tree_resident_bytes(pid);
      if (tree > 0) {
        peak_tree = std::max(peak_tree, tree);
        ++samples;
      }
      // A large tree (thousands of processes) takes long to read: space the
      // samples so that reading never takes more than 5% of the time.
      const int64_t took = now_ns() - s0;
      next_sample = now_ns() + std::max<int64_t>(kSampleMs * 1'000'000LL, 20 * took);
    }
  }
  if (timed_out || interrupted) kill(-pid, SIGKILL);
  // The watchdog may have killed the group meanwhile; either way the
  // leader is not reaped yet, so its group id is still ours to signal.
  watchdog.disarm();
  if (watchdog.fired() == Watchdog::Fired::deadline) timed_out = true;
  if (watchdog.fired() == Watchdog::Fired::stop) interrupted = true;
  if (stopped_since != 0) stopped_ns += now_ns() - stopped_since;

  int status = 0;
  rusage ru{};
  while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  res.elapsed_s = static_cast<double>(now_ns() - t0) / 1e9;
  res.stopped_s = static_cast<double>(stopped_ns) / 1e9;
  // The child is gone; whatever it wrote is still in the pipes. Read without
  // blocking, since a leftover grandchild may keep the write ends open.
  for (int fd : {fds[0], errfds[0]}) {
    fcntl(fd, F_SETFL, O_NONBLOCK);
    char buf[65536];
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0) {
      if (fd == fds[0]) output.append(buf, static_cast<size_t>(r));
      else err_capture.add(buf, static_cast<size_t>(r));
    }
  }
  close(fds[0]);
  close(errfds[0]);
  if (pidfd >= 0) close(pidfd);
  const Leftovers leftovers = clean_up_group(pid);
  // After the whole group is gone, so that nothing of the cell holds a segment.
  const std::vector<std::string> leaked_shm = remove_leaked_shm(shm_before);

  res.cell_rusage = {{"cpu_user_s", tv_s(ru.ru_utime)},
                     {"cpu_sys_s", tv_s(ru.ru_stime)},
                     {"ctx_voluntary", ru.ru_nvcsw},
                     {"ctx_involuntary", ru.ru_nivcsw}};
  // The crash handler's record, if the cell wrote one (it follows whatever
  // result the cell wrote before it crashed).
  nlohmann::json crash = take_crash_record(output, own);
  if (!core_cwd.empty()) {
    if (WIFSIGNALED(status) && !timed_out && !interrupted) {
      if (crash.is_null()) crash = nlohmann::json::object();
      crash["core"] = keep_core(req, core_cwd, pid, WCOREDUMP(status));
    } else {
      ::rmdir(core_cwd.c_str());
    }
  }

  if (interrupted) {
    res.interrupted = true;
    res.outcome = Outcome::failed;
    res.message = "interrupted";
    return res;
  }
  nlohmann::json child;
  if (!output.empty()) child = nlohmann::json::parse(output, nullptr, false);
  // What the cell left behind besides processes, one phrase each; a cell
  // that did anything of the kind fails (below), and one that had already
  // failed says so too.
  std::vector<std::string> leaks;
  for (int port : leftovers.listening_ports)
    leaks.push_back(fmt::format("a listening socket on port {} (in a leftover process, closed when it was killed)", port));
  for (const auto& seg : leaked_shm) leaks.push_back(fmt::format("{} behind (it was removed)", seg));
  const std::string leak_text = leaks.empty() ? "" : fmt::format("left {}", fmt::join(leaks, "; left "));
  auto with_leaks = [&](std::string message) {
    if (!leak_text.empty()) message += "; it also " + leak_text;
    return message;
  };
  const std::string limit_text =
      req.memory_limit_bytes > 0 ? fmt::format("a memory limit of {} (RLIMIT_AS)", memory_size_text(req.memory_limit_bytes)) : "";
  if (timed_out) {
    res.outcome = Outcome::timeout;
    res.signal = SIGKILL;
    res.message = with_leaks(fmt::format(
        "no result within the timeout of {} s; the process group was killed", req.timeout_s));
    return res;
  }
  if (WIFSIGNALED(status)) {
    res.outcome = Outcome::crashed;
    res.signal = WTERMSIG(status);
    res.message = fmt::format("killed by signal {} ({})", res.signal, strsignal(res.signal));
    if (!crash.is_null()) {
      res.message += crash_summary(crash);
      res.crash = crash;
    }
    // Running out of address space can end in a signal rather than an
    // error (a failed allocation where nothing may throw aborts).
    if (!limit_text.empty()) res.message += fmt::format("; the cell ran under {}", limit_text);
    res.message = with_leaks(res.message);
    return res;
  }
  if (child.is_discarded() || !child.is_object() || !child.contains("outcome")) {
    res.outcome = Outcome::failed;
    res.message = fmt::format("the cell exited with status {} without a result",
                              WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    if (auto words = last_words(req.model, err_capture.text())) {
      res.outcome = words->outcome;
      res.err = words->err;
      res.message = words->err != 0 ? words->message : res.message + "; it said: " + words->message;
    }
    res.message = with_leaks(res.message);
    return res;
  }
  res.outcome = outcome_from_string(child.value("outcome", "failed")).value_or(Outcome::failed);
  res.message = child.value("message", "");
  res.err = child.value("errno", 0);
  res.notes = child.value("notes", nlohmann::json::object());
  if (child.contains("metrics")) {
    res.metrics = child["metrics"];
    // Memory: the cell's own peak for in-process models; for a process tree
    // the sampled peak of its resident memory with each page counted once
    // (tree_resident_bytes), since RSS would count every shared
    // copy-on-write page once per child.
    long long hwm = child.value("vm_hwm_bytes", -1LL);
    if (req.sample_tree_memory && samples > 0) {
      res.metrics[metrics::memory_peak_bytes.name] = peak_tree;
      res.metrics[metrics::memory_method.name] = fmt::format(
          "tree resident, each page once, sampled every {} ms or more ({} samples)", kSampleMs, samples);
    } else if (req.sample_tree_memory && child.value("tree_resident_bytes", -1LL) > 0) {
      res.metrics[metrics::memory_peak_bytes.name] = child["tree_resident_bytes"];
      res.metrics[metrics::memory_method.name] =
          "tree resident, each page once, read by the cell process at its end, its units reaped: the tree "
          "finished before its first sample";
    } else if (req.sample_tree_memory) {
      res.metrics[metrics::memory_peak_bytes.name] = hwm;
      res.metrics[metrics::memory_method.name] =
          "VmHWM of the cell process only: the tree finished before its first sample";
    } else {
      res.metrics[metrics::memory_peak_bytes.name] = hwm;
      res.metrics[metrics::memory_method.name] = "VmHWM of the cell process";
    }
  }
  // What the harness can re-check of a program outside the build.
  check_external_result(req, res);
  // The counts of an ok repetition's timed region; without them it is no result.
  if (count_output && res.outcome == Outcome::ok && res.metrics.is_object()) {
    try {
      add_count_metrics(res.metrics, parse_callgrind(count_output->read(pid)));
    } catch (const std::runtime_error& e) {
      res.outcome = Outcome::failed;
      res.message = fmt::format("--count instructions: {}", e.what());
    }
  }
  // Memory the limit refused: say which limit, so the outcome reads as the
  // limit's doing and not the machine's. (pthread_create reports a thread
  // stack it could not map as EAGAIN.)
  if (res.outcome == Outcome::limit && !limit_text.empty() && (res.err == ENOMEM || res.err == EAGAIN))
    res.message += fmt::format(" under {}{}", limit_text,
                               res.err == EAGAIN ? ", which thread stacks count against" : "");
  if (res.outcome == Outcome::ok && (leftovers.processes > 0 || !leaks.empty())) {
    res.outcome = Outcome::failed;
    std::vector<std::string> parts;
    if (leftovers.processes > 0)
      parts.push_back(fmt::format("the cell left {} process(es) behind; they were killed", leftovers.processes));
    if (!leak_text.empty()) parts.push_back((parts.empty() ? "the cell " : "it ") + leak_text);
    res.message = fmt::format("{}", fmt::join(parts, "; "));
  } else if (res.outcome != Outcome::ok) {
    res.message = with_leaks(res.message);
  }
  return res;
}

}  // namespace

RepetitionResult run_repetition(const RepetitionRequest& req) {
  if (!req.cross_cpu) return run_cell_process(req);
  const std::optional<double> before = cross_cpu_round_trip_ns();
  RepetitionResult res = run_cell_process(req);
  const std::optional<double> after = cross_cpu_round_trip_ns();
  if (before && after && res.outcome == Outcome::ok && res.metrics.is_object())
    res.metrics[metrics::ref_cross_cpu_ns.name] = (*before + *after) / 2;
  return res;
}

}  // namespace cmbench
