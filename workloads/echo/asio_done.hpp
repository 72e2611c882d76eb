#pragma once
// The Asio-based echo servers (coro, boost-fiber) watch LoadGen's done
// descriptor with async_wait on a posix::stream_descriptor. Asio closes a
// descriptor it owns when the object is destroyed, and this one is LoadGen's
// to close: DoneDescriptor release()s it instead.
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "workloads/echo/spec.hpp"

namespace cmbench::echo {

class DoneDescriptor : public boost::asio::posix::stream_descriptor {
 public:
  DoneDescriptor(boost::asio::io_context& io, const LoadGen& gen)
      : boost::asio::posix::stream_descriptor(io, gen.done_fd()) {}
  ~DoneDescriptor() { release(); }
  DoneDescriptor(const DoneDescriptor&) = delete;
  DoneDescriptor& operator=(const DoneDescriptor&) = delete;
};

}  // namespace cmbench::echo
