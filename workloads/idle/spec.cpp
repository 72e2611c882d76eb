#include "workloads/idle/spec.hpp"

#include <fmt/format.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <string>

#include "harness/cell/errors.hpp"
#include "harness/cell/fd.hpp"

namespace cmbench::idle {

namespace {

// Descriptors a cell needs beyond one per connection: the standard ones, the
// listener, pipes, epoll, eventfds, /proc reads.
constexpr uint64_t kSpareDescriptors = 256;

uint64_t nr_open() {
  unsigned long long n = 1024 * 1024;
  if (FILE* f = std::fopen("/proc/sys/fs/nr_open", "r")) {
    if (std::fscanf(f, "%llu", &n) != 1) n = 1024 * 1024;
    std::fclose(f);
  }
  return n;
}

// C idle connections with one trickle request each after the first. The
// larger sizes open and close them all in every repetition (seconds of the
// kernel's time for the forking and threaded servers): 3 repetitions and no
// warm-up there; memory per connection, what they measure, varies little.
std::vector<PresetGroup> sizes(std::vector<std::string> conns, std::vector<std::string> large = {}) {
  auto grid = [](std::vector<std::string> c) {
    return Grid{{"connections", std::move(c)}, {"requests", {"1"}}, {"rate", {"20000"}}};
  };
  std::vector<PresetGroup> g{{.grids = {grid(std::move(conns))}}};
  if (!large.empty()) g.push_back({.grids = {grid(std::move(large))}, .repetitions = 3, .warmup = 0});
  return g;
}

}  // namespace

const WorkloadSpec& spec() {
  static const WorkloadSpec s{
      .name = "idle",
      .summary =
      "C TCP connections held open, each served by the model's unit and seeing a trickle of "
      "requests: memory per idle connection, trickle latency, where each model stops",
      .params = {
          ParamDef::integer("connections", "connections held open (C)", 1000, 1, 200'000),
          ParamDef::integer("requests", "trickle requests per connection, after its first", 1, 1, 1000),
          ParamDef::integer("rate", "trickle requests per second, in all (each connection sends "
                                    "one every connections / rate seconds)",
                            20'000, 1, 10'000'000),
      },
      .operation = "trickle request",
      .operations = [](const Params& p) { return p.u("connections") * p.u("requests"); },
      .validate = nullptr,
      .units_param = "connections",
      .presets =
          {
              // 2,000 too, so that the memory fit has three points where the
              // hard RLIMIT_NOFILE (20,000 on the development VM) makes every
              // 50,000 cell a limit; 2,000 rather than 5,000 because every
              // repetition opens and closes all of them (the process model
              // forks a server per connection: 3.4 s a repetition at 5,000,
              // 7 s at 10,000 on the loaded development VM).
              {"default", sizes({"1000"}, {"2000", "10000", "50000"})},
              {"quick", sizes({"1000"})},
              {"full", sizes({"1000", "10000"}, {"50000", "100000"})},
              // The least that runs each code path (connections served and
              // trickled): every repetition costs a cell process and a load
              // generator on each side of the A/B.
              {"ci", {{.grids = {{{"connections", {"20"}}, {"requests", {"1"}}, {"rate", {"20000"}}}}}}},
          },
      .smoke = {{"connections", {"1", "20"}}, {"requests", {"2"}}, {"rate", {"2000"}}},
      .latency_per_operation = true,
      .memory_per_unit = true,
      // One pass per repetition: the figure is memory per live connection
      // (memory_parked with C connections open), read in the first pass
      // only, and every pass would open and close C connections again, the
      // kernel's work the timed region is not about.
      .passes_in_process = false,
      .load_generator = true,  // echo's, a process of its own on the CPUs a pinned cell leaves
  };
  return s;
}

echo::LoadSpec load(const Params& params) {
  const uint64_t c = params.u("connections");
  return {c, c * (1 + params.u("requests")), kRequestBytes, "idle", params.u("rate"), params.u("requests")};
}

std::string raise_fd_limit(uint64_t connections) {
  const rlim_t need = connections + kSpareDescriptors;
  const rlim_t cap = nr_open();  // the kernel's ceiling, even for RLIM_INFINITY
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) throw_errno("getrlimit(RLIMIT_NOFILE)");
  const rlimit before = lim;
  std::string hard_note;
  if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < need) {
    // Only a privileged process may raise the hard limit; otherwise the soft
    // limit stops at the hard one and the model meets EMFILE: a `limit`.
    const rlimit up{std::min(need, cap), std::min(need, cap)};
    if (setrlimit(RLIMIT_NOFILE, &up) == 0) {
      lim = up;
      hard_note = fmt::format("; hard limit raised from {} (privileged)", before.rlim_max);
    } else {
      hard_note = fmt::format("; the hard limit is below the {} needed and could not be raised ({})", need,
                              std::strerror(errno));
    }
  }
  const rlim_t hard = lim.rlim_max == RLIM_INFINITY ? cap : lim.rlim_max;
  if (lim.rlim_cur < hard) {
    lim.rlim_cur = hard;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) throw_errno("setrlimit(RLIMIT_NOFILE)");
  }
  if (lim.rlim_cur < need)
    // No model can hold C connections then, nor can the load generator open
    // them (it inherits this limit): the environment's limit, said at once
    // rather than found after C connections' worth of work.
    throw LimitError(fmt::format("RLIMIT_NOFILE: {} descriptors (hard limit {}) cannot hold the {} that {} "
                                 "connections need on each side, server and load generator{}; raise the "
                                 "hard limit (ulimit -Hn) or run with CAP_SYS_RESOURCE",
                                 lim.rlim_cur, before.rlim_max, need, connections, hard_note),
                     EMFILE);
  reserve_descriptor_table(need);
  return fmt::format("RLIMIT_NOFILE soft {} (was {}), hard {}{}", lim.rlim_cur, before.rlim_cur,
                     lim.rlim_max == RLIM_INFINITY ? std::string("unlimited") : std::to_string(lim.rlim_max),
                     hard_note);
}

std::string limit_message(const Params& params, uint64_t reached, const std::string& call, int err) {
  return fmt::format("{}: {} ({}) after {} of {} connections", call, std::strerror(err), err, reached,
                     params.u("connections"));
}

Verdict verify_accepted(const Params& params, uint64_t accepted) {
  if (accepted != params.u("connections"))
    return Verdict::fail(fmt::format("the server accepted {} connections, expected {}", accepted,
                                     params.u("connections")));
  return Verdict::pass();
}

}  // namespace cmbench::idle
