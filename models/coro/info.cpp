#include "harness/registry/registry.hpp"

// The model's name is "coro" both for users and in harness/registry/registry.txt.
namespace cmbench::models::coro {

const ModelInfo& info() {
  static const ModelInfo m{
      .name = "coro",
      .summary =
          "stackless C++20 coroutines (boost::asio::awaitable, co_spawn) on one Boost.Asio "
          "io_context; Asio's experimental channels, steady_timer and TCP sockets",
      .taxonomy = {
          "a stackless C++20 coroutine (boost::asio::awaitable started with co_spawn)",
          "the io_context's run loop on one thread, cooperatively: a coroutine runs until it "
          "co_awaits an operation that is not complete; its completion handler resumes it; with "
          "nothing ready the thread waits in epoll",
          "none: one address space; one thread, so coroutines never run at the same time",
          "no stack: a heap-allocated frame per coroutine (its locals that live across a "
          "co_await), plus co_spawn's entry frame and the pending operation's state; frames go "
          "through Asio's thread-local recycling allocator",
          "boost::asio::experimental::channel (exact capacity; 0 = rendezvous); a capacity-1 "
          "channel as the mutex's lock token",
          "Boost.Asio 1.81 (header-only: io_context, awaitable, experimental::channel, "
          "steady_timer, ip::tcp)",
      },
  };
  return m;
}

}  // namespace cmbench::models::coro
