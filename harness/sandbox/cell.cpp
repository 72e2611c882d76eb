#include "harness/sandbox/cell.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <cstring>
#include <memory>
#include <new>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "harness/cell/errors.hpp"
#include "harness/cell/memory.hpp"
#include "harness/cell/outcome.hpp"
#include "harness/cell/protocol.hpp"
#include "harness/registry/registry.hpp"
#include "harness/sandbox/crash.hpp"
#include "harness/sandbox/pin.hpp"
#include "harness/sandbox/external.hpp"
#include "harness/sandbox/runner.hpp"
#include "models/fiber/scheduler.hpp"

namespace cmbench {

namespace {

// Descriptors opened by the fd-exhaust fault, closed again when it unwinds,
// so the cell can still read /proc and report its result.
struct OpenFds {
  std::vector<int> fds;
  OpenFds() = default;
  OpenFds(const OpenFds&) = delete;
  OpenFds& operator=(const OpenFds&) = delete;
  ~OpenFds() {
    for (int fd : fds) ::close(fd);
  }
};

// Threads started by the thread-exhaust fault. Each blocks reading a pipe;
// closing its write end lets them all finish, and they are joined, so the
// fault leaves nothing running once it has thrown.
class ParkedThreads {
 public:
  ParkedThreads() {
    if (pipe2(pipe_, O_CLOEXEC) != 0) throw_errno("pipe2");
  }
  ParkedThreads(const ParkedThreads&) = delete;
  ParkedThreads& operator=(const ParkedThreads&) = delete;
  ~ParkedThreads() {
    ::close(pipe_[1]);
    for (pthread_t t : threads_) pthread_join(t, nullptr);
    ::close(pipe_[0]);
  }
  size_t size() const { return threads_.size(); }
  // Starts one more; throws (LimitError for EAGAIN) when the system refuses.
  void start() {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    // Small stacks, so the process count limit is what stops them rather
    // than address space.
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_t t;
    int rc = pthread_create(&t, &attr, &park, reinterpret_cast<void*>(static_cast<intptr_t>(pipe_[0])));
    pthread_attr_destroy(&attr);
    if (rc != 0) throw_errno(fmt::format("pthread_create (thread {})", threads_.size() + 1), rc);
    threads_.push_back(t);
  }

