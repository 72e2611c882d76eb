#include "harness/results/input.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace cmbench {

const char* file_kind(unsigned mode) {
  switch (mode & S_IFMT) {
    case S_IFREG: return "a regular file";
    case S_IFDIR: return "a directory";
    case S_IFIFO: return "a FIFO (named pipe)";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFSOCK: return "a socket";
    case S_IFLNK: return "a symbolic link";
    default: return "not a regular file";
  }
}

namespace {

[[noreturn]] void refuse(const std::string& path, const std::string& why) {
  throw std::invalid_argument(fmt::format("{}: {}", path, why));
}

std::string cannot(const std::string& what, int err) {
  if (err == ELOOP) return "a symbolic link loop (or too many links), not " + what;
  return fmt::format("cannot open {}: {}", what, std::strerror(err));
}

}  // namespace

std::string read_input_file(const std::string& path, const std::string& what, uint64_t max_bytes) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) refuse(path, cannot(what, errno));
  if (!S_ISREG(st.st_mode)) refuse(path, fmt::format("{}, not {} (a regular file)", file_kind(st.st_mode), what));
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) refuse(path, cannot(what, errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (::fstat(fd, &st) != 0) refuse(path, cannot(what, errno));
  if (!S_ISREG(st.st_mode)) refuse(path, fmt::format("{}, not {} (a regular file)", file_kind(st.st_mode), what));
  if (static_cast<uint64_t>(st.st_size) > max_bytes)
    refuse(path, fmt::format("{} bytes, more than {} may have ({} bytes)", st.st_size, what, max_bytes));
  std::string text;
  text.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  // Read to the end, which may lie beyond the size stat() saw (a file still
  // being written): up to the bound and one byte past it, to notice.
  for (;;) {
    if (got == text.size()) {
      if (text.size() > max_bytes) refuse(path, fmt::format("larger than {} may be ({} bytes)", what, max_bytes));
      text.resize(std::min<uint64_t>(max_bytes + 1, std::max<uint64_t>(2 * text.size(), 4096)));
    }
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) refuse(path, fmt::format("cannot read {}: {}", what, std::strerror(errno)));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  text.resize(got);
  return text;
}

}  // namespace cmbench
