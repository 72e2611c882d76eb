#include "harness/sandbox/crash.hpp"

// The parent symbolises with the compiled Boost.Stacktrace library
// (libbacktrace backend), linked as a shared library.
#define BOOST_STACKTRACE_LINK
#define BOOST_STACKTRACE_DYN_LINK
#include <boost/stacktrace/frame.hpp>
#include <execinfo.h>
#include <fmt/format.h>
#include <link.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <sstream>
#include <vector>

#include "harness/cell/crash_probe.hpp"

namespace cmbench {

namespace {

// --- the cell's side: everything from here to on_crash() runs in the cell --

constexpr int kCrashSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS};
constexpr int kMaxModules = 256;
constexpr int kMaxFrames = 64;

// A loaded object's executable segments, recorded when the handler is
// installed (dl_iterate_phdr takes a lock: not something to call while
// crashing). `bias` turns an address into the object's own virtual address,
// which is what the parent looks up.
struct Module {
  uintptr_t lo = 0, hi = 0, bias = 0;
  char path[256] = {};
};

Module g_modules[kMaxModules];
int g_module_count = 0;
int g_fd = -1;
// The cell process. What it forks (the process model's units) inherits the
// handler and the result pipe, but a unit's crash is the cell's to report
// (it reaps the unit): only the cell writes a record there.
pid_t g_cell_pid = 0;
std::atomic<bool> g_crashing{false};

int add_module(dl_phdr_info* info, size_t, void*) {
  if (g_module_count >= kMaxModules) return 1;
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const auto& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
    lo = std::min<uintptr_t>(lo, info->dlpi_addr + ph.p_vaddr);
    hi = std::max<uintptr_t>(hi, info->dlpi_addr + ph.p_vaddr + ph.p_memsz);
  }
  if (hi == 0) return 0;
  Module& m = g_modules[g_module_count++];
  m.lo = lo;
  m.hi = hi;
  m.bias = info->dlpi_addr;
  // The main program has no name here: "exe" says "the cell's executable".
  const char* name = info->dlpi_name && *info->dlpi_name ? info->dlpi_name : "exe";
  std::strncpy(m.path, name, sizeof m.path - 1);
  return 0;
}

int module_of(uintptr_t pc) {
  for (int i = 0; i < g_module_count; ++i)
    if (pc >= g_modules[i].lo && pc < g_modules[i].hi) return i;
  return -1;
}

// A buffered writer made of write(2) alone; numbers formatted by hand
// (snprintf is not async-signal-safe).
class Record {
 public:
  explicit Record(int fd) : fd_(fd) {}
  ~Record() { flush(); }
  Record& str(const char* s) {
    while (*s) byte(*s++);
    return *this;
  }
  Record& dec(long long v) {
    char tmp[24];
    int n = 0;
    const bool neg = v < 0;
    unsigned long long u = neg ? 0ULL - static_cast<unsigned long long>(v) : static_cast<unsigned long long>(v);
    do {
      tmp[n++] = static_cast<char>('0' + u % 10);
      u /= 10;
    } while (u);
    if (neg) byte('-');
    while (n) byte(tmp[--n]);
    return *this;
  }
  Record& hex(uintptr_t v) {
    static const char digits[] = "0123456789abcdef";
    char tmp[16];
    int n = 0;
    do {
      tmp[n++] = digits[v & 15];
      v >>= 4;
    } while (v);
    byte('0').byte('x');
    while (n) byte(tmp[--n]);
    return *this;
  }
  Record& byte(char c) {
    if (len_ == sizeof buf_) flush();
    buf_[len_++] = c;
    return *this;
  }
  void flush() {
    size_t off = 0;
    while (off < len_) {
      const ssize_t w = ::write(fd_, buf_ + off, len_ - off);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) break;
      off += static_cast<size_t>(w);
    }
    len_ = 0;
  }

 private:
  int fd_;
  char buf_[2048];
  size_t len_ = 0;
};

// The instruction the signal interrupted.
uintptr_t interrupted_pc(const void* ctx) {
  const auto* uc = static_cast<const ucontext_t*>(ctx);
#if defined(__x86_64__)
  return static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
#elif defined(__aarch64__)
  return static_cast<uintptr_t>(uc->uc_mcontext.pc);
#else
  (void)uc;
  return 0;
#endif
}

void frame_line(Record& r, const char* key, uintptr_t pc) {
  const int m = module_of(pc);
  r.str(key).str(" ").hex(pc);
  if (m >= 0) r.str(" ").dec(m).str(" ").hex(pc - g_modules[m].bias);
  r.str("\n");
}

