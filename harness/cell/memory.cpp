#include "harness/cell/memory.hpp"

#include <dirent.h>
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace cmbench {

namespace {

void children_of(pid_t pid, std::vector<pid_t>& out) {
  // Every thread of `pid` lists the children it forked.
  std::string task_dir = fmt::format("/proc/{}/task", pid);
  std::vector<pid_t> tids;
  if (auto* dir = opendir(task_dir.c_str())) {
    while (auto* ent = readdir(dir))
      if (ent->d_name[0] != '.') tids.push_back(std::atoi(ent->d_name));
    closedir(dir);
  }
  for (pid_t tid : tids) {
    std::ifstream in(fmt::format("{}/{}/children", task_dir, tid));
    pid_t child;
    while (in >> child) {
      out.push_back(child);
      children_of(child, out);
    }
  }
}

// The PSS of `pid`'s anonymous and shared-memory pages, in bytes (-1 when
// it is gone): the pages a process tree shares only within itself.
long long own_pss_of(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/smaps_rollup", pid));
  long long kb = 0;
  int found = 0;
  std::string line;
  while (std::getline(in, line) && found < 2) {
    if (line.rfind("Pss_Anon:", 0) == 0 || line.rfind("Pss_Shmem:", 0) == 0) {
      kb += std::atoll(line.c_str() + line.find(':') + 1);
      ++found;
    }
  }
  return found == 2 ? kb * 1024 : -1;
}

long long field_kb(const std::string& path, const char* field) {
  std::ifstream in(path);
  std::string line;
  const size_t n = std::strlen(field);
  while (std::getline(in, line))
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':')
      return std::atoll(line.c_str() + n + 1);
  return -1;
}

}  // namespace

long long tree_resident_bytes(pid_t root) {
  long long total = own_pss_of(root);
  const long long file_kb = field_kb(fmt::format("/proc/{}/status", root), "RssFile");
  if (total < 0 || file_kb < 0) return -1;
  total += file_kb * 1024;
  std::vector<pid_t> kids;
  children_of(root, kids);
  for (pid_t k : kids) {
    long long p = own_pss_of(k);
    if (p > 0) total += p;
  }
  return total;
}

long long proc_status_bytes(const char* pid, const char* field) {
  long long kb = field_kb(fmt::format("/proc/{}/status", pid), field);
  return kb < 0 ? -1 : kb * 1024;
}

KernelMemory read_kernel_memory() {
  KernelMemory k;
  k.kernel_stack = field_kb("/proc/meminfo", "KernelStack") * 1024;
  k.page_tables = field_kb("/proc/meminfo", "PageTables") * 1024;
  k.slab = field_kb("/proc/meminfo", "Slab") * 1024;
  return k;
}

}  // namespace cmbench
