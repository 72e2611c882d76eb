#include "models/uv/error.hpp"

#include <uv.h>

#include "harness/cell/errors.hpp"

namespace cmbench::uv {

void throw_uv(const std::string& call, int code) {
  std::string what = call + ": " + uv_err_name(code) + " (" + uv_strerror(code) + ")";
  // On Unix a libuv error code is the negated errno, so the errno-based
  // classification of harness/cell/errors.hpp applies unchanged.
  int err = -code;
  if (is_limit_errno(err)) throw LimitError(what, err);
  throw SystemError(what, err);
}

}  // namespace cmbench::uv
