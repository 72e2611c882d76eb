#pragma once
// echo's server in the boost-fiber model, which echo and idle both run
// (workloads/echo/boost_fiber.cpp, workloads/idle/boost_fiber.cpp):
// Boost.Fiber fibers doing Boost.Asio I/O in the pattern Boost.Fiber's
// documentation gives for sharing a thread with Asio. An acceptor fiber and
// a fiber per connection make each Asio asynchronous operation with a
// completion handler that fulfils a boost::fibers::promise and wait on its
// future (await_io); a polling fiber drives the io_context on the same
// thread (io_context::poll() and yield while other fibers are ready, else
// io_context::run_one() blocking in epoll). The workload's main fiber, on
// the thread's own stack, waits for the load generator (wait_readable) and
// then stop()s the server. How the workload words the server's errors is its
// own.
#include <boost/asio.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "models/boost_fiber/runtime.hpp"
#include "workloads/echo/asio_done.hpp"
#include "workloads/echo/read_buffer.hpp"

namespace cmbench::echo::boost_fiber {

// Boost.Fiber's round_robin, through which the polling fiber can ask whether
// other fibers are ready.
class PollingRoundRobin : public boost::fibers::algo::round_robin {
 public:
  explicit PollingRoundRobin(PollingRoundRobin** self) { *self = this; }
};

struct IoResult {
  boost::system::error_code ec;
  std::size_t bytes = 0;
};

// Starts an asynchronous operation whose handler is (error_code, size_t) and
// parks this fiber until the handler has run.
template <typename Start>
IoResult await_io(Start&& start) {
  boost::fibers::promise<IoResult> promise;
  boost::fibers::future<IoResult> future = promise.get_future();
  start([&promise](const boost::system::error_code& ec, std::size_t n) { promise.set_value(IoResult{ec, n}); });
  return future.get();
}

// A connection's fiber, start to end: reads of up to n bytes into `buf`, each
// written back whole before the next read.
inline void serve(boost::asio::ip::tcp::socket& conn, char* buf, std::size_t n, ServeError& failed) {
  namespace asio = boost::asio;
  for (;;) {
    IoResult r = await_io([&](auto handler) { conn.async_read_some(asio::buffer(buf, n), std::move(handler)); });
    if (r.ec) {  // end of stream, the client gone, closed at shutdown, or a failure
      failed.note("read (connection)", r.ec);
      break;
    }
    const std::size_t got = r.bytes;
    r = await_io([&](auto handler) { asio::async_write(conn, asio::buffer(buf, got), std::move(handler)); });
    if (r.ec) {
      failed.note("write (connection)", r.ec);
      break;
    }
  }
  boost::system::error_code ignored;
  conn.close(ignored);
}

class Server {
 public:
  // Makes PollingRoundRobin this thread's scheduling algorithm until the
  // server is destroyed. `expected` connections' fibers are reserved.
  Server(boost::asio::io_context& io, boost::asio::ip::tcp::acceptor& acceptor, std::size_t expected)
      : io_(io), acceptor_(acceptor) {
    boost::fibers::use_scheduling_algorithm<PollingRoundRobin>(&algo_);
    conns_.reserve(expected);
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Starts the polling and acceptor fibers. A connection's read buffer of N
  // bytes is allocated by the acceptor (heap) or lives on the connection
  // fiber's stack (unit). An accept error cancels `done`, which wakes the
  // main fiber's wait.
  template <std::size_t N, BufferOn where, typename StackAllocator>
  void start(StackAllocator& salloc, boost::asio::posix::stream_descriptor& done) {
    namespace asio = boost::asio;
    using asio::ip::tcp;
    poller_ = boost::fibers::fiber(std::allocator_arg, salloc, [this] {
      while (!(stopping_ && live_ == 0)) {
        if (algo_->has_ready_fibers()) {
          io_.poll();
          ++polls_;
          boost::this_fiber::yield();
        } else {
          io_.run_one();
          ++blocking_polls_;
        }
      }
    });
    ++live_;
    acceptor_fiber_ = boost::fibers::fiber(std::allocator_arg, salloc, [this, &salloc, &done] {
      for (;;) {
        tcp::socket conn(io_);
        IoResult r = await_io([&](auto handler) {
          acceptor_.async_accept(conn, [h = std::move(handler)](const boost::system::error_code& ec) mutable {
            h(ec, 0);
          });
        });
        if (r.ec == asio::error::connection_aborted) continue;
        if (r.ec) {
          if (r.ec != asio::error::operation_aborted) {
            accept_error_ = r.ec;
            done.cancel();  // wakes main: stop serving
          }
          break;
        }
        ++accepted_;
        conn.set_option(tcp::no_delay(true));
        tcp::socket& mine = sockets_.emplace_back(std::move(conn));
        ++live_;
        if constexpr (where == BufferOn::heap) {
          conns_.emplace_back(std::allocator_arg, salloc, [this, &mine, buf = std::make_unique<char[]>(N)] {
            serve(mine, buf.get(), N, serve_error_);
            --live_;
          });
        } else {
          conns_.emplace_back(std::allocator_arg, salloc, [this, &mine] {
            char buf[N];
            serve(mine, buf, N, serve_error_);
            --live_;
          });
        }
      }
      --live_;
    });
  }

  // Closes the acceptor and every socket still open (their pending
  // operations complete with operation_aborted), joins the acceptor and
  // every connection fiber, and finally the poller, which ends once
  // shutdown began and no connection fiber is left.
  void stop() {
    stopping_ = true;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    acceptor_fiber_.join();
    for (boost::asio::ip::tcp::socket& s : sockets_)
      if (s.is_open()) s.close(ignored);
    for (boost::fibers::fiber& f : conns_) f.join();
    poller_.join();
  }

  const boost::system::error_code& accept_error() const noexcept { return accept_error_; }
  const ServeError& serve_error() const noexcept { return serve_error_; }
  uint64_t accepted() const noexcept { return accepted_; }
  uint64_t polls() const noexcept { return polls_; }
  uint64_t blocking_polls() const noexcept { return blocking_polls_; }

 private:
  // The thread's scheduler outlives the server (a test runs many cells on
  // one thread): Boost.Fiber's default is put back on every way out, after
  // every fiber below is gone (the first member is destroyed last).
  struct Restore {
    ~Restore() { boost::fibers::use_scheduling_algorithm<boost::fibers::algo::round_robin>(); }
  } restore_;
  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor& acceptor_;
  PollingRoundRobin* algo_ = nullptr;
  std::deque<boost::asio::ip::tcp::socket> sockets_;  // stable addresses; closed at shutdown
  std::vector<boost::fibers::fiber> conns_;
  boost::fibers::fiber poller_;
  boost::fibers::fiber acceptor_fiber_;
  uint64_t live_ = 0;  // acceptor and connection fibers not yet ended
  bool stopping_ = false;
  boost::system::error_code accept_error_;
  ServeError serve_error_;
  uint64_t accepted_ = 0, polls_ = 0, blocking_polls_ = 0;
};

// Parks the calling fiber until `fd` is readable or its wait is cancelled.
inline void wait_readable(boost::asio::posix::stream_descriptor& fd) {
  await_io([&](auto handler) {
    fd.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                  [h = std::move(handler)](const boost::system::error_code& ec) mutable { h(ec, 0); });
  });
}

}  // namespace cmbench::echo::boost_fiber
