#pragma once
// Helpers for tests that run the real cmbench binary.
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace cmbench::testing {

inline const char* binary() { return CMBENCH_BINARY; }

struct CommandResult {
  int status = -1;  // exit status, or -1 when killed
  std::string out, err;
};

// Runs `args` (a shell command line after the binary) with stdout and
// stderr captured separately.
inline CommandResult run_cmbench(const std::string& args, const std::string& env = "") {
  char tmpl[] = "/tmp/cmbench-cmd-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string cmd = env + " " + binary() + " " + args + " >" + dir + "/out 2>" + dir + "/err";
  CommandResult r;
  int st = std::system(cmd.c_str());
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  auto slurp = [](const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  r.out = slurp(dir + "/out");
  r.err = slurp(dir + "/err");
  std::system(("rm -rf " + dir).c_str());
  // CMBENCH_TEST_INVOCATIONS=FILE appends each invocation's exit status and
  // command line to FILE: how the closing notes count the bad inputs and
  // faults the tests try (docs/testing.md).
  if (const char* log = std::getenv("CMBENCH_TEST_INVOCATIONS"); log && *log)
    std::ofstream(log, std::ios::app) << r.status << '\t' << env << (env.empty() ? "" : " ") << args << '\n';
  return r;
}

// Processes whose initial environment holds `token`: the processes a test's
// cells created, wherever they were re-parented to.
inline std::vector<int> processes_with_env(const std::string& token) {
  std::vector<int> found;
  if (DIR* d = opendir("/proc")) {
    while (dirent* e = readdir(d)) {
      int pid = std::atoi(e->d_name);
      if (pid <= 0 || pid == getpid()) continue;
      std::ifstream in(std::string("/proc/") + e->d_name + "/environ");
      std::string env((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (env.find(token) != std::string::npos) {
        // A zombie has no environment left to read; one that is still there
        // is a live process.
        found.push_back(pid);
      }
    }
    closedir(d);
  }
  return found;
}

}  // namespace cmbench::testing