void on_crash(int sig, siginfo_t* info, void* ctx) {
  const int saved_errno = errno;
  // A second crash while recording the first (a corrupt stack the unwinder
  // trips on): the handler is already reset to the default action, and this
  // one only has to get out of the way.
  if (::getpid() == g_cell_pid && !g_crashing.exchange(true)) {
    Record r(g_fd);
    r.str(kCrashMarker.data());
    r.str("signal ").dec(sig).str("\ncode ").dec(info->si_code).str("\n");
    const bool fault = info->si_code > 0 && (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE);
    if (fault) r.str("addr ").hex(reinterpret_cast<uintptr_t>(info->si_addr)).str("\n");
    if (info->si_code <= 0) r.str("sender ").dec(info->si_pid).str("\n");
    r.str("tid ").dec(static_cast<long long>(::syscall(SYS_gettid))).str("\n");
    char name[17] = {};
    if (::prctl(PR_GET_NAME, name) == 0) r.str("thread ").str(name).str("\n");
    for (int m = 0; m < g_module_count; ++m) {
      // The parent needs the modules that frames name; they are few, and a
      // frame line only carries the index.
      r.str("module ").dec(m).str(" ").str(g_modules[m].path).str("\n");
    }
    if (RunningUnitProbe probe = g_running_unit_probe.load(std::memory_order_acquire)) {
      RunningUnit unit;
      if (probe(unit)) {
        r.str("fiber ").hex(reinterpret_cast<uintptr_t>(unit.id));
        r.str(" ").hex(reinterpret_cast<uintptr_t>(unit.stack_bottom)).str(" ").dec(static_cast<long long>(unit.stack_size));
        r.str(" ").dec(unit.guarded).str(" ").dec(unit.canary_intact).str(" ").dec(unit.scheduler_context).str("\n");
        if (unit.entry) frame_line(r, "fiber_entry", reinterpret_cast<uintptr_t>(unit.entry));
      }
    }
    r.flush();  // what matters most is out before the unwinder runs
    const uintptr_t pc = interrupted_pc(ctx);
    void* frames[kMaxFrames];
    const int n = ::backtrace(frames, kMaxFrames);
    // The frames below the interrupted one are this handler's and the
    // kernel's signal trampoline: start at the interrupted instruction.
    int first = -1;
    for (int i = 0; i < n && first < 0; ++i)
      if (reinterpret_cast<uintptr_t>(frames[i]) == pc) first = i;
    if (first < 0) {
      frame_line(r, "frame", pc);
      first = n;  // the unwinder did not get past the trampoline
    }
    for (int i = first; i < n; ++i) frame_line(r, "frame", reinterpret_cast<uintptr_t>(frames[i]));
    r.str("end\n");
    r.flush();
  }
  errno = saved_errno;
  // SA_RESETHAND restored the default action. A fault raises again when the
  // faulting instruction runs again on return; a signal that was sent
  // (raise, abort, kill) is sent once more, to end the process the same way.
  if (info->si_code <= 0) ::syscall(SYS_tgkill, ::getpid(), ::syscall(SYS_gettid), sig);
}

}  // namespace

void crash_altstack_for_this_thread() {
  stack_t current{};
  if (::sigaltstack(nullptr, &current) == 0 && !(current.ss_flags & SS_DISABLE)) return;
  const size_t size = std::max<size_t>(64 * 1024, 4 * static_cast<size_t>(::sysconf(_SC_SIGSTKSZ)));
  void* mem = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return;  // the handler then runs on the thread's own stack
  stack_t ss{};
  ss.ss_sp = mem;
  ss.ss_size = size;
  if (::sigaltstack(&ss, nullptr) != 0) ::munmap(mem, size);
}

void install_crash_handler(int fd) {
  g_fd = fd;
  g_cell_pid = ::getpid();
  g_module_count = 0;
  ::dl_iterate_phdr(&add_module, nullptr);
  // backtrace()'s first call loads libgcc_s: done here, not while crashing.
  void* warm[2];
  (void)::backtrace(warm, 2);
  crash_altstack_for_this_thread();
  struct sigaction sa {};
  sa.sa_sigaction = on_crash;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  for (int sig : kCrashSignals) ::sigaction(sig, &sa, nullptr);
}

// --- the parent's side ------------------------------------------------------

