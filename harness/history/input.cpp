#include "harness/history/input.hpp"

#include "harness/results/input.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cmbench::history {

namespace {

[[noreturn]] void refuse_stat(const std::string& path, const std::string& what, int err) {
  if (err == ELOOP)
    throw InputError(fmt::format("{} {}: a symbolic link loop; accepted: a regular file", what, path));
  throw InputError(fmt::format("{} {}: {}", what, path, std::strerror(err)));
}

[[noreturn]] void refuse_kind(const std::string& path, const std::string& what, mode_t mode) {
  throw InputError(fmt::format("{} {} is {}; accepted: a regular file", what, path, file_kind(mode)));
}

}  // namespace

PathState check_regular_or_absent(const std::string& path, const std::string& what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      // A dangling symlink is absent as far as stat knows, but creating
      // the file would write through it somewhere else: refuse it.
      struct stat lst {};
      if (::lstat(path.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode))
        throw InputError(fmt::format("{} {} is a symbolic link to nothing; accepted: a regular file or a new path",
                                     what, path));
      return PathState::absent;
    }
    refuse_stat(path, what, errno);
  }
  if (!S_ISREG(st.st_mode)) refuse_kind(path, what, st.st_mode);
  return PathState::regular;
}

}  // namespace cmbench::history