 private:
  static void* park(void* arg) {
    char c;
    while (::read(static_cast<int>(reinterpret_cast<intptr_t>(arg)), &c, 1) < 0 && errno == EINTR) {
    }
    return nullptr;
  }
  int pipe_[2] = {-1, -1};
  std::vector<pthread_t> threads_;
};

// A crash in a function of its own, so that the crash forensics can be
// checked to name it. Volatile twice: a null pointer the compiler can see
// becomes a trap instruction (SIGILL), and a plain store through an unknown
// one may be dropped. Not instrumented by UBSan, whose null check would
// otherwise report the store and exit before the signal it is there to cause
// (the ASan+UBSan build's Crash tests).
[[gnu::noinline]] __attribute__((no_sanitize("undefined"))) void crash_by_null_write() {
  volatile int* volatile target = nullptr;
  *target = 1;
}

// Recurses until the stack runs out: the frame is kept (the addition after
// the call), so it is not turned into a loop; the bound, read from volatile
// memory, is never reached (a fiber's stack is far smaller).
volatile int g_overflow_bound = 1 << 30;

[[gnu::noinline]] int overflow_the_stack(int depth) {
  volatile char pad[256];
  pad[0] = static_cast<char>(depth);
  if (depth >= g_overflow_bound) return pad[0];
  return overflow_the_stack(depth + 1) + pad[0];
}

// Test-only fault injection, so the fault tests exercise the real cell
// protocol: CMBENCH_FAULT=<kind>[@<substring of workload/model>]. It acts
// before the workload runs, in the cell process, exactly where a broken
// implementation would misbehave. `slow:<ns>` is not a fault but a
// regression: the timed region takes <ns> longer per nominal operation.
void inject_fault(const std::string& name, Probe& probe, uint64_t operations) {
  const char* env = std::getenv("CMBENCH_FAULT");
  if (!env || !*env) return;
  std::string spec = env;
  std::string kind = spec.substr(0, spec.find('@'));
  if (auto at = spec.find('@'); at != std::string::npos && name.find(spec.substr(at + 1)) == std::string::npos)
    return;
  if (kind.rfind("slow:", 0) == 0) {
    probe.inject_delay(std::stoll(kind.substr(5)) * static_cast<int64_t>(operations));
  } else if (kind == "hang") {
    for (;;) pause();
  } else if (kind == "hang-tree") {
    // Grandchildren that outlive their parent must be found and killed too.
    for (int i = 0; i < 3; ++i)
      if (fork() == 0)
        for (;;) pause();
    for (;;) pause();
  } else if (kind == "segv") {
    raise(SIGSEGV);
  } else if (kind == "null-write") {
    crash_by_null_write();
  } else if (kind == "fiber-overflow") {
    // A fiber that overflows its stack: the first stacks of the fiber
    // runtime have a guard page, so it faults there.
    fiber::Scheduler sched(16 * 1024, 1);
    sched.spawn([] { overflow_the_stack(0); });
    sched.run();
  } else if (kind == "abort") {
    std::abort();
  } else if (kind == "exit") {
    _exit(3);
  } else if (kind == "leak-child") {
    // A unit left running after the cell returns: the harness must notice.
    if (fork() == 0)
      for (;;) pause();
  } else if (kind == "throw") {
    throw std::runtime_error("injected failure");
  } else if (kind == "oom") {
    // Allocates until the memory limit refuses. Without a limit it would
    // take the machine's memory instead, so it refuses to run.
    rlimit as{};
    getrlimit(RLIMIT_AS, &as);
    if (as.rlim_cur == RLIM_INFINITY)
      throw std::runtime_error("the oom fault needs a memory limit (cmbench run --memory-limit)");
    std::vector<std::unique_ptr<char[]>> blocks;
    for (;;) blocks.emplace_back(new char[16 << 20]);  // std::bad_alloc ends it
  } else if (kind == "fd-exhaust") {
    // Opens descriptors until EMFILE. A soft limit of a million (some
    // containers) would make that slow and large; the fault lowers it to
    // 4096 first, which it may, and the error is the same.
    rlimit nofile{};
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur > 4096) {
      nofile.rlim_cur = 4096;
      setrlimit(RLIMIT_NOFILE, &nofile);
    }
    OpenFds open_fds;
    for (;;) {
      int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) throw_errno(fmt::format("open(/dev/null) after {} descriptors", open_fds.fds.size()));
      open_fds.fds.push_back(fd);
    }
  } else if (kind == "thread-exhaust") {
    // Creates threads until the system says EAGAIN: meant to run under a
    // lowered RLIMIT_NPROC. Without one it would go on to pid_max, so it
    // gives up at 4096 threads instead.
    ParkedThreads threads;
    while (threads.size() < 4096) threads.start();
    throw std::runtime_error("the thread-exhaust fault started 4096 threads without reaching a limit; "
                             "run it under a lowered RLIMIT_NPROC");
  } else if (kind == "leak-shm") {
    // A POSIX shared-memory segment, created and never unlinked.
    const std::string shm = fmt::format("/cmbench-fault-{}", getpid());
    int fd = shm_open(shm.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) throw_errno("shm_open(" + shm + ")");
    if (ftruncate(fd, 4096) != 0) throw_errno("ftruncate");
    ::close(fd);
  } else if (kind == "leak-sysv-shm") {
    // A System V segment, created and never marked for removal.
    if (shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600) < 0) throw_errno("shmget");
  } else if (kind == "leak-socket") {
    // A child that listens on a TCP port and outlives the cell. The cell
    // waits until it listens, so the harness finds the socket.
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) != 0) throw_errno("pipe2");
    pid_t child = fork();
    if (child < 0) throw_errno("fork");
    if (child == 0) {
      int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (s < 0 || ::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(s, 1) != 0)
        _exit(1);
      (void)!::write(ready[1], "x", 1);
      for (;;) pause();
    }
    ::close(ready[1]);
    char c;
    while (::read(ready[0], &c, 1) < 0 && errno == EINTR) {
    }
    ::close(ready[0]);
  } else if (kind == "ignore-term") {
    // A cell that will not be asked to stop: SIGTERM ignored, SIGINT
    // blocked, in itself and in a child, and both hang. Only SIGKILL ends them.
    signal(SIGTERM, SIG_IGN);
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, nullptr);
    if (fork() == 0)
      for (;;) pause();
    for (;;) pause();
  }
}

// Applies the memory limit the runner passed (kMemoryLimitEnv, in bytes) to
// this process as RLIMIT_AS, before the workload runs; every process the
// cell forks inherits it. Returns an error message when it cannot.
std::string apply_memory_limit() {
  const char* env = std::getenv(kMemoryLimitEnv);
  if (!env || !*env) return "";
  const std::string text = env;
  unsetenv(kMemoryLimitEnv);  // the limit itself is inherited; the variable need not be
  const auto bytes = parse_memory_size(text);
  if (!bytes || *bytes == 0) return fmt::format("{}='{}' is not a size in bytes", kMemoryLimitEnv, text);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // The sanitizers reserve terabytes of address space for their shadow
  // memory at start-up: under any realistic RLIMIT_AS nothing else could be
  // mapped, so the limit would measure the sanitizer and not the workload.
  return "--memory-limit (RLIMIT_AS) cannot be used in a sanitizer build: its shadow memory "
         "reserves terabytes of address space";
#else
  rlimit lim{};
  getrlimit(RLIMIT_AS, &lim);
  const rlim_t want = static_cast<rlim_t>(*bytes);
  lim.rlim_cur = lim.rlim_max == RLIM_INFINITY ? want : std::min(want, lim.rlim_max);
  lim.rlim_max = lim.rlim_cur;
  if (setrlimit(RLIMIT_AS, &lim) != 0)
    return fmt::format("setrlimit(RLIMIT_AS, {}): {}", *bytes, std::strerror(errno));
  return "";
#endif
}

