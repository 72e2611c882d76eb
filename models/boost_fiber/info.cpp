#include "harness/registry/registry.hpp"

// The model's name is "boost-fiber" for users (cmbench run --models
// boost-fiber); its C++ identifier, in the manifest, is boost_fiber. The
// registry looks models up by ModelInfo::name, so the two may differ.
namespace cmbench::models::boost_fiber {

const ModelInfo& info() {
  static const ModelInfo m{
      "boost-fiber",
      "Boost.Fiber: stackful fibers with its round_robin scheduler on one thread, its channels "
      "and mutex; Boost.Asio for echo's I/O",
      {
          "a boost::fibers::fiber (stackful, on Boost.Context)",
          "Boost.Fiber's round_robin algorithm in user space, cooperatively: a fiber runs until it "
          "blocks or yields; with nothing ready the thread waits on a condition variable",
          "none: one address space; with threads=1 fibers never run at the same time, with "
          "threads>1 (work_stealing) they run in parallel and migrate between threads",
          "a fixed-size stack (the stack_size parameter) from pooled_fixedsize_stack (Boost.Pool, "
          "malloc'd blocks), no guard page; the fiber's context object lives at its top",
          "boost::fibers::buffered_channel (power-of-two size, holds size - 1; exact capacity "
          "with a credit semaphore) and unbuffered_channel (rendezvous); boost::fibers::mutex",
          "Boost.Fiber 1.81 (scheduler, channels, mutex), Boost.Context, Boost.Asio for sockets",
      },
      {
          // The suite's fibers were measured to reach 9.2 KiB of stack, and
          // pooled stacks have no guard page: 12 KiB is the least accepted
          // (models/boost_fiber/runtime.hpp).
          ParamDef::integer("stack_size", "bytes of stack per fiber", 16384, 12288, 8 << 20),
          ParamDef::integer("threads",
                            "threads running the fibers: 1 is round_robin on one thread; N > 1 is "
                            "Boost.Fiber's work_stealing on N threads (prodcons, skynet, counter, "
                            "pingpong; the other workloads refuse it); 0 = one per core",
                            1, 0, 256),
      },
      false,
  };
  return m;
}

}  // namespace cmbench::models::boost_fiber
