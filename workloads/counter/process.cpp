// counter in the process model: U forked processes each add 1 to one count
// K times. Processes share no memory unless they map it, so:
//   lock     the count and a PTHREAD_PROCESS_SHARED mutex live in an
//            anonymous MAP_SHARED mapping made before fork;
//   atomic   a std::atomic<uint64_t> lives in such a mapping (a lock-free
//            atomic is address-free, so it works across processes);
//   message  the owner is the cell process itself: every unit writes one
//            8-byte +1 per increment to one pipe, and the owner reads exactly
//            8 bytes per message (one read() each, no batching) and adds it,
//            until EOF tells it every unit has exited. The pipe is the
//            smallest that always holds kMessageCapacity messages (see
//            run_message): with 4 KiB pages, between 1537 and 2048 of them.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "models/process/process.hpp"
#include "workloads/counter/spec.hpp"

namespace cmbench::counter {
namespace {

namespace pm = cmbench::models::process;

struct Locked {
  pm::SharedMutex mutex;
  uint64_t count = 0;
};

uint64_t run_lock(uint64_t units, uint64_t increments, Probe& probe) {
  pm::SharedMapping shared(sizeof(Locked));
  Locked* locked = new (shared.data()) Locked;
  // Destroys the mutex after the children are gone (it is declared before
  // `children`, so it is destroyed after them even when unwinding).
  struct Destroy {
    Locked* p;
    ~Destroy() { p->~Locked(); }
  } destroy{locked};
  probe.note("lock",
             "pthread_mutex_t with PTHREAD_PROCESS_SHARED (default type, not robust) in an "
             "anonymous MAP_SHARED mapping, beside the count");

  pm::Children children(units);
  probe.start();
  for (uint64_t u = 0; u < units; ++u) {
    children.spawn([&] {
      for (uint64_t k = 0; k < increments; ++k) {
        std::lock_guard<pm::SharedMutex> hold(locked->mutex);
        ++locked->count;
      }
    });
  }
  children.reap_all();
  probe.stop();
  return locked->count;
}

uint64_t run_atomic(uint64_t units, uint64_t increments, Probe& probe) {
  using Count = std::atomic<uint64_t>;
  // A lock-free atomic is address-free, so two processes mapping the same
  // page see one atomic object; one that fell back to a lock would not be.
  static_assert(Count::is_always_lock_free);
  pm::SharedMapping shared(sizeof(Count));
  Count* count = new (shared.data()) Count(0);
  probe.note("lock", "none: std::atomic<uint64_t>::fetch_add (relaxed) in an anonymous "
                     "MAP_SHARED mapping");

  pm::Children children(units);
  probe.start();
  for (uint64_t u = 0; u < units; ++u) {
    children.spawn([&] {
      // Relaxed: the count orders nothing else. On x86-64 it is the same
      // `lock xadd` as a sequentially consistent fetch_add.
      for (uint64_t k = 0; k < increments; ++k) count->fetch_add(1, std::memory_order_relaxed);
    });
  }
  children.reap_all();
  probe.stop();
  return count->load();
}

uint64_t run_message(uint64_t units, uint64_t increments, Probe& probe) {
  pm::Pipe pipe = pm::make_pipe();
  // A pipe buffers whole pages and frees a page only once it is read
  // completely, so how many 8-byte messages it holds depends on where the
  // owner's reads stand (see pm::pipe_records_in): with 4 KiB pages, a pipe
  // of n pages holds at most n * 512 of them and, while its oldest page is
  // partly read, at least 1 + (n - 1) * 512. It is sized as the smallest pipe
  // whose lower bound is at least kMessageCapacity, so that this model's
  // channel is never smaller than the other models' (4 pages: 1537 to 2048
  // messages). A channel of exactly 1024 messages would need a credit pipe as
  // in prodcons, which would add a second pipe operation to every increment.
  constexpr size_t kMessage = sizeof(uint64_t);
  const size_t want = pm::pipe_bytes_for(kMessageCapacity, kMessage);
  size_t got = pm::pipe_size(pipe.write);
  if (got != want) got = pm::set_pipe_size(pipe.write, want);
  const size_t at_least = pm::pipe_records_in(got, kMessage);
  const size_t at_most = got / kMessage;
  if (at_least < kMessageCapacity)
    throw SystemError(fmt::format("F_SETPIPE_SZ({}) gave a pipe of {} bytes, which holds as few "
                                  "as {} messages of {} bytes, fewer than {}",
                                  want, got, at_least, kMessage, kMessageCapacity),
                      0);
  probe.note("lock", "none: the count is owned by the cell process");
  probe.note("channel",
             fmt::format("one pipe of {} bytes (F_SETPIPE_SZ, the smallest whose page-slot "
                         "guarantee holds {} messages): it buffers between {} and {} 8-byte "
                         "messages, depending on how much of its oldest page the owner has "
                         "read; one write() per increment, one read() per message by the owner "
                         "(the cell process), EOF when every unit exited",
                         got, kMessageCapacity, at_least, at_most));

  uint64_t count = 0;
  pm::Children children(units);
  probe.start();
  for (uint64_t u = 0; u < units; ++u) {
    children.spawn([&] {
      pipe.read.close();
      const uint64_t one = 1;
      for (uint64_t k = 0; k < increments; ++k) pm::write_all(pipe.write, &one, sizeof one);
    });
  }
  // The owner's own write end must go, or it would never see EOF.
  pipe.write.close();
  uint64_t delta = 0;
  while (pm::read_exact(pipe.read, &delta, sizeof delta)) count += delta;
  children.reap_all();
  probe.stop();
  return count;
}

void run(const Params& params, Probe& probe) {
  const uint64_t units = params.u("units");
  const uint64_t increments = params.u("increments");
  const std::string& mode = params.s("mode");
  probe.note("unit", "forked process");
  uint64_t count = 0;
  if (mode == "lock") {
    count = run_lock(units, increments, probe);
  } else if (mode == "atomic") {
    count = run_atomic(units, increments, probe);
  } else if (mode == "message") {
    count = run_message(units, increments, probe);
  } else {
    throw std::invalid_argument("parameter 'mode': unknown mode '" + mode + "'");
  }
  probe.verify(verify(params, count));
}

}  // namespace
}  // namespace cmbench::counter

CMBENCH_IMPL(counter, process, ::cmbench::counter::run, nullptr)
