#pragma once
// What the Asio-based echo servers (coro, boost-fiber) share. They watch LoadGen's done
// descriptor with async_wait on a posix::stream_descriptor. Asio closes a
// descriptor it owns when the object is destroyed, and this one is LoadGen's
// to close: DoneDescriptor release()s it instead.
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/system/error_code.hpp>

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

// How a connection's read or write ended, for the Asio servers: the end of
// the connection (end of stream, the client gone, closed at shutdown), or a
// failure of the server, whose first one the server reports as the cell's
// error (client_gone() in spec.hpp, for error codes).
inline bool connection_ended(const boost::system::error_code& ec) {
  namespace error = boost::asio::error;
  return ec == error::eof || ec == error::connection_reset || ec == error::broken_pipe ||
         ec == error::operation_aborted || ec == error::bad_descriptor || ec == error::not_connected ||
         ec == error::shut_down;
}

// The first failure of any connection: the call and its error.
struct ServeError {
  const char* call = nullptr;
  boost::system::error_code ec;
  void note(const char* what, const boost::system::error_code& e) {
    if (!ec && !connection_ended(e)) {
      call = what;
      ec = e;
    }
  }
  explicit operator bool() const { return static_cast<bool>(ec); }
};

}  // namespace cmbench::echo
