#include "harness/runner.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "harness/memory.hpp"
#include "harness/probe.hpp"

extern char** environ;

namespace cmbench {

namespace {

// How often the tree's PSS is read while a process-model cell runs. Each
// sample reads one smaps_rollup per process, which walks its page tables, so
// it is kept rare: the sampler runs in this (parent) process, outside the
// cell's rusage, and at this rate costs well under 1% of one core.
constexpr int kSampleMs = 50;

std::string self_exe() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "/proc/self/exe";
  buf[n] = '\0';
  return buf;
}

double tv_s(const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; }

// Kills whatever is left of the cell's process group and reaps every
// orphan this (subreaper) process inherited. Returns how many processes of
// the group were still there.
int clean_up_group(pid_t pgid) {
  int left = 0;
  if (kill(-pgid, 0) == 0) {
    // Count them before killing, for the record.
    std::vector<pid_t> all;
    if (auto* dir = opendir("/proc")) {
      while (auto* ent = readdir(dir)) {
        pid_t p = std::atoi(ent->d_name);
        if (p > 0 && getpgid(p) == pgid) ++left;
      }
      closedir(dir);
    }
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

}  // namespace

void become_subreaper() { prctl(PR_SET_CHILD_SUBREAPER, 1); }

RepetitionResult run_repetition(const RepetitionRequest& req) {
  RepetitionResult res;
  static const std::string self = self_exe();
  const std::string& exe = req.executable.empty() ? self : req.executable;

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
  pid_t pid = -1;
  const int64_t t0 = now_ns();
  int rc = posix_spawn(&pid, exe.c_str(), &fa, &attr, argv.data(), environ);
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
  int leftovers = clean_up_group(pid);

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
  if (timed_out) {
    res.outcome = Outcome::timeout;
    res.signal = SIGKILL;
    res.message = fmt::format("no result within the timeout of {} s; the process group was killed",
                              req.timeout_s);
    return res;
  }
  if (WIFSIGNALED(status)) {
    res.outcome = Outcome::crashed;
    res.signal = WTERMSIG(status);
    res.message = fmt::format("killed by signal {} ({})", res.signal, strsignal(res.signal));
    return res;
  }
  if (child.is_discarded() || !child.is_object() || !child.contains("outcome")) {
    res.outcome = Outcome::failed;
    res.message = fmt::format("the cell exited with status {} without a result",
                              WIFEXITED(status) ? WEXITSTATUS(status) : -1);
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
  if (leftovers > 0 && res.outcome == Outcome::ok) {
    res.outcome = Outcome::failed;
    res.message = fmt::format("the cell left {} process(es) behind; they were killed", leftovers);
  }
  return res;
}

}  // namespace cmbench
