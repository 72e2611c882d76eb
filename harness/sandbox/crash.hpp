#pragma once
// Forensics for a cell that dies by a signal: which signal, at which
// address, in which function (a symbolised backtrace of the crashing
// thread), and for the fiber runtime which fiber on which kind of stack.
//
// How (and why this way): the cell installs a handler for the signals that
// mean a crash, on an alternate signal stack (a fiber that overflowed into
// its guard page has no stack left to run a handler on). The handler does
// only what is async-signal-safe: it writes a small text record to the
// result pipe — first the signal, the faulting address and the running
// fiber (so they arrive even if unwinding fails), then the raw return
// addresses of the crashing thread, each as the module it lies in and its
// offset there — and lets the signal kill the process as before (so the
// outcome, the exit status and a core dump are unchanged). The parent
// symbolises the frames: it runs the same image (cells are spawned through
// /proc/self/exe) and the same shared libraries, so a frame's module and
// offset are an address in its own process too, which Boost.Stacktrace's
// libbacktrace backend (Debian's libboost-stacktrace-dev) names, from the
// symbol table and, when the build has debug information, the file and
// line. No gdb, no addr2line, nothing symbolised inside the dying process.
//
// The frames come from glibc's backtrace() — libgcc's unwinder, the one C++
// exceptions use, so it walks every frame an exception can, including fiber
// stacks. Its first call loads libgcc_s, which is not async-signal-safe, so
// install_crash_handler() makes that first call; after it the unwinder only
// reads memory. libunwind (starting from the signal's context) was the
// alternative: Debian's libunwind also exports _Unwind_* and would take over
// the exception machinery of the whole process once linked.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace cmbench {

// Installs the crash handler in a cell process: SIGSEGV, SIGBUS, SIGILL,
// SIGFPE, SIGABRT, SIGTRAP and SIGSYS, with an alternate stack for this
// thread. The record goes to `fd` (the result pipe).
void install_crash_handler(int fd);

// Gives the calling thread an alternate signal stack for the crash handler
// (threads do not inherit one). Cheap to call twice.
void crash_altstack_for_this_thread();

// The line that starts a crash record in a cell's output.
inline constexpr std::string_view kCrashMarker = "\ncmbench-crash-v1\n";

// Parent side: takes the crash record out of a cell's output (what is left
// is whatever the cell wrote before it, normally nothing) and returns it
// parsed and symbolised, or null when there is none. `own_image` says the
// cell ran this process's own executable, so that frames in it can be
// named here.
nlohmann::json take_crash_record(std::string& output, bool own_image);

// One phrase for a message: "at address 0x0 in f() (file.cpp:12), on fiber
// 0x... (guarded stack)".
std::string crash_summary(const nlohmann::json& crash);

}  // namespace cmbench
