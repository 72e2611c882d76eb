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
          "none: one address space; with threads=1 coroutines never run at the same time, with "
          "threads>1 they run in parallel on that many threads",
          "no stack: a heap-allocated frame per coroutine (its locals that live across a "
          "co_await), plus co_spawn's entry frame and the pending operation's state; frames go "
          "through Asio's thread-local recycling allocator",
          "boost::asio::experimental::channel (exact capacity; 0 = rendezvous); a capacity-1 "
          "channel as the mutex's lock token",
          "Boost.Asio 1.81 (header-only: io_context, awaitable, experimental::channel, "
          "steady_timer, ip::tcp)",
      },
      .params = {
          ParamDef::integer("threads",
                            "threads running the io_context: 1 runs every coroutine on one thread "
                            "with experimental::channel (no lock); N > 1 calls io_context::run() "
                            "from N threads and uses experimental::concurrent_channel (prodcons and "
                            "skynet; the other workloads refuse it); 0 = one per core",
                            1, 0, 256),
      },
      // Traits (harness/registry/registry.hpp): its threads parameter sets
      // the OS threads, but only prodcons and skynet take more than one.
      .workers_param = "threads",
      .workers_in_every_workload = false,
      .one_thread = true,  // at threads:1: the cell's thread runs the io_context
  };
  return m;
}

}  // namespace cmbench::models::coro