// The cell dies with the runner: the kernel sends cell_death_signal() when
// the thread that spawned the cell ends, however it ends (SIGKILL, SIGHUP),
// and the handler kills the cell's whole process group — its units, forked
// helpers, grandchildren — and the cell with it. A cell started by hand has
// no runner to die with.
void on_runner_death(int) { ::kill(0, SIGKILL); }

void die_with_runner() {
  const char* env = std::getenv(kRunnerPidEnv);
  if (!env || !*env) return;
  const pid_t runner = static_cast<pid_t>(std::atol(env));
  struct sigaction sa {};
  sa.sa_handler = on_runner_death;
  sigemptyset(&sa.sa_mask);
  sigaction(cell_death_signal(), &sa, nullptr);
  prctl(PR_SET_PDEATHSIG, cell_death_signal());
  // The runner may have died before the request above: then nobody will
  // send the signal, and the cell is an orphan already.
  if (getppid() != runner) ::kill(0, SIGKILL);
}

// A std::bad_alloc that reaches std::terminate — thrown where it cannot be
// handled: from a destructor during unwinding (Asio's awaitable_thread posts
// its continuation as it is destroyed, and that allocation fails under a
// memory limit), from a noexcept function, from a thread's top — is still
// memory running out: the outcome `limit`, not a SIGABRT crash. Written
// without allocating (there is no memory), to the result pipe; any other
// exception goes on to abort as before (the crash handler records it).
int g_result_fd = -1;
std::terminate_handler g_previous_terminate = nullptr;

[[noreturn]] void on_terminate() {
  const char* what = nullptr;
  int err = 0;
  if (std::exception_ptr e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::bad_alloc&) {
      what = "out of memory (std::bad_alloc, thrown where it could not be handled: std::terminate)";
      err = ENOMEM;
    } catch (const LimitError& l) {
      what = "a resource ran out (LimitError, thrown where it could not be handled: std::terminate)";
      err = l.err();
    } catch (...) {
    }
  } else {
    // No exception at all: when even the exception for a failed allocation
    // cannot be allocated (the runtime's emergency pool is used up, as under
    // a memory limit where thousands of coroutine frames fail at once), the
    // runtime calls std::terminate without one. Whether memory is what ran
    // out is asked of the kernel: a 1 MiB mapping fails too.
    void* probe = ::mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (probe == MAP_FAILED && errno == ENOMEM) {
      what = "out of memory (std::terminate without an exception, and a 1 MiB mapping fails: an allocation "
             "failed where nothing could throw)";
      err = ENOMEM;
    } else if (probe != MAP_FAILED) {
      ::munmap(probe, 1 << 20);
    }
  }
  {
    if (what) {
      char doc[512];
      const int n = std::snprintf(doc, sizeof doc, R"({"outcome": "limit", "errno": %d, "message": "%s", "notes": {}})",
                                  err, what);
      for (size_t off = 0, len = n > 0 ? std::min<size_t>(static_cast<size_t>(n), sizeof doc - 1) : 0; off < len;) {
        const ssize_t w = ::write(g_result_fd, doc + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += static_cast<size_t>(w);
      }
      ::_exit(0);
    }
  }
  if (g_previous_terminate) g_previous_terminate();
  std::abort();
}

// --keep-core: core files as large as the hard limit allows.
void allow_core_file() {
  if (!std::getenv(kKeepCoreEnv)) return;
  rlimit core{};
  if (getrlimit(RLIMIT_CORE, &core) == 0) {
    core.rlim_cur = core.rlim_max;
    setrlimit(RLIMIT_CORE, &core);
  }
  prctl(PR_SET_DUMPABLE, 1);
}

}  // namespace

int run_cell_child(const std::string& workload, const std::string& model,
                   const std::map<std::string, std::string>& given, int result_fd, int passes) {
  install_crash_handler(result_fd);
  die_with_runner();
  allow_core_file();
  g_result_fd = result_fd;
  g_previous_terminate = std::set_terminate(on_terminate);
  nlohmann::json out;
  const Entry* entry = find_entry(workload, model);
  if (!entry) {
    out["outcome"] = to_string(Outcome::failed);
    out["message"] = fmt::format("no implementation of {} in model {}", workload, model);
    write_result(result_fd, out.dump());
    return 2;
  }
  for (std::string err : {apply_memory_limit(), apply_pin()})
    if (!err.empty()) {
      out["outcome"] = to_string(Outcome::failed);
      out["message"] = err;
      write_result(result_fd, out.dump());
      return 2;
    }
  out = run_passes(*entry->workload, cell_param_defs(*entry), given,
                   entry->impl ? std::function<void(const Params&, Probe&)>(entry->impl->run) : nullptr,
                   entry->model->process_tree, passes, [&](const Params& params, Probe& probe, uint64_t nominal) {
                     inject_fault(workload + "/" + model, probe, nominal);
                     // An external model's cell becomes its program here,
                     // with its parameters checked and its limits applied;
                     // the program writes the result (docs/cell-protocol.md).
                     if (entry->model->external)
                       exec_external(*entry->model->external, workload, model, params, result_fd, passes);
                   });
  write_result(result_fd, out.dump());
  return 0;
}

}  // namespace cmbench
