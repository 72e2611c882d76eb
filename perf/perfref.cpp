// cmbench-perfref: the reference programs scripts/perf-check measures the
// suite's cells against (issue: performance targets). Each is the smallest
// program that does a cell's work without the harness, so the ratio
// cell / reference is what the harness and the model's own machinery cost:
//
//   fiber-pingpong ROUNDS [--sample]
//       The fiber model's pingpong loop (two fibers, two rendezvous
//       channels) with no probe, no child process, no result file. With
//       --sample unit A also takes the cell's latency sample each round trip
//       (one clock read and one histogram record), so the harness's own
//       overhead is the cell over this, and the sample's cost this over the
//       plain loop.
//   latency-sample N
//       N latency samples in a row: the cost of one (clock read + record).
//   uv-pingpong ROUNDS inline|deferred
//       A minimal hand-written libuv ping-pong with the uv model's two
//       scheduling choices, taking the same latency sample per round trip:
//         inline    A and B hand each other the value through a two-slot
//                   trampoline run from one uv_idle_t callback (no system call
//                   per hand-off), as the model's inline continuation;
//         deferred  each hand-off starts the receiver's uv_idle_t and stops
//                   the sender's: one loop iteration per hand-off, as the
//                   model's deferred continuation.
//   page-touch UNITS STRIDE
//       The page-fault floor of a stackful fiber (issue 22): one mapping
//       carved into UNITS slots of STRIDE bytes, as the fiber stack pool
//       carves its slabs (MAP_NORESERVE, no huge pages), and one byte written
//       near the top of each slot, where a fiber's first frames land. Each
//       write is a first-touch page fault with the page zeroed: what every
//       parked fiber pays at least once, whatever its runtime does. The
//       figure is the time per unit; the mapping is unmapped after the
//       timed region.
//
// Each prints one JSON object: {"ns_per_op": ..., "ops": ...}. Every run
// checks its result after the timed region and exits 1 with a message if it
// is wrong, so a broken reference never becomes a figure.
#include <sys/mman.h>
#include <unistd.h>
#include <uv.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "harness/cell/histogram.hpp"
#include "harness/cell/probe.hpp"
#include "harness/cell/sample_clock.hpp"
#include "models/fiber/channel.hpp"
#include "models/fiber/scheduler.hpp"
#include "workloads/pingpong/spec.hpp"

namespace {

using cmbench::Histogram;
using cmbench::now_ns;
using cmbench::sample_ns;

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: cmbench-perfref fiber-pingpong ROUNDS [--sample]\n"
               "       cmbench-perfref latency-sample N\n"
               "       cmbench-perfref uv-pingpong ROUNDS inline|deferred\n"
               "       cmbench-perfref page-touch UNITS STRIDE\n");
  std::exit(2);
}

uint64_t count_arg(const char* s, const char* what) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (end == s || *end != '\0' || v == 0) {
    std::fprintf(stderr, "cmbench-perfref: %s must be a positive integer, got '%s'\n", what, s);
    std::exit(2);
  }
  return v;
}

int report(int64_t elapsed_ns, uint64_t ops, uint64_t good, const Histogram& h, bool sampled) {
  if (good != ops || (sampled && h.count() != ops)) {
    std::fprintf(stderr, "cmbench-perfref: expected %llu good operations, got %llu (%llu samples)\n",
                 static_cast<unsigned long long>(ops), static_cast<unsigned long long>(good),
                 static_cast<unsigned long long>(h.count()));
    return 1;
  }
  std::printf("{\"ns_per_op\": %.3f, \"ops\": %llu, \"sample_clock\": \"%s\"}\n",
              static_cast<double>(elapsed_ns) / ops, static_cast<unsigned long long>(ops),
              cmbench::sample_clock_description().c_str());
  return 0;
}

int fiber_pingpong(uint64_t rounds, bool sample) {
  namespace rt = cmbench::fiber;
  rt::Scheduler sched;
  rt::Channel<uint64_t> ping(0), pong(0);
  static Histogram hist;  // 37 KiB: not on a fiber's stack
  uint64_t good = 0;
  const int64_t t0 = now_ns();
  sched.spawn([&] {
    cmbench::pingpong::RoundTrips laps(hist);
    for (uint64_t v = 0; v < rounds; ++v) {
      ping.send(v);
      const std::optional<uint64_t> reply = pong.recv();
      if (sample) laps.lap();
      if (reply && *reply == v + 1) ++good;
    }
    ping.close();
  });
  sched.spawn([&] {
    while (std::optional<uint64_t> v = ping.recv()) pong.send(*v + 1);
  });
  sched.run();
  return report(now_ns() - t0, rounds, good, hist, sample);
}

int latency_sample(uint64_t n) {
  static Histogram hist;
  const int64_t t0 = now_ns();
  int64_t prev = sample_ns();
  for (uint64_t i = 0; i < n; ++i) {
    const int64_t now = sample_ns();
    hist.record(cmbench::sample_since(prev, now));
    prev = now;
  }
  return report(now_ns() - t0, n, hist.count(), hist, true);
}

// --- uv ---------------------------------------------------------------------
struct UvPingPong {
  uv_loop_t loop{};
  uv_idle_t idle_a{}, idle_b{};  // deferred: one per unit
  uv_idle_t idle{};              // inline: runs the trampoline
  Histogram hist;
  uint64_t rounds = 0;
  uint64_t value = 0;  // the value in flight
  uint64_t good = 0;
  int64_t prev = 0;
  // inline: the trampoline's queue, at most two entries (one hand-off each way).
  void (*queue[2])(UvPingPong*) = {nullptr, nullptr};
  int queued = 0;

