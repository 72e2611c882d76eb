#include "harness/registry/registry.hpp"

// The model's name is "boost-fiber" for users (cmbench run --models
// boost-fiber); its C++ identifier, in harness/registry/registry.txt, is boost_fiber. The
// registry looks models up by ModelInfo::name, so the two may differ.
namespace cmbench::models::boost_fiber {

const ModelInfo& info() {
  static const ModelInfo m{
      .name = "boost-fiber",
      .summary =
          "Boost.Fiber: stackful fibers with its round_robin scheduler on one thread, its channels "
          "and mutex; Boost.Asio for echo's I/O",
      .taxonomy = {
          "a boost::fibers::fiber (stackful, on Boost.Context)",
          "Boost.Fiber's round_robin algorithm in user space, cooperatively: a fiber runs until it "
          "blocks or yields; with nothing ready the thread waits on a condition variable",
          "none: one address space; with threads=1 fibers never run at the same time, with "
          "threads>1 (work_stealing) they run in parallel and migrate between threads",
          "a fixed-size stack (the stack_size parameter) from pooled_fixedsize_stack (Boost.Pool, "
          "malloc'd blocks), colored as the fiber model's, no guard page; the fiber's context object "
          "lives at its top",
          "boost::fibers::buffered_channel (power-of-two size, holds size - 1; exact capacity "
          "with a credit semaphore) and unbuffered_channel (rendezvous); boost::fibers::mutex",
          "Boost.Fiber 1.81 (scheduler, channels, mutex), Boost.Context, Boost.Asio for sockets",
      },
      .params = {
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
      // Traits (harness/registry/registry.hpp): it holds a million fibers,
      // but slowly: its round_robin scheduler runs skynet breadth first (1.1
      // million fibers alive at once, 13 GiB resident, 35 s a repetition)
      // and spawn at 1,000,000 takes 25 s a repetition, so the default
      // matrix stops it at 100,000 to stay within ten minutes (the full
      // preset takes it to a million).
      .unit_budget = 100'000,
      // Its threads parameter sets the OS threads (work_stealing), but only
      // prodcons, skynet, counter and pingpong take more than one.
      .workers_param = "threads",
      .workers_in_every_workload = false,
      // work_stealing's scheduler table is static (runtime.hpp, WorkStealing):
      // a cell on more than one thread runs one pass per repetition.
      .workers_set_up_once = true,
      .one_thread = true,  // at threads:1
  };
  return m;
}

}  // namespace cmbench::models::boost_fiber
