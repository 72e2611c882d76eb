#include "harness/history/input.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cmbench::history {

namespace {

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

[[noreturn]] void refuse_stat(const std::string& path, const std::string& what, int err) {
  if (err == ELOOP)
    throw InputError(fmt::format("{} {}: a symbolic link loop; accepted: a regular file", what, path));
  throw InputError(fmt::format("{} {}: {}", what, path, std::strerror(err)));
}

[[noreturn]] void refuse_kind(const std::string& path, const std::string& what, mode_t mode) {
  throw InputError(fmt::format("{} {} is {}; accepted: a regular file", what, path, kind_of(mode)));
}

// Closes a descriptor on every path out of read_regular_file.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

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

std::string read_regular_file(const std::string& path, const std::string& what, std::size_t max_bytes) {
  if (check_regular_or_absent(path, what) == PathState::absent)
    throw InputError(fmt::format("{} {}: no such file", what, path));
  Fd f{::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC)};
  if (f.fd < 0) refuse_stat(path, what, errno);
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) refuse_stat(path, what, errno);
  if (!S_ISREG(st.st_mode)) refuse_kind(path, what, st.st_mode);
  if (static_cast<std::size_t>(st.st_size) > max_bytes)
    throw InputError(fmt::format("{} {} is {} bytes; accepted: at most {}", what, path, st.st_size, max_bytes));
  std::string text;
  text.resize(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(f.fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) refuse_stat(path, what, errno);
    if (n == 0) break;  // shrank while being read: take what is there
    got += static_cast<std::size_t>(n);
  }
  text.resize(got);
  return text;
}

}  // namespace cmbench::history
