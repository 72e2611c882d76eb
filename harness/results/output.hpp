#pragma once
// Writing a results file (run's --out, merge, export, ab): only to a
// regular file or a new path; atomically (a uniquely named temporary in the
// same folder, fsync'd, renamed into place), so that a reader — or a full
// disk — never leaves anything but the last complete file; never leaving a
// temporary behind, even when a signal ends the command mid-write; and by
// one writer at a time (a lock beside the file).
#include <stdexcept>
#include <string>
#include <nlohmann/json.hpp>

namespace cmbench {

// Writing failed (a full disk, a file-size limit, an I/O error): the file at
// the path is as it was before this write. Carries errno.
class WriteError : public std::runtime_error {
 public:
  WriteError(const std::string& what, int err) : std::runtime_error(what), err_(err) {}
  int err() const noexcept { return err_; }

 private:
  int err_;
};

// Refuses (std::invalid_argument, one line naming `flag`) a path that exists
// and is not a regular file: a device (as root, renaming onto /dev/full
// would replace the device node), a FIFO, a directory, a socket — or a
// symbolic link: the file is replaced by renaming a new one onto the path,
// which would replace the link rather than write through it, so a link is
// refused and the user names its target. A new path is accepted.
void check_output_path(const std::string& path, const std::string& flag);

// Holds the write lock of a results file while it lives: `<path>.lock`, an
// flock()ed file holding the writer's pid, removed on release. A second
// writer of the same path is refused with std::invalid_argument (one line).
class OutputLock {
 public:
  OutputLock() = default;
  OutputLock(const std::string& path, const std::string& flag);
  OutputLock(OutputLock&& other) noexcept;
  OutputLock& operator=(OutputLock&& other) noexcept;
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;
  ~OutputLock();

 private:
  void release() noexcept;
  std::string lock_path_;
  int fd_ = -1;
};

// Writes `text` to `path` atomically (see above); creates parent folders.
// Throws std::invalid_argument when the path became something other than a
// regular file, WriteError when writing failed (the temporary is removed).
void write_file_atomic(const std::string& path, const std::string& text, const std::string& flag = "--out");

// A results file's default name, results/runs/<date>-<time>.json, claimed
// by creating it exclusively (a placeholder that the first write replaces):
// a second run started in the same second gets <date>-<time>-2.json.
std::string claim_default_out_path();

// Makes SIGINT, SIGTERM and SIGHUP remove the temporary of a write in
// progress before they end the process as they would have (for commands
// that install no handler of their own: merge, export).
void remove_temporary_on_signals();

// The temporary being written and the lock held, if any, are removed
// (async-signal-safe; for the signal handlers of run and ab, which then end
// the process at once).
void remove_temporary_now() noexcept;

}  // namespace cmbench
