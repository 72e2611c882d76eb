#include "harness/cell/cpus.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <system_error>

namespace cmbench {

std::string cpu_list(const cpu_set_t& set) {
  std::string out;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &set)) fmt::format_to(std::back_inserter(out), "{}{}", out.empty() ? "" : ",", cpu);
  return out;
}

CpuMove apply_load_generator_cpus() {
  const char* env = std::getenv(kLoadGenCpusEnv);
  if (!env || !*env) return {};
  const std::string text = env;
  cpu_set_t set;
  CPU_ZERO(&set);
  // A number, then a comma and a number, and so on to the end.
  for (const char *at = text.data(), *end = text.data() + text.size();; ++at) {
    int cpu = -1;
    const auto [next, ec] = std::from_chars(at, end, cpu);
    if (ec != std::errc() || cpu < 0 || cpu >= CPU_SETSIZE || (next != end && *next != ','))
      return {fmt::format("{}='{}' is not accepted; accepted: CPU numbers separated by commas, e.g. 1,3",
                          kLoadGenCpusEnv, text),
              EINVAL};
    CPU_SET(cpu, &set);
    if (next == end) break;
    at = next;
  }
  if (sched_setaffinity(0, sizeof set, &set) != 0) {
    const int err = errno;
    return {fmt::format("{}={}: sched_setaffinity: {}", kLoadGenCpusEnv, text, std::strerror(err)), err};
  }
  return {};
}

}  // namespace cmbench
