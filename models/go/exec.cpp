#include "models/go/exec.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "harness/cell/errors.hpp"

#ifndef CMBENCH_GO_BINARY
#error "CMBENCH_GO_BINARY must name the cmbench-go binary (models/go/CMakeLists.txt defines it)"
#endif

namespace cmbench::models::go {

namespace {

// The cell's own arguments, from /proc/self/cmdline: run() is not given the
// result descriptor, and the Go program must write to the same one.
std::vector<std::string> own_arguments() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string all{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  std::vector<std::string> args;
  size_t start = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    if (all[i] == '\0') {
      args.push_back(all.substr(start, i - start));
      start = i + 1;
    }
  }
  return args;
}

// The value of one of the cell's own flags (CLI11 accepts "--flag N" and
// "--flag=N"); `absent` when it was not given.
std::string own_flag(const std::string& flag, const std::string& absent) {
  const std::vector<std::string> args = own_arguments();
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == flag && i + 1 < args.size()) return args[i + 1];
    if (args[i].rfind(flag + "=", 0) == 0) return args[i].substr(flag.size() + 1);
  }
  return absent;
}

// The Go runtime reserves about 680 MiB of address space when it starts (the
// heap's page-summary and arena index mappings, PROT_NONE until used), before
// any goroutine exists: under a lower RLIMIT_AS it aborts at once ("failed to
// reserve page summary memory"). Rather than that crash, a memory limit below
// this is refused as the resource it is.
constexpr rlim_t kMinAddressSpace = rlim_t{1} << 30;

void check_memory_limit() {
  rlimit as{};
  if (getrlimit(RLIMIT_AS, &as) != 0 || as.rlim_cur == RLIM_INFINITY || as.rlim_cur >= kMinAddressSpace)
    return;
  throw LimitError(
      "the Go runtime reserves about 680 MiB of address space when it starts, before any goroutine "
      "exists, so the go model needs at least 1 GiB and cannot run",
      ENOMEM);
}

}  // namespace

std::string binary() {
  if (const char* env = std::getenv("CMBENCH_GO_BINARY"); env && *env) return env;
  return CMBENCH_GO_BINARY;
}

void exec_cell(const std::string& workload, const Params& params) {
  check_memory_limit();
  const std::string exe = binary();
  std::vector<std::string> args = {exe, "cell", "--workload", workload, "--model", "go"};
  for (const auto& [key, value] : params.all()) {
    args.push_back("--param");
    args.push_back(key + "=" + value);
  }
  args.push_back("--result-fd");
  args.push_back(own_flag("--result-fd", "1"));
  args.push_back("--passes");
  args.push_back(own_flag("--passes", "1"));
  // echo's load generator is cmbench's own (`cmbench loadgen`), so every
  // model is measured by the same client.
  args.push_back("--cmbench");
  args.push_back(self_exe());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The cell dies with the runner (harness/sandbox/cell.cpp), but its
  // handler does not survive the exec and the Go runtime catches and drops
  // the signal it was sent: SIGKILL instead, which nothing catches. The Go
  // program puts nothing else in the cell's process group (its load
  // generator has a session of its own and a lifeline).
  if (const char* runner = std::getenv("CMBENCH_RUNNER_PID"); runner && *runner)
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  ::execv(exe.c_str(), argv.data());
  const int err = errno;
  throw_errno("execv " + exe + " (the go model's program; set CMBENCH_GO_BINARY to move it)", err);
}

}  // namespace cmbench::models::go
