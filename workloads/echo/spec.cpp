#include "workloads/echo/spec.hpp"

#include <fmt/format.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>

#include "harness/cell/errors.hpp"
#include "harness/cell/fd.hpp"

namespace cmbench::echo {

namespace {

// The closed loop at each number of connections, and the open loop at 100
// connections and 20,000 requests a second. The default sizes keep the
// default matrix within its 10 minutes: 40,000 closed-loop requests still time
// 0.2 to 0.6 s per repetition on the 2-core development VM (above the 0.1 s
// minimum time), and 10,000 open-loop requests at 20,000/s are 0.5 s, with
// enough samples for p99.9.
std::vector<PresetGroup> sizes(std::vector<std::string> connections, std::string requests,
                               std::string open_requests) {
  return {{.grids = {{{"connections", std::move(connections)},
                      {"requests", {std::move(requests)}},
                      {"loop", {"closed"}}},
                     {{"connections", {"100"}},
                      {"requests", {std::move(open_requests)}},
                      {"loop", {"open"}},
                      {"rate", {"20000"}}}}}};
}

}  // namespace

const WorkloadSpec& spec() {
  static const WorkloadSpec s{
      .name = "echo",
      .summary = "a TCP echo server on 127.0.0.1 in each model under one load generator: "
                 "requests/s, latency, server CPU and memory",
      .params =
          {
              ParamDef::integer("connections", "concurrent connections (C)", 100, 1, 100'000),
              ParamDef::integer("requests", "requests in total, split over the connections",
                                100'000, 1, 1'000'000'000),
              ParamDef::integer("size", "bytes per request and per response (S)", 64, 1, 65'536),
              ParamDef::choice("loop", "closed: send on response; open: send at a fixed rate",
                               "closed", {"closed", "open"}),
              ParamDef::integer("rate", "open loop: requests per second in total", 20'000, 1,
                                10'000'000),
          },
      .operation = "request",
      .operations = [](const Params& p) { return p.u("requests"); },
      // An open loop counts the requests that completed in its time.
      .operations_exact = false,
      .validate = [](const Params& p) -> std::optional<std::string> {
        if (p.u("requests") < p.u("connections"))
          return fmt::format("parameter 'requests': {} is fewer than connections ({}); accepted: "
                             "requests >= connections",
                             p.u("requests"), p.u("connections"));
        return std::nullopt;
      },
      .units_param = "connections",
      .presets =
          {
              {"default", sizes({"10", "100", "1000"}, "40000", "10000")},
              {"quick", sizes({"100"}, "10000", "2000")},
              {"full", sizes({"10", "100", "1000", "10000"}, "200000", "20000")},
              {"ci",
               {{.grids = {{{"connections", {"10"}},
                            {"requests", {"5000"}},
                            {"loop", {"closed"}}}}}}},
          },
      .smoke = {{"connections", {"1", "8"}},
                {"requests", {"200"}},
                {"loop", {"closed", "open"}},
                {"rate", {"2000"}}},
      .latency_per_operation = true,
      .passes_in_process = false,  // N fresh units is the figure (registry.hpp)
      .load_generator = true,      // a process of its own, on the CPUs a pinned cell leaves
  };
  return s;
}

int64_t open_descriptors() {
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  int64_t n = 0;
  while (const dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n - 1;  // the directory's own descriptor
}

uint64_t raise_fd_limit(uint64_t connections) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) throw_errno("getrlimit(RLIMIT_NOFILE)");
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    // An unlimited hard limit still stops at the kernel's fs.nr_open.
    if (lim.rlim_max == RLIM_INFINITY) {
      unsigned long long nr_open = 1024 * 1024;
      if (FILE* f = std::fopen("/proc/sys/fs/nr_open", "r")) {
        if (std::fscanf(f, "%llu", &nr_open) != 1) nr_open = 1024 * 1024;
        std::fclose(f);
      }
      lim.rlim_cur = nr_open;
    }
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) throw_errno("setrlimit(RLIMIT_NOFILE)");
  }
  // The connections and what else is open (the listener, the reactor, the
  // harness's pipes).
  reserve_descriptor_table(connections + 64);
  return static_cast<uint64_t>(lim.rlim_cur);
}

int listen_loopback(int backlog, int socket_flags, uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | socket_flags, 0);
  if (fd < 0) throw_errno("socket (listener)");
  // Closes the descriptor when a later step throws; never retries close().
  struct Guard {
    int fd;
    bool keep = false;
    ~Guard() {
      if (!keep) ::close(fd);
    }
  } guard{fd};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    throw_errno("bind (127.0.0.1:0)");
  if (::listen(fd, backlog) != 0) throw_errno("listen");
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) throw_errno("getsockname");
  port = ntohs(addr.sin_port);
  guard.keep = true;
  return fd;
}

}  // namespace cmbench::echo