  // A received B's answer (value) to `sent`: record, check, send the next.
  bool a_receives() {
    const int64_t now = sample_ns();
    hist.record(cmbench::sample_since(prev, now));
    prev = now;
    if (value == 2 * good + 1) ++good;
    if (good == rounds || value != 2 * good - 1) return false;  // done, or wrong
    value = 2 * good;  // the next round sends 2 * round, B answers + 1
    return true;
  }
  void b_receives() { value += 1; }
};

void inline_b(UvPingPong* p);
void inline_a(UvPingPong* p) {
  if (p->a_receives()) p->queue[p->queued++] = &inline_b;
}
void inline_b(UvPingPong* p) {
  p->b_receives();
  p->queue[p->queued++] = &inline_a;
}

int uv_pingpong(uint64_t rounds, bool deferred) {
  static UvPingPong p;
  p.rounds = rounds;
  uv_loop_init(&p.loop);
  p.loop.data = &p;
  const int64_t t0 = now_ns();
  p.prev = sample_ns();
  p.value = 0;
  if (!deferred) {
    uv_idle_init(&p.loop, &p.idle);
    uv_idle_start(&p.idle, [](uv_idle_t* h) {
      auto* pp = static_cast<UvPingPong*>(h->loop->data);
      pp->queue[pp->queued++] = &inline_b;  // A's first send
      while (pp->queued > 0) {
        auto fn = pp->queue[--pp->queued];
        fn(pp);
      }
      uv_idle_stop(h);
    });
  } else {
    uv_idle_init(&p.loop, &p.idle_a);
    uv_idle_init(&p.loop, &p.idle_b);
    uv_idle_start(&p.idle_b, [](uv_idle_t* h) {  // B got the value: answer it
      auto* pp = static_cast<UvPingPong*>(h->loop->data);
      pp->b_receives();
      uv_idle_stop(h);
      uv_idle_start(&pp->idle_a, [](uv_idle_t* ha) {  // A got the answer
        auto* q = static_cast<UvPingPong*>(ha->loop->data);
        uv_idle_stop(ha);
        if (q->a_receives()) uv_idle_start(&q->idle_b, q->idle_b.idle_cb);
      });
    });
  }
  uv_run(&p.loop, UV_RUN_DEFAULT);
  const int64_t elapsed = now_ns() - t0;
  uv_close(reinterpret_cast<uv_handle_t*>(deferred ? &p.idle_a : &p.idle), nullptr);
  if (deferred) uv_close(reinterpret_cast<uv_handle_t*>(&p.idle_b), nullptr);
  uv_run(&p.loop, UV_RUN_DEFAULT);
  uv_loop_close(&p.loop);
  return report(elapsed, rounds, p.good, p.hist, true);
}

// --- the page-fault floor ---------------------------------------------------
int page_touch(uint64_t units, uint64_t stride) {
  const long page = sysconf(_SC_PAGESIZE);
  if (stride % static_cast<uint64_t>(page) != 0) {
    std::fprintf(stderr, "cmbench-perfref: page-touch STRIDE must be a multiple of the page size (%ld), got %llu\n",
                 page, static_cast<unsigned long long>(stride));
    return 2;
  }
  const uint64_t bytes = units * stride;
  void* map = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (map == MAP_FAILED) {
    std::perror("cmbench-perfref: mmap");
    return 1;
  }
  auto* base = static_cast<volatile unsigned char*>(map);
  // The byte a slot's first frame would write: 64 bytes below its top.
  auto top = [&](uint64_t i) { return base + (i + 1) * stride - 64; };
  const int64_t t0 = now_ns();
  for (uint64_t i = 0; i < units; ++i) *top(i) = static_cast<unsigned char>(i | 1);
  const int64_t elapsed = now_ns() - t0;
  uint64_t good = 0;
  for (uint64_t i = 0; i < units; ++i) good += *top(i) == static_cast<unsigned char>(i | 1);
  munmap(map, bytes);
  static Histogram none;
  return report(elapsed, units, good, none, false);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) usage();
  const std::string what = argv[1];
  try {
    cmbench::calibrate_sample_clock();  // as a cell does before its timed region
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "cmbench-perfref: %s\n", e.what());
    return 2;
  }
  if (what == "fiber-pingpong" && (argc == 3 || (argc == 4 && std::strcmp(argv[3], "--sample") == 0)))
    return fiber_pingpong(count_arg(argv[2], "ROUNDS"), argc == 4);
  if (what == "latency-sample" && argc == 3) return latency_sample(count_arg(argv[2], "N"));
  if (what == "uv-pingpong" && argc == 4) {
    const std::string mode = argv[3];
    if (mode != "inline" && mode != "deferred") {
      std::fprintf(stderr, "cmbench-perfref: uv-pingpong mode must be inline or deferred, got '%s'\n",
                   argv[3]);
      return 2;
    }
    return uv_pingpong(count_arg(argv[2], "ROUNDS"), mode == "deferred");
  }
  if (what == "page-touch" && argc == 4) return page_touch(count_arg(argv[2], "UNITS"), count_arg(argv[3], "STRIDE"));
  usage();
}
