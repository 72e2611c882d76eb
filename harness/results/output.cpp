#include "harness/results/output.hpp"

#include <fcntl.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <limits.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <random>
#include <utility>

#include "harness/cell/fd.hpp"
#include "harness/results/input.hpp"

namespace cmbench {

namespace {

// The temporary being written and the lock held, for the signal handlers
// that remove them when they end the process.
char g_temporary[PATH_MAX];
std::atomic<bool> g_temporary_set{false};
char g_lock[PATH_MAX];
std::atomic<bool> g_lock_set{false};

[[noreturn]] void refuse(const std::string& flag, const std::string& path, const std::string& why) {
  throw std::invalid_argument(fmt::format("{}: {}: {}", flag, path, why));
}

void check_existing(const std::string& path, const std::string& flag) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;  // a new file
    refuse(flag, path, fmt::format("cannot examine it: {}", std::strerror(errno)));
  }
  if (S_ISLNK(st.st_mode)) {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(path, ec);
    refuse(flag, path,
           fmt::format("a symbolic link{}; name the file itself (the results file is replaced by "
                       "renaming a new one onto its path, which would replace the link instead)",
                       ec ? "" : " to " + target.string()));
  }
  if (!S_ISREG(st.st_mode))
    refuse(flag, path, fmt::format("{}, not a regular file; name a regular file or a new path", file_kind(st.st_mode)));
}

std::string random_suffix() {
  static std::mt19937_64 rng{std::random_device{}() ^ static_cast<uint64_t>(::getpid())};
  return fmt::format("{:016x}", rng());
}

void on_signal_remove_temporary(int sig) {
  remove_temporary_now();
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

}  // namespace

void remove_temporary_now() noexcept {
  if (g_temporary_set.load()) ::unlink(g_temporary);
  if (g_lock_set.load()) ::unlink(g_lock);
}

void remove_temporary_on_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_signal_remove_temporary;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
}

void check_output_path(const std::string& path, const std::string& flag) {
  if (path.empty()) refuse(flag, "''", "an empty path");
  check_existing(path, flag);
}

OutputLock::OutputLock(const std::string& path, const std::string& flag) : lock_path_(path + ".lock") {
  namespace fs = std::filesystem;
  const fs::path p(path);
  std::error_code ec;
  if (p.has_parent_path()) fs::create_directories(p.parent_path(), ec);
  // Locked, and still the file at the lock's path (a writer that released
  // it unlinks it first; one that opened the old file must try again).
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) refuse(flag, path, fmt::format("cannot create its lock {}: {}", lock_path_, std::strerror(errno)));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      char pid[32] = {};
      (void)!::pread(fd, pid, sizeof pid - 1, 0);
      ::close(fd);
      if (err == EWOULDBLOCK)
        refuse(flag, path,
               fmt::format("another cmbench{} is writing this results file; wait for it, or choose another --out",
                           pid[0] ? fmt::format(" (pid {})", std::strtol(pid, nullptr, 10)) : ""));
      refuse(flag, path, fmt::format("cannot lock {}: {}", lock_path_, std::strerror(err)));
    }
    struct stat held {}, now {};
    if (::fstat(fd, &held) == 0 && ::stat(lock_path_.c_str(), &now) == 0 && held.st_ino == now.st_ino &&
        held.st_dev == now.st_dev) {
      const std::string pid = std::to_string(::getpid());
      if (::ftruncate(fd, 0) == 0) (void)!::pwrite(fd, pid.data(), pid.size(), 0);
      fd_ = fd;
      if (lock_path_.size() < sizeof g_lock) {
        std::memcpy(g_lock, lock_path_.c_str(), lock_path_.size() + 1);
        g_lock_set.store(true);
      }
      return;
    }
    ::close(fd);
  }
  refuse(flag, path, "could not take its lock: it keeps being replaced");
}

OutputLock::OutputLock(OutputLock&& other) noexcept
    : lock_path_(std::move(other.lock_path_)), fd_(std::exchange(other.fd_, -1)) {}

OutputLock& OutputLock::operator=(OutputLock&& other) noexcept {
  if (this != &other) {
    release();
    lock_path_ = std::move(other.lock_path_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

OutputLock::~OutputLock() { release(); }

void OutputLock::release() noexcept {
  if (fd_ < 0) return;
  g_lock_set.store(false);
  ::unlink(lock_path_.c_str());  // while still held: see the constructor
  ::close(fd_);
  fd_ = -1;
}

void write_file_atomic(const std::string& path, const std::string& text, const std::string& flag) {
  namespace fs = std::filesystem;
  check_existing(path, flag);
  const fs::path p(path);
  if (p.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(p.parent_path(), ec);
    if (ec) throw WriteError(fmt::format("cannot create the folder {}: {}", p.parent_path().string(), ec.message()),
                             ec.value());
  }
  // Unique in its folder: two writers never share a temporary, and a
  // leftover of a killed one is never taken over.
  const std::string tmp = fmt::format("{}.tmp.{}.{}", path, ::getpid(), random_suffix());
  if (tmp.size() >= sizeof g_temporary) throw WriteError(fmt::format("{}: the path is too long", path), ENAMETOOLONG);
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd) throw WriteError(fmt::format("cannot create {}: {}", tmp, std::strerror(errno)), errno);
  std::memcpy(g_temporary, tmp.c_str(), tmp.size() + 1);
  g_temporary_set.store(true);
  auto fail = [&](const std::string& what, int err) {
    ::unlink(tmp.c_str());
    g_temporary_set.store(false);
    throw WriteError(fmt::format("{} {}: {}", what, tmp, std::strerror(err)), err);
  };
  size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = ::write(fd.get(), text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("cannot write", errno);
    off += static_cast<size_t>(n);
  }
  // fsync before rename, so a power cut leaves the old file or the new one.
  if (::fsync(fd.get()) != 0 && errno != EINVAL) fail("cannot fsync", errno);
  // close() reports deferred write errors (NFS, quotas): checked, not retried.
  if (::close(fd.release()) != 0) fail("cannot close", errno);
  // The path may have become something else meanwhile: never rename onto
  // a device node or a link.
  try {
    check_existing(path, flag);
  } catch (...) {
    ::unlink(tmp.c_str());
    g_temporary_set.store(false);
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename", errno);
  g_temporary_set.store(false);
}

std::string claim_default_out_path() {
  const std::time_t now = std::time(nullptr);
  const std::string stem = fmt::format("results/runs/{:%Y%m%d-%H%M%S}", fmt::localtime(now));
  std::error_code ec;
  std::filesystem::create_directories("results/runs", ec);
  for (int k = 1; k < 1000; ++k) {
    const std::string path = k == 1 ? stem + ".json" : fmt::format("{}-{}.json", stem, k);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::close(fd);
      return path;
    }
    if (errno != EEXIST) break;  // the write that follows says what is wrong
  }
  return stem + ".json";
}

}  // namespace cmbench
