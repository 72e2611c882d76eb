// prodcons in the process model: every producer and every consumer is a
// forked process, and the channel is one pipe.
//
// The data pipe is shared by all: producers hold its write end, consumers its
// read end. A message is one write() of sizeof(Msg) bytes, which POSIX makes
// atomic because it is at most PIPE_BUF, so messages from different
// producers never interleave; a consumer reads exactly sizeof(Msg) bytes, and
// because every write is a whole message and the pipe holds only whole
// messages, each read returns one whole message to one consumer.
//
// A pipe has no notion of capacity in messages, so a second pipe carries
// credits (one-byte tokens):
//   B > 0  the credit pipe is preloaded with B tokens; a producer reads one
//          before it writes a message and a consumer writes one back after it
//          read one. Tokens in the pipe plus messages sent and not yet
//          received is always B, so at most B messages are in flight. The
//          data pipe is sized (F_SETPIPE_SZ) to hold B messages, so a
//          producer holding a token never waits for pipe space: otherwise the
//          real capacity would silently be smaller than B.
//   B = 0  a consumer writes a "ready" token before each blocking read, and a
//          producer reads one (waits for a receiver to be ready) before it
//          writes. So a message is only ever written when some consumer has
//          committed to receiving it, and at most C messages (one per
//          consumer that announced itself) are sent and not yet received.
//          That is weaker than Go's unbuffered channel: there the send
//          completes only once a receiver has taken the value, here write()
//          returns as soon as the bytes are in the pipe, which can be a
//          scheduling delay before any consumer's read() returns them, and
//          the message may be taken by a different waiting consumer than the
//          one whose token the producer used. It is a rendezvous with the
//          receiver's arrival, not with its receipt.
//
// Termination: consumers stop at EOF on the data pipe, which comes once every
// producer has exited (closing its write end). That only works because every
// other holder of the write end closes it: the consumers in the child right
// after fork, the parent (the cell process) as soon as it has forked every
// unit. Consumers keep the credit pipe's read end open although they never
// read from it: the producers, its only readers, may all have exited when the
// last tokens are written back, and a write to a pipe without readers would
// raise SIGPIPE. Token writes cannot block either: the credit pipe is sized
// to hold every token that can be outstanding (B, or C when B = 0).
// Producers close the credit pipe's write end and the data pipe's read end,
// so that if every consumer died a producer would see EOF (an error) or
// SIGPIPE instead of waiting forever.
//
// Tallies, `last` arrays and the latency histograms live in anonymous shared
// memory, so the parent verifies them after it reaped every child.
#include <algorithm>
#include <climits>
#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <fmt/format.h>
#include <unistd.h>

#include "models/process/process.hpp"
#include "workloads/prodcons/spec.hpp"

