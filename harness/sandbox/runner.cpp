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
#include <climits>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include "harness/cell/errors.hpp"
#include "harness/cell/memory.hpp"
#include "harness/cell/probe.hpp"

extern char** environ;

namespace cmbench {

namespace {

// How often the tree's PSS is read while a process-model cell runs. Each
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
  // Reap orphans re-parented to us; give the kernel a moment to deliver the
  // kills, but never wait long.
  for (int i = 0; i < 200; ++i) {
    int status;
    pid_t r = waitpid(-1, &status, WNOHANG);
    if (r > 0) continue;
    if (r < 0 && errno == ECHILD) break;
    if (kill(-pgid, 0) != 0) break;
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

// The environment of the cell: this process's, with the memory limit (or
// its absence) stated explicitly, so a limit in our own environment never
// leaks into a cell that was not given one.
std::vector<std::string> cell_environment(uint64_t memory_limit) {
  std::vector<std::string> env;
  const std::string prefix = std::string(kMemoryLimitEnv) + "=";
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, prefix.c_str(), prefix.size()) != 0) env.emplace_back(*e);
  if (memory_limit > 0) env.push_back(prefix + std::to_string(memory_limit));
  return env;
}

}  // namespace

void become_subreaper() { prctl(PR_SET_CHILD_SUBREAPER, 1); }

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