namespace {

std::string hex_text(uintptr_t v) { return fmt::format("{:#x}", v); }

// This process's load bias of each loaded object, by path ("exe": the
// main program).
std::map<std::string, uintptr_t> own_modules() {
  std::map<std::string, uintptr_t> mods;
  ::dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        auto& m = *static_cast<std::map<std::string, uintptr_t>*>(data);
        const char* name = info->dlpi_name && *info->dlpi_name ? info->dlpi_name : "exe";
        m.emplace(name, info->dlpi_addr);
        return 0;
      },
      &mods);
  return mods;
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGILL: return "SIGILL";
    case SIGFPE: return "SIGFPE";
    case SIGABRT: return "SIGABRT";
    case SIGTRAP: return "SIGTRAP";
    case SIGSYS: return "SIGSYS";
    default: return "";
  }
}

// What si_code says about how the signal came (see sigaction(2)).
std::string code_text(int sig, int code) {
  switch (code) {
    case SI_USER: return "SI_USER (sent by kill)";
    case SI_TKILL: return "SI_TKILL (sent by raise, abort or tgkill)";
    case SI_QUEUE: return "SI_QUEUE";
    case SI_KERNEL: return "SI_KERNEL";
    default: break;
  }
  if (sig == SIGSEGV && code == SEGV_MAPERR) return "SEGV_MAPERR (address not mapped)";
  if (sig == SIGSEGV && code == SEGV_ACCERR) return "SEGV_ACCERR (no permission for the access)";
  if (sig == SIGBUS && code == BUS_ADRERR) return "BUS_ADRERR (no such physical address)";
  if (sig == SIGBUS && code == BUS_ADRALN) return "BUS_ADRALN (misaligned address)";
  if (sig == SIGFPE && code == FPE_INTDIV) return "FPE_INTDIV (integer division by zero)";
  if (sig == SIGILL && code == ILL_ILLOPN) return "ILL_ILLOPN (illegal operand)";
  if (sig == SIGILL && code == ILL_ILLOPC) return "ILL_ILLOPC (illegal opcode)";
  return std::to_string(code);
}

uintptr_t parse_hex(const std::string& s) { return static_cast<uintptr_t>(std::strtoull(s.c_str(), nullptr, 16)); }

// A demangled name as people write it: std::string, not its expansion.
std::string readable(std::string name) {
  static const std::string expanded = "std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >";
  for (size_t at; (at = name.find(expanded)) != std::string::npos;) name.replace(at, expanded.size(), "std::string");
  return name;
}

}  // namespace

