#include "workloads/blocking/spec.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <vector>

namespace cmbench::blocking {

namespace {

// B blockers of K one-millisecond calls beside two bystander pairs, inline
// and with the model's pool, in every model.
std::vector<PresetGroup> sizes(const std::string& calls) {
  return {{.grids = {{{"blockers", {"4"}}, {"calls", {calls}}, {"delay_us", {"1000"}},
                      {"pairs", {"2"}}, {"offload", {"inline", "pool"}}}}}};
}

}  // namespace

const WorkloadSpec& spec() {
  static const WorkloadSpec s{
      .name = "blocking",
      .summary =
      "B units make calls that block their OS thread (nanosleep) while bystander pairs ping-pong: "
      "inline vs offloaded to the model's pool; bystander latency, blocking throughput, OS threads",
      .params = {
          ParamDef::integer("blockers", "units making blocking calls (B)", 4, 1, 1000),
          ParamDef::integer("calls", "blocking calls per blocker (K)", 50, 1, 1'000'000),
          ParamDef::integer("delay_us", "microseconds each call blocks", 1000, 1, 1'000'000),
          ParamDef::integer("pairs", "bystander ping-pong pairs (P)", 2, 0, 64),
          ParamDef::choice("offload",
                           "inline: the unit makes the call itself; pool: the model's idiomatic "
                           "offload (uv_queue_work, asio::post to a thread pool, a worker thread "
                           "and a fiber future, fiber::offload; Go, threads and processes: the same "
                           "as inline)",
                           "inline", {"inline", "pool"}),
      },
      .operation = "blocking call",
      .operations = [](const Params& p) { return p.u("blockers") * p.u("calls"); },
      .validate = nullptr,
      .units_param = "blockers",
      .presets =
          {
              // Default: 100 ms of blocking calls per blocker, long against
              // a bystander's round trip and the 10-20 ms Go takes to hand
              // off a blocked P, short enough for the matrix's ten minutes.
              {"default", sizes("25")},
              {"quick", sizes("10")},
              {"full", sizes("200")},
              // The least that runs each code path: every repetition costs a
              // cell process on each side of the A/B.
              {"ci", {{.grids = {{{"blockers", {"1"}}, {"calls", {"3"}}, {"delay_us", {"100"}},
                                  {"pairs", {"1"}}, {"offload", {"inline", "pool"}}}}}}},
          },
      .smoke = {{"blockers", {"1", "3"}},
                {"calls", {"3"}},
                {"delay_us", {"300"}},
                {"pairs", {"0", "2"}},
                {"offload", {"inline", "pool"}}},
      // One pass per repetition: os_threads_peak counts the threads of the
      // cell process, and threads an earlier pass started would count again
      // in the next (Go never gives back an M it started for a blocked
      // system call; a pool keeps its threads). A pass is at least
      // calls x delay_us long anyway, so one run is a timed region long
      // enough to measure.
      .passes_in_process = false,
      .own_threads = true,  // the offload pools
  };
  return s;
}

bool pool_offload(const Params& params) { return params.s("offload") == "pool"; }

int64_t blocking_call(int64_t delay_ns) noexcept {
  const int64_t start = now_ns();
  timespec req{static_cast<time_t>(delay_ns / 1'000'000'000), static_cast<long>(delay_ns % 1'000'000'000)};
  timespec rem{};
  // The system call itself, not a library's or a runtime's sleep: nothing
  // between the caller and the kernel can turn it into a park.
  while (::syscall(SYS_nanosleep, &req, &rem) != 0 && errno == EINTR) req = rem;
  return now_ns() - start;
}

uint64_t threads_now() noexcept {
  // /proc/self/stat: "pid (comm) state ppid ..."; num_threads is field 20,
  // the 18th after the closing parenthesis of comm (which may itself hold
  // spaces and parentheses, hence the last one).
  const int fd = ::open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[1024];
  ssize_t n;
  do {
    n = ::read(fd, buf, sizeof buf - 1);
  } while (n < 0 && errno == EINTR);
  ::close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');
  if (!p) return 0;
  ++p;
  for (int field = 3; field < 20 && *p; ++field) {  // skips fields 3..19
    while (*p == ' ') ++p;
    while (*p && *p != ' ') ++p;
  }
  return std::strtoull(p, nullptr, 10);
}

void ThreadPeak::observe(uint64_t n) noexcept {
  uint64_t cur = peak_.load(std::memory_order_relaxed);
  while (n > cur && !peak_.compare_exchange_weak(cur, n, std::memory_order_relaxed)) {
  }
}

void ThreadPeak::sample() noexcept { observe(threads_now()); }

namespace {

// The threads of one process: the entries of /proc/<pid>/task.
std::vector<pid_t> tasks_of(pid_t pid) {
  std::vector<pid_t> tids;
  const std::string dir = fmt::format("/proc/{}/task", pid);
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') tids.push_back(static_cast<pid_t>(std::atoi(e->d_name)));
    ::closedir(d);
  }
  return tids;
}

}  // namespace

uint64_t tree_threads(pid_t root) {
  const std::vector<pid_t> tids = tasks_of(root);
  uint64_t total = tids.size();
  // Every thread lists the children it forked.
  for (pid_t tid : tids) {
    std::ifstream in(fmt::format("/proc/{}/task/{}/children", root, tid));
    for (pid_t child; in >> child;) total += tree_threads(child);
  }
  return total;
}

Verdict verify(const Params& params, std::span<const Tally> blockers,
               std::span<const bystanders::Tally> pairs, std::span<const Histogram> hists) {
  const uint64_t k = params.u("calls");
  if (blockers.size() != params.u("blockers"))
    return Verdict::fail(fmt::format("expected {} blockers, got {}", params.u("blockers"), blockers.size()));
  for (size_t b = 0; b < blockers.size(); ++b) {
    if (blockers[b].early != 0)
      return Verdict::fail(fmt::format("blocker {}: {} of its calls returned before {} us had passed: "
                                       "they did not block",
                                       b, blockers[b].early, params.u("delay_us")));
    if (blockers[b].calls != k)
      return Verdict::fail(fmt::format("blocker {} made {} calls, expected {}", b, blockers[b].calls, k));
  }
  if (pairs.size() != params.u("pairs"))
    return Verdict::fail(fmt::format("expected {} bystander pairs, got {}", params.u("pairs"), pairs.size()));
  return bystanders::verify(pairs, hists);
}

void report(Probe& probe, const Params& params, std::span<const bystanders::Tally> pairs,
            uint64_t os_threads_peak, const std::string& how) {
  const double wall = probe.metrics().value("wall_s", 0.0);
  const double calls = static_cast<double>(params.u("blockers") * params.u("calls"));
  if (wall > 0) {
    probe.metric("blocking_calls_per_s", calls / wall);
    probe.metric("bystander_round_trips_per_s", static_cast<double>(bystanders::round_trips(pairs)) / wall);
  }
  probe.metric("os_threads_peak", static_cast<double>(os_threads_peak));
  probe.note("blocking_call", fmt::format("nanosleep(2) of {} us through syscall(SYS_nanosleep)",
                                          params.u("delay_us")));
  probe.note("offload", how);
  probe.note("bystander_round_trips", bystanders::round_trips(pairs));
}

}  // namespace cmbench::blocking