RepetitionResult run_repetition(const RepetitionRequest& req) {
  RepetitionResult res;
  // A cell runs this very binary: spawned through /proc/self/exe, which
  // names the running image even when the file it came from has been
  // rebuilt or removed since, so one results file never mixes two builds
  // (its path, resolved once, is only the cell's argv[0]). `ab` names its
  // binaries instead.
  static const std::string self = self_exe();
  const bool own = req.executable.empty();
  const std::string& exe = own ? self : req.executable;

  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    res.outcome = Outcome::failed;
    res.err = errno;
    res.message = fmt::format("pipe2: {}", std::strerror(errno));
    return res;
  }
  std::vector<std::string> args = {exe, "cell", "--workload", req.workload, "--model", req.model,
                                   "--result-fd", "3"};
  for (const auto& [k, v] : req.params) {
    args.push_back("--param");
    args.push_back(k + "=" + v);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  // The child gets the result pipe as fd 3 and its own process group, so
  // the watchdog can kill it and everything it forked in one call.
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
  std::vector<std::string> env = cell_environment(req.memory_limit_bytes);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  if (req.memory_limit_bytes > 0)
    res.memory_limit = {{"bytes", req.memory_limit_bytes}, {"method", "RLIMIT_AS"}};
  const ShmSnapshot shm_before = snapshot_shm();
  pid_t pid = -1;
  const int64_t t0 = now_ns();
  int rc = posix_spawn(&pid, own ? "/proc/self/exe" : exe.c_str(), &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    res.outcome = Outcome::failed;
    res.err = rc;
    res.message = fmt::format("posix_spawn: {}", std::strerror(rc));
    return res;
  }

  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  std::string output;
  bool eof = false, exited = false, timed_out = false, interrupted = false;
  long long peak_pss = -1;
  int samples = 0;
  const int64_t deadline = t0 + static_cast<int64_t>(req.timeout_s * 1e9);
  int64_t next_sample = t0 + 10'000'000;  // first sample after 10 ms
  // Until the child has exited (or the deadline): read its result as it
  // comes and sample memory. EOF alone does not end the wait, and neither
  // must its absence: a unit the cell left behind may hold the pipe open.
  while (!exited && !(eof && pidfd < 0)) {
    int64_t now = now_ns();
    if (now >= deadline) {
      timed_out = true;
      break;
    }
    int64_t wait_until = deadline;
    if (req.sample_tree_memory && !exited) wait_until = std::min(wait_until, next_sample);
    int wait_ms = static_cast<int>(std::max<int64_t>(0, (wait_until - now + 999'999) / 1'000'000));
    // A stop flag set just before poll() would otherwise wait until the
    // deadline: look at it at least ten times a second.
    if (req.stop) wait_ms = std::min(wait_ms, 100);
    pollfd pfds[2] = {{eof ? -1 : fds[0], POLLIN, 0}, {exited || pidfd < 0 ? -1 : pidfd, POLLIN, 0}};
    int n = poll(pfds, 2, pidfd < 0 && eof ? std::min(wait_ms, 10) : wait_ms);
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
    if (pfds[1].revents || (pidfd < 0 && eof)) exited = true;
    if (req.sample_tree_memory && !exited && now_ns() >= next_sample) {
      // A tree that is exiting reads as -1 (a zombie has no mappings): not a sample.
      const int64_t s0 = now_ns();
      long long pss = tree_pss_bytes(pid);
      if (pss > 0) {
        peak_pss = std::max(peak_pss, pss);
        ++samples;
      }
      // A large tree (thousands of processes) takes long to read: space the
      // samples so that reading never takes more than 5% of the time.
      const int64_t took = now_ns() - s0;
      next_sample = now_ns() + std::max<int64_t>(kSampleMs * 1'000'000LL, 20 * took);
    }
  }
  if (timed_out || interrupted) kill(-pid, SIGKILL);

  int status = 0;
  rusage ru{};
  while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  res.elapsed_s = static_cast<double>(now_ns() - t0) / 1e9;
  if (!eof) {
    // The child is gone; whatever it wrote is still in the pipe. Read without
    // blocking, since a leftover grandchild may keep the write end open.
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    char buf[65536];
    ssize_t r;
    while ((r = read(fds[0], buf, sizeof buf)) > 0) output.append(buf, static_cast<size_t>(r));
  }
  close(fds[0]);
  if (pidfd >= 0) close(pidfd);
  const Leftovers leftovers = clean_up_group(pid);
  // After the whole group is gone, so that nothing of the cell holds a segment.
  const std::vector<std::string> leaked_shm = remove_leaked_shm(shm_before);

  res.cell_rusage = {{"cpu_user_s", tv_s(ru.ru_utime)},
                     {"cpu_sys_s", tv_s(ru.ru_stime)},
                     {"ctx_voluntary", ru.ru_nvcsw},
                     {"ctx_involuntary", ru.ru_nivcsw}};

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
    // Running out of address space can end in a signal rather than an
    // error (a failed allocation where nothing may throw aborts).
    if (!limit_text.empty()) res.message += fmt::format("; the cell ran under {}", limit_text);
    res.message = with_leaks(res.message);
    return res;
  }
  if (child.is_discarded() || !child.is_object() || !child.contains("outcome")) {
    res.outcome = Outcome::failed;
    res.message = with_leaks(fmt::format("the cell exited with status {} without a result",
                                         WIFEXITED(status) ? WEXITSTATUS(status) : -1));
    return res;
  }
  res.outcome = outcome_from_string(child.value("outcome", "failed")).value_or(Outcome::failed);
  res.message = child.value("message", "");
  res.err = child.value("errno", 0);
  res.notes = child.value("notes", nlohmann::json::object());
  if (child.contains("metrics")) {
    res.metrics = child["metrics"];
    // Memory: the cell's own peak for in-process models; for a process tree
    // the sampled peak of summed PSS, since RSS would count every shared
    // copy-on-write page once per child.
    long long hwm = child.value("vm_hwm_bytes", -1LL);
    if (req.sample_tree_memory && samples > 0) {
      res.metrics["memory_peak_bytes"] = peak_pss;
      res.metrics["memory_method"] = fmt::format(
          "tree PSS, sampled every {} ms or more ({} samples)", kSampleMs, samples);
    } else if (req.sample_tree_memory) {
      res.metrics["memory_peak_bytes"] = hwm;
      res.metrics["memory_method"] =
          "VmHWM of the cell process only: the tree finished before its first PSS sample";
    } else {
      res.metrics["memory_peak_bytes"] = hwm;
      res.metrics["memory_method"] = "VmHWM of the cell process";
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

}  // namespace cmbench
