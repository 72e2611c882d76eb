#include "harness/cell/errors.hpp"

#include <unistd.h>

#include <cstring>
#include <vector>

namespace cmbench {

bool is_limit_errno(int err) noexcept {
  switch (err) {
    case EAGAIN:  // fork/clone: RLIMIT_NPROC or pid_max; pthread_create: no resources
    case ENOMEM:
    case EMFILE:
    case ENFILE:
    case ENOSPC:  // e.g. pid namespace full
    case ENOBUFS:
      return true;
    default:
      return false;
  }
}

void throw_errno(const std::string& call, int err) {
  std::string what = call + ": " + std::strerror(err);
  if (is_limit_errno(err)) throw LimitError(what, err);
  throw SystemError(what, err);
}

std::string self_exe() {
  std::vector<char> buf(4096);
  const ssize_t n = ::readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  if (n < 0) throw_errno("readlink(/proc/self/exe)");
  return std::string(buf.data(), static_cast<std::size_t>(n));
}

}  // namespace cmbench
