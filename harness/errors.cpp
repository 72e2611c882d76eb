#include "harness/errors.hpp"

#include <cstring>

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

}  // namespace cmbench
