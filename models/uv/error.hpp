#pragma once
// libuv reports failure as a negative return code (on Unix the negated errno,
// or one of libuv's own codes such as UV_EOF). These helpers turn such a code
// into the suite's exceptions at setup, carrying libuv's own name and message
// for it ("EMFILE (too many open files)") so a failed cell says exactly what
// went wrong. They are never called inside a timed loop.
#include <string>

namespace cmbench::uv {

// Throws LimitError when the code means a resource ran out (EMFILE, ENOMEM,
// EAGAIN, ...: the `limit` outcome), else SystemError. The exception's err()
// is the positive errno (-code) and its message names the call, the uv error
// name (uv_err_name) and libuv's description (uv_strerror).
[[noreturn]] void throw_uv(const std::string& call, int code);

// Returns `code` when it is not an error (>= 0), else throws as throw_uv.
inline int check_uv(const char* call, int code) {
  if (code < 0) throw_uv(call, code);
  return code;
}

}  // namespace cmbench::uv
