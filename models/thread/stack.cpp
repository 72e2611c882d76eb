#include "models/thread/stack.hpp"

#include <pthread.h>

namespace cmbench::models::thread {

size_t default_stack_bytes() noexcept {
  pthread_attr_t attr;
  if (pthread_getattr_default_np(&attr) != 0) return 0;
  size_t size = 0;
  if (pthread_attr_getstacksize(&attr, &size) != 0) size = 0;
  pthread_attr_destroy(&attr);
  return size;
}

}  // namespace cmbench::models::thread
