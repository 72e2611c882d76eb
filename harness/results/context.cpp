#include "harness/results/context.hpp"

#include <boost/version.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <sched.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness/stats/stats.hpp"

#include "build_info.hpp"  // generated: CMBENCH_GIT_COMMIT, CMBENCH_GIT_DIRTY

namespace cmbench {

namespace {

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(line.find_first_not_of(' ', colon + 1));
    }
  return "unknown";
}

// The virtio balloon's feature bits, or "" when the machine has none.
std::string balloon_features() {
  std::error_code ec;
  for (const auto& dev : std::filesystem::directory_iterator("/sys/bus/virtio/devices", ec))
    if (first_line((dev.path() / "device").string()) == "0x0005")  // VIRTIO_ID_BALLOON
      return first_line((dev.path() / "features").string());
  return "";
}

// The largest order of the buddy allocator: the number of per-order columns
// of /proc/buddyinfo, less one (10 on x86-64).
int max_page_order() {
  std::ifstream in("/proc/buddyinfo");
  std::string line;
  if (!std::getline(in, line)) return -1;
  const std::size_t zone_at = line.find("zone");
  if (zone_at == std::string::npos) return -1;
  std::istringstream words(line.substr(zone_at + 4));
  std::string zone, count;
  words >> zone;
  int columns = 0;
  while (words >> count) ++columns;
  return columns - 1;
}

}  // namespace

nlohmann::json describe_free_page_reporting(const std::string& balloon_features,
                                            const std::string& reporting_order, int max_order) {
  constexpr std::size_t kReportingBit = 5;  // VIRTIO_BALLOON_F_REPORTING
  if (balloon_features.size() <= kReportingBit || balloon_features[kReportingBit] != '1') return nullptr;
  int order = -1;
  const char* last = reporting_order.data() + reporting_order.size();
  const auto [end, err] = std::from_chars(reporting_order.data(), last, order);
  if (err != std::errc() || end != last || order < 0 || max_order < 0) return nullptr;
  return {{"on", order <= max_order}, {"page_reporting_order", order}, {"max_order", max_order}};
}

namespace {

// A field of the record describe_free_page_reporting() makes, read from a
// file that may have been edited: a number, else -1.
long long order_field(const nlohmann::json& r, const char* key) {
  const auto it = r.find(key);
  return it != r.end() && it->is_number_integer() ? it->get<long long>() : -1;
}

}  // namespace

bool host_reclaims_free_memory(const nlohmann::json& context) {
  if (!context.is_object()) return false;
  const auto it = context.find("free_page_reporting");
  if (it == context.end() || !it->is_object()) return false;
  const auto on = it->find("on");
  return on != it->end() && on->is_boolean() && on->get<bool>();
}

std::string free_page_reporting_text(const nlohmann::json& context) {
  if (!context.is_object() || !context.contains("free_page_reporting")) return "not recorded";
  const auto& r = context["free_page_reporting"];
  if (!r.is_object()) return "none";
  if (host_reclaims_free_memory(context))
    return fmt::format("on: the guest hands free blocks of order {} and up back to its host",
                       order_field(r, "page_reporting_order"));
  return fmt::format("off: page_reporting_order {} is above the largest order, {}",
                     order_field(r, "page_reporting_order"), order_field(r, "max_order"));
}

std::string host_reclaim_note(const nlohmann::json& context) {
  const auto& r = context.at("free_page_reporting");
  return fmt::format(
      "This VM hands freed memory back to its host (virtio-balloon free page reporting, blocks of order {} and "
      "up): the first touch of a page the host took back faults in the host as well, so the cells whose time is "
      "mostly first-touch page faults (spawn, and any cell that touches much fresh memory) vary from run to run "
      "with how much the host reclaimed since the last cell: 1.3 to 6.1 us per page on the development VM. As "
      "root, `echo {} > /sys/module/page_reporting/parameters/page_reporting_order` turns it off until the next "
      "boot (results/README.md, \"Memory a VM hands back\").",
      order_field(r, "page_reporting_order"), order_field(r, "max_order") + 1);
}

std::optional<MachineSteadiness> machine_steadiness(const nlohmann::json& run_doc) {
  std::vector<double> cvs;
  if (run_doc.is_object() && run_doc.contains("cells") && run_doc["cells"].is_array()) {
    for (const auto& c : run_doc["cells"]) {
      if (!c.is_object() || c.value("outcome", "") != "ok") continue;
      if (!c.contains("repetitions") || !c["repetitions"].is_array() || c["repetitions"].size() < 3) continue;
      const auto* loop = c.contains("aggregates") && c["aggregates"].is_object() && c["aggregates"].contains("ref_loop_ns")
                             ? &c["aggregates"]["ref_loop_ns"]
                             : nullptr;
      if (loop && loop->is_object() && loop->contains("cv") && (*loop)["cv"].is_number())
        cvs.push_back((*loop)["cv"].get<double>());
    }
  }
  if (cvs.empty()) return std::nullopt;
  std::sort(cvs.begin(), cvs.end());
  MachineSteadiness s;
  s.cells = cvs.size();
  s.median_cv = median(cvs);
  // Nearest rank: the smallest value with at least 90% of them at or below it.
  s.p90_cv = cvs[static_cast<size_t>(std::ceil(0.9 * static_cast<double>(cvs.size()))) - 1];
  s.above = static_cast<size_t>(std::count_if(cvs.begin(), cvs.end(), [](double v) { return v > kSteadyMachineCv; }));
  return s;
}

bool machine_unsteady(const MachineSteadiness& s) { return s.median_cv > kSteadyMachineCv; }