namespace cmbench::prodcons {
namespace {

namespace pm = cmbench::models::process;

// Each consumer's Tally and `last` array share one block of cache lines of
// their own, so consumers never write to the same line.
constexpr size_t kCacheLine = 64;
size_t consumer_block_bytes(uint64_t producers) {
  const size_t bytes = sizeof(Tally) + producers * sizeof(uint64_t);
  return (bytes + kCacheLine - 1) / kCacheLine * kCacheLine;
}

// Grows `pipe` so that it holds at least `records` records of `record_size`
// bytes (see pm::pipe_records_in for why that is not simply bytes / size),
// and returns its size in bytes.
size_t reserve_pipe(const pm::Fd& pipe, size_t records, size_t record_size) {
  const size_t need = pm::pipe_bytes_for(records, record_size);
  size_t have = pm::pipe_size(pipe);
  if (have < need) have = pm::set_pipe_size(pipe, need);
  if (pm::pipe_records_in(have, record_size) < records)
    throw SystemError(fmt::format("pipe of {} bytes holds fewer than {} records of {} bytes", have,
                                  records, record_size),
                      0);
  return have;
}

template <typename Msg>
void run_with(const Params& params, Probe& probe) {
  static_assert(sizeof(Msg) <= PIPE_BUF,
                "a message must be one atomic pipe write, so at most PIPE_BUF bytes");
  static_assert(std::is_trivially_copyable_v<Msg>);
  const uint64_t producers = params.u("producers");
  const uint64_t consumers = params.u("consumers");
  const uint64_t capacity = params.u("capacity");
  const uint64_t m = params.u("messages");

  const std::span<Histogram> hists = probe.latency_histograms(consumers);
  const size_t block = consumer_block_bytes(producers);
  pm::SharedMapping shared(block * consumers);  // zero-filled: every `last` starts at 0
  for (uint64_t c = 0; c < consumers; ++c) new (shared.at<Tally>(c * block)) Tally{};
  auto tally_of = [&](uint64_t c) -> Tally& { return *shared.at<Tally>(c * block); };
  auto last_of = [&](uint64_t c) {
    return std::span<uint64_t>(shared.at<uint64_t>(c * block + sizeof(Tally)), producers);
  };

  pm::Pipe data = pm::make_pipe();
  pm::Pipe credit = pm::make_pipe();
  size_t data_bytes = 0;
  if (capacity > 0) {
    // unsupported() has already refused a capacity no pipe can hold.
    data_bytes = reserve_pipe(data.write, capacity, sizeof(Msg));
    reserve_pipe(credit.write, capacity, 1);
    const std::vector<char> tokens(capacity, 't');
    pm::write_all(credit.write, tokens.data(), tokens.size());
  } else {
    // At most C messages sit in the pipe; if a pipe cannot hold that many, a
    // producer merely waits for a ready consumer to read, so ask for as much
    // as is allowed rather than refusing the cell.
    const size_t want = std::min<size_t>(consumers, pm::pipe_max_records(sizeof(Msg)));
    data_bytes = reserve_pipe(data.write, want, sizeof(Msg));
    reserve_pipe(credit.write, consumers, 1);
  }

  probe.note("unit", "forked process");
  probe.note("channel", fmt::format("one pipe for all units ({} bytes, F_SETPIPE_SZ); one write() "
                                    "of {} bytes per message (atomic: <= PIPE_BUF), one read() of "
                                    "{} bytes per receive",
                                    data_bytes, sizeof(Msg), sizeof(Msg)));
  probe.note("capacity",
             capacity > 0
                 ? fmt::format("credit pipe preloaded with {} one-byte tokens: a producer reads "
                               "one before each write, a consumer writes one back after each "
                               "read; the data pipe holds at least {} messages",
                               capacity, pm::pipe_records_in(data_bytes, sizeof(Msg)))
                 : std::string("rendezvous with the receiver's arrival: a consumer writes a "
                               "ready token before each read and a producer reads one before "
                               "each write; the send completes once the message is in the pipe, "
                               "not once a consumer has read it (at most C in flight)"));

  pm::Children children(producers + consumers);
  probe.start();
  // Consumers first, so that they are already waiting when messages arrive.
  for (uint64_t c = 0; c < consumers; ++c) {
    children.spawn([&, c] {
      // The write end must go, or EOF would never come. credit.read stays
      // open on purpose, though never read (see the top of this file).
      data.write.close();
      Tally& tally = tally_of(c);
      const std::span<uint64_t> last = last_of(c);
      Histogram& hist = hists[c];
      const char token = 'r';
      Msg msg;
      if (capacity > 0) {
        while (pm::read_exact(data.read, &msg, sizeof msg)) {
          take(tally, last, m, producers, msg, hist);
          pm::write_all(credit.write, &token, 1);
        }
      } else {
        for (;;) {
          pm::write_all(credit.write, &token, 1);
          if (!pm::read_exact(data.read, &msg, sizeof msg)) break;
          take(tally, last, m, producers, msg, hist);
        }
      }
    });
  }
  for (uint64_t p = 0; p < producers; ++p) {
    children.spawn([&, p] {
      data.read.close();
      credit.write.close();
      const uint64_t n = messages_of(m, producers, p);
      Msg msg{};
      char token;
      for (uint64_t seq = 0; seq < n; ++seq) {
        // Stamped before waiting for a token: taking a credit is part of the
        // send, as waiting for buffer space is part of a Go send.
        stamp(msg, static_cast<uint32_t>(p), seq);
        if (!pm::read_exact(credit.read, &token, 1))
          throw SystemError("credit pipe closed: every consumer is gone", EPIPE);
        pm::write_all(data.write, &msg, sizeof msg);
      }
    });
  }
  // The parent's copies must go, or consumers would never see EOF.
  data.read.close();
  data.write.close();
  credit.read.close();
  credit.write.close();
  children.reap_all();
  probe.stop();

  std::vector<Tally> tallies(consumers);
  for (uint64_t c = 0; c < consumers; ++c) tallies[c] = tally_of(c);
  probe.verify(verify(params, tallies));
}

void run(const Params& params, Probe& probe) {
  with_message(params, [&]<typename Msg>() { run_with<Msg>(params, probe); });
}

// A capacity B > 0 needs a data pipe that holds B messages; the largest pipe
// an unprivileged process may have is /proc/sys/fs/pipe-max-size.
std::optional<std::string> unsupported(const Params& params) {
  const uint64_t capacity = params.u("capacity");
  if (capacity == 0) return std::nullopt;
  return with_message(params, [&]<typename Msg>() -> std::optional<std::string> {
    size_t max_records = 0;
    size_t max_bytes = 0;
    try {
      max_records = pm::pipe_max_records(sizeof(Msg));
      max_bytes = pm::pipe_max_size();
    } catch (const std::exception& e) {
      return fmt::format("parameter 'capacity': {} needs a pipe size limit: {}", capacity,
                         e.what());
    }
    if (capacity <= max_records) return std::nullopt;
    const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    return fmt::format(
        "parameter 'capacity': {} messages of payload {} do not fit in one pipe ({} messages of "
        "{} bytes per {}-byte pipe page, /proc/sys/fs/pipe-max-size {} bytes); the process "
        "model accepts capacity 0..{} for payload {}",
        capacity, params.u("payload"), page / sizeof(Msg), sizeof(Msg), page, max_bytes,
        max_records, params.u("payload"));
  });
}

}  // namespace
}  // namespace cmbench::prodcons

CMBENCH_IMPL(prodcons, process, ::cmbench::prodcons::run, ::cmbench::prodcons::unsupported)