nlohmann::json take_crash_record(std::string& output, bool own_image) {
  const size_t at = output.find(kCrashMarker);
  if (at == std::string::npos) return nullptr;
  std::istringstream in(output.substr(at + kCrashMarker.size()));
  output.resize(at);

  nlohmann::json crash = nlohmann::json::object();
  std::map<long, std::string> modules;
  struct RawFrame {
    uintptr_t pc;
    long module;
    uintptr_t vaddr;
  };
  std::vector<RawFrame> frames;
  std::optional<RawFrame> fiber_entry;
  bool complete = false;
  auto raw_frame = [](std::istringstream& f) {
    std::string pc, vaddr;
    long module = -1;
    f >> pc >> module >> vaddr;
    return RawFrame{parse_hex(pc), vaddr.empty() ? -1 : module, parse_hex(vaddr)};
  };
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string key;
    f >> key;
    if (key == "signal") {
      int sig = 0;
      f >> sig;
      crash["signal"] = sig;
      crash["signal_name"] = signal_name(sig);
      crash["description"] = strsignal(sig);
    } else if (key == "code") {
      int code = 0;
      f >> code;
      crash["si_code"] = code;
    } else if (key == "addr") {
      std::string a;
      f >> a;
      crash["address"] = a;
    } else if (key == "sender") {
      long pid = 0;
      f >> pid;
      crash["sender_pid"] = pid;
    } else if (key == "tid") {
      long tid = 0;
      f >> tid;
      crash["thread_id"] = tid;
    } else if (key == "thread") {
      std::string name;
      std::getline(f >> std::ws, name);
      crash["thread_name"] = name;
    } else if (key == "module") {
      long index = -1;
      std::string path;
      f >> index;
      std::getline(f >> std::ws, path);
      modules[index] = path;
    } else if (key == "fiber") {
      std::string id, bottom;
      size_t size = 0;
      int guarded = 0, canary = 1, scheduler = 0;
      f >> id >> bottom >> size >> guarded >> canary >> scheduler;
      nlohmann::json fiber = {{"id", id}, {"scheduler_context", scheduler != 0}};
      if (!scheduler) {
        fiber["stack_bottom"] = bottom;
        fiber["stack_size"] = size;
        fiber["stack_protection"] = guarded ? "guard page" : "canary";
        if (!guarded) fiber["canary_intact"] = canary != 0;
      }
      crash["fiber"] = fiber;
    } else if (key == "fiber_entry") {
      fiber_entry = raw_frame(f);
    } else if (key == "frame") {
      frames.push_back(raw_frame(f));
    } else if (key == "end") {
      complete = true;
    }
  }
  if (crash.contains("signal") && crash.contains("si_code"))
    crash["code"] = code_text(crash["signal"].get<int>(), crash["si_code"].get<int>());

  const auto own = own_modules();
  // Symbolises one frame; `is_return` for return addresses, which point
  // just past their call instruction.
  auto symbolise = [&](const RawFrame& fr, bool is_return) {
    nlohmann::json j = {{"pc", hex_text(fr.pc)}};
    auto mod = modules.find(fr.module);
    if (fr.module < 0 || mod == modules.end()) return j;
    j["module"] = mod->second == "exe" ? "(the cell's executable)" : mod->second;
    j["offset"] = hex_text(fr.vaddr);
    if (mod->second == "exe" && !own_image) return j;
    auto here = own.find(mod->second);
    if (here == own.end() || mod->second == "linux-vdso.so.1") return j;
    const uintptr_t addr = here->second + fr.vaddr - (is_return && fr.vaddr > 0 ? 1 : 0);
    const boost::stacktrace::frame sf(reinterpret_cast<boost::stacktrace::frame::native_frame_ptr_t>(addr));
    if (std::string name = sf.name(); !name.empty()) j["function"] = readable(name);
    if (std::string file = sf.source_file(); !file.empty()) {
      j["file"] = file;
      j["line"] = sf.source_line();
    }
    return j;
  };
  nlohmann::json bt = nlohmann::json::array();
  for (size_t i = 0; i < frames.size(); ++i) bt.push_back(symbolise(frames[i], i > 0));
  crash["backtrace"] = bt;
  if (fiber_entry && crash.contains("fiber")) {
    const auto e = symbolise(*fiber_entry, false);
    if (e.contains("function")) crash["fiber"]["entry"] = e["function"];
  }
  // Where the faulting address lies relative to the running fiber's stack.
  if (crash.contains("fiber") && crash.contains("address") && crash["fiber"].contains("stack_bottom")) {
    const uintptr_t addr = parse_hex(crash["address"].get<std::string>());
    const uintptr_t bottom = parse_hex(crash["fiber"]["stack_bottom"].get<std::string>());
    const uintptr_t top = bottom + crash["fiber"]["stack_size"].get<size_t>();
    const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    if (addr >= bottom && addr < top)
      crash["fiber"]["fault"] = "the address is on the fiber's own stack";
    else if (addr < bottom && addr + page >= bottom)
      crash["fiber"]["fault"] = crash["fiber"]["stack_protection"] == "guard page"
                                    ? "the address is in the guard page below the fiber's stack: a stack overflow"
                                    : "the address is just below the fiber's stack: a stack overflow";
  }
  crash["record_complete"] = complete;
  return crash;
}

std::string crash_summary(const nlohmann::json& crash) {
  if (!crash.is_object()) return "";
  std::string s;
  if (crash.contains("address")) s += fmt::format(" at address {}", crash["address"].get<std::string>());
  // The first frame in the suite's own code names the culprit better than
  // libc's abort() or raise() above it; else the first frame with a name.
  const nlohmann::json backtrace = crash.value("backtrace", nlohmann::json::array());
  const nlohmann::json* pick = nullptr;
  for (const auto& f : backtrace)
    if (f.contains("function") && f.value("module", "") == "(the cell's executable)") {
      pick = &f;
      break;
    }
  if (!pick)
    for (const auto& f : backtrace)
      if (f.contains("function")) {
        pick = &f;
        break;
      }
  if (pick) {
    s += fmt::format(" in {}", (*pick)["function"].get<std::string>());
    if (pick->contains("file"))
      s += fmt::format(" ({}:{})", (*pick)["file"].get<std::string>(), (*pick)["line"].get<size_t>());
  }
  if (crash.contains("fiber")) {
    const auto& f = crash["fiber"];
    if (f.value("scheduler_context", false)) {
      s += ", in the fiber scheduler's own context";
    } else {
      s += fmt::format(", on fiber {}", f.value("id", "?"));
      if (f.contains("entry")) s += fmt::format(" ({})", f["entry"].get<std::string>());
      s += f.value("stack_protection", "") == "guard page" ? " whose stack has a guard page"
                                                           : " whose stack has a canary (no guard page)";
      if (f.contains("canary_intact") && !f["canary_intact"].get<bool>()) s += " whose canary was overwritten";
      if (f.contains("fault")) s += fmt::format("; {}", f["fault"].get<std::string>());
    }
  }
  return s;
}

}  // namespace cmbench