std::string machine_steadiness_text(const MachineSteadiness& s) {
  return fmt::format("the speed loop's CV over a cell's repetitions: median {:.1f}%, 90th percentile {:.1f}%; above "
                     "{:.0f}% in {} of {} cells",
                     s.median_cv * 100, s.p90_cv * 100, kSteadyMachineCv * 100, s.above, s.cells);
}

std::string machine_steadiness_note(const MachineSteadiness& s) {
  return fmt::format(
      "The machine's own speed varied during this run: a fixed loop timed around every repetition (ref_loop_ns) "
      "had a CV of {:.1f}% at the median cell, and above {:.0f}% in {} of {} cells. A cell's time cannot repeat "
      "more closely than the CPU it ran on, so its \"unstable\" warning may say more of the machine than of the "
      "model: read the medians, and for stability figures run again when the machine is quieter "
      "(results/README.md, \"How steady the machine was\").",
      s.median_cv * 100, kSteadyMachineCv * 100, s.above, s.cells);
}

const char* build_type() { return CMBENCH_BUILD_TYPE; }

bool idle_cpus_halt_at_once(const nlohmann::json& context) {
  if (!context.is_object() || !context.contains("cpuidle") || !context["cpuidle"].is_string()) return false;
  return context["cpuidle"].get<std::string>() == "haltpoll, guest_halt_poll_ns=0";
}

const char* const kHaltAtOnceNote =
    "Idle CPUs on this machine halt at once (cpuidle \"haltpoll, guest_halt_poll_ns=0\"): a thread or process "
    "woken onto an idle vCPU waits for the hypervisor, so the wake-ups of the kernel-scheduled cells not pinned to "
    "one CPU measure several times the kernel's own switch (results/README.md, \"Kernel-scheduled cells on a VM\").";

nlohmann::json collect_context() {
  nlohmann::json c;
  std::time_t now = std::time(nullptr);
  c["date"] = fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(now));
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  c["host"] = host;
  c["cpu_model"] = cpu_model();
  c["cores_online"] = std::thread::hardware_concurrency();
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) c["cores_available"] = CPU_COUNT(&set);
  // The cores the run's units could use at once: what a core sweep's
  // "every core" (fiber threads=0, go gomaxprocs=0) stands for and what the
  // report judges oversubscription against.
  c["cores"] = c.contains("cores_available") ? c["cores_available"] : c["cores_online"];
  utsname u{};
  uname(&u);
  c["kernel"] = fmt::format("{} {} {}", u.sysname, u.release, u.machine);
  c["compiler"] = CMBENCH_COMPILER;
  c["cxx_flags"] = CMBENCH_CXX_FLAGS;
  c["build_type"] = CMBENCH_BUILD_TYPE;
  c["cmbench_version"] = CMBENCH_VERSION;
  c["libraries"] = {
      {"boost", fmt::format("{}.{}.{}", BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000,
                            BOOST_VERSION % 100)},
      {"libuv", uv_version_string()},
      {"nlohmann_json", fmt::format("{}.{}.{}", NLOHMANN_JSON_VERSION_MAJOR,
                                    NLOHMANN_JSON_VERSION_MINOR, NLOHMANN_JSON_VERSION_PATCH)},
      {"fmt", fmt::format("{}.{}.{}", FMT_VERSION / 10000, FMT_VERSION / 100 % 100, FMT_VERSION % 100)},
  };
  std::string gov = first_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor");
  c["governor"] = gov.empty() ? nlohmann::json(nullptr) : nlohmann::json(gov);
  // How an idle CPU sleeps, which sets what waking a blocked thread or
  // process costs. In a VM with the haltpoll driver and no guest polling
  // (guest_halt_poll_ns=0) an idle vCPU halts at once, and every wake-up
  // onto it goes through the hypervisor: on the 2-core development VM a
  // thread ping-pong round trip took 34.8 us so, 5.5 us with 200 us of
  // polling and 4.4 us beside a busy loop (results/README.md).
  std::string idle = first_line("/sys/devices/system/cpu/cpuidle/current_driver");
  if (idle == "haltpoll")
    if (std::string poll = first_line("/sys/module/haltpoll/parameters/guest_halt_poll_ns"); !poll.empty())
      idle += ", guest_halt_poll_ns=" + poll;
  c["cpuidle"] = idle.empty() ? nlohmann::json(nullptr) : nlohmann::json(idle);
  // Whether freed memory goes back to the host, which sets what a first
  // touch of fresh memory costs (host_reclaim_note()).
  c["free_page_reporting"] = describe_free_page_reporting(
      balloon_features(), first_line("/sys/module/page_reporting/parameters/page_reporting_order"),
      max_page_order());
  c["kernel_limits"] = {
      {"pid_max", first_line("/proc/sys/kernel/pid_max")},
      {"threads_max", first_line("/proc/sys/kernel/threads-max")},
      {"max_map_count", first_line("/proc/sys/vm/max_map_count")},
      {"pipe_max_size", first_line("/proc/sys/fs/pipe-max-size")},
  };
  // The commit of the source tree the binary was built from, and whether it
  // had uncommitted changes: recorded when it was built
  // (harness/results/build_info.cmake), so a checkout that moved on since,
  // or a binary run outside its checkout, does not change it; null when the
  // build was not made from a git checkout.
  const std::string commit = CMBENCH_GIT_COMMIT;
  c["git_commit"] = commit.empty() ? nlohmann::json(nullptr) : nlohmann::json(commit);
  if (!commit.empty()) c["git_dirty"] = CMBENCH_GIT_DIRTY;
  return c;
}

}  // namespace cmbench
