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
// A pipe has no notion of capacity in messages, and its write() returns as
// soon as the bytes are in the kernel's buffer, so each capacity adds its own
// second channel:
//
//   B > 0  Go's buffered channel: at most B messages have been sent and not
//          yet received, and a send completes once its message is in the
//          pipe, whether or not any consumer is receiving. A credit pipe is
//          preloaded with B one-byte tokens; a producer reads one before it
//          writes a message, and a consumer writes one back after it has read
//          and taken a message. Tokens in the credit pipe plus messages whose
//          credit has not come back is always B, so at most B messages are
//          written and not yet taken. The data pipe is sized (F_SETPIPE_SZ)
//          to hold B messages, so a producer holding a credit never waits for
//          pipe space: otherwise the real capacity would silently be smaller
//          than B.
//
//   B = 0  Go's unbuffered channel: a send completes only once a consumer
//          has taken the value. Every producer has an acknowledgement pipe of
//          its own. A producer writes its message to the data pipe and then
//          blocks reading one byte from its acknowledgement pipe; the consumer
//          that read the message calls take() and then writes one byte to the
//          acknowledgement pipe of msg.header.producer (the model's
//          send_and_await_ack() and acknowledge()). So when a send returns, a
//          consumer has taken its message, and each producer has at most one
//          message in the data pipe: at most P messages are sent and not yet
//          received, exactly like P Go senders parked on the channel holding
//          their values. There is no credit pipe. The data pipe is sized to
//          hold P messages (or as many as pipe-max-size allows; a producer
//          then merely waits for space as well). The price of the guarantee
//          is a second pipe round trip per message: the producer sleeps until
//          the consumer runs and acknowledges, where a Go receiver already
//          waiting would take the value without waking the sender twice.
//
// Termination. Consumers stop at EOF on the data pipe, which comes once every
// producer has exited, closing its write end; that works only because every
// other holder of the write end closes it: consumers right after fork, the
// parent (the cell process) once it has forked every unit. When B > 0,
// consumers keep the credit pipe's read end open although they never read
// from it: the producers, its only readers, may all have exited when the last
// tokens are written back, and a write to a pipe without readers would raise
// SIGPIPE. Token writes cannot block: the credit pipe is sized to hold B
// tokens. Producers close the credit pipe's write end and the data pipe's
// read end, so that if every consumer died a producer would see EOF (an
// error) or SIGPIPE instead of waiting forever.
//
// When B = 0, consumers hold the write end of every acknowledgement pipe and
// no read end; a producer holds only the read end of its own. The parent
// closes the data pipe's read end and every acknowledgement write end as soon
// as the consumers are forked (so producers never inherit them), each
// producer's acknowledgement read end as soon as that producer is forked,
// and the data pipe's write end once every unit is forked. An
// acknowledgement is never written to a pipe without a reader, so it cannot
// raise SIGPIPE: a consumer acknowledges producer p only after reading one of
// p's messages, p is then blocked waiting for exactly that acknowledgement,
// and p exits only after it has read the acknowledgement of its last message.
// If every consumer died, a waiting producer would read EOF on its
// acknowledgement pipe (no one else holds its write end) and fail instead of
// hanging. Descriptors: 2P + 2 in the parent before it forks, P + 1 in each
// consumer, 2 in each producer; unsupported() refuses a P for which the
// parent's RLIMIT_NOFILE is too small, and EMFILE at setup is a LimitError.
//
// Tallies, `last` arrays and the latency histograms live in anonymous shared
// memory, so the parent verifies them after it reaped every child.
#include <sys/resource.h>

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

// Descriptors the cell process may already have open besides the ones this
// implementation creates (stdio, the harness's pipe to its parent, the test
// runner's): a generous bound, used only to refuse a cell up front.
constexpr uint64_t kFdReserve = 32;

// Each consumer's Tally and `last` array share one block of cache lines of
// their own (kCacheLine, spec.hpp), so consumers never write to the same line.
size_t consumer_block_bytes(uint64_t producers) {
  const size_t bytes = sizeof(Tally) + producers * sizeof(uint64_t);
  return (bytes + kCacheLine - 1) / kCacheLine * kCacheLine;
}

// What the consumers record, in memory shared with the parent.
class SharedTallies {
 public:
  SharedTallies(uint64_t producers, uint64_t consumers)
      : producers_(producers),
        block_(consumer_block_bytes(producers)),
        shared_(block_ * consumers) {  // zero-filled: every `last` starts at 0
    for (uint64_t c = 0; c < consumers; ++c) new (shared_.at<Tally>(c * block_)) Tally{};
  }
  Tally& tally(uint64_t c) const { return *shared_.at<Tally>(c * block_); }
  std::span<uint64_t> last(uint64_t c) const {
    return {shared_.at<uint64_t>(c * block_ + sizeof(Tally)), producers_};
  }

 private:
  uint64_t producers_;
  size_t block_;
  pm::SharedMapping shared_;
};

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

// B > 0: one data pipe and one credit pipe (see the top of this file).
template <typename Msg>
void run_buffered(const Params& params, Probe& probe) {
  const uint64_t producers = params.u("producers");
  const uint64_t consumers = params.u("consumers");
  const uint64_t capacity = params.u("capacity");
  const uint64_t m = params.u("messages");

  const std::span<Histogram> hists = probe.latency_histograms(consumers);
  const SharedTallies shared(producers, consumers);

  pm::Pipe data = pm::make_pipe();
  pm::Pipe credit = pm::make_pipe();
  // unsupported() has already refused a capacity no pipe can hold.
  const size_t data_bytes = reserve_pipe(data.write, capacity, sizeof(Msg));
  reserve_pipe(credit.write, capacity, 1);
  const std::vector<char> tokens(capacity, 't');
  pm::write_all(credit.write, tokens.data(), tokens.size());

  probe.note("channel", fmt::format("one pipe for all units ({} bytes, F_SETPIPE_SZ); one write() "
                                    "of {} bytes per message (atomic: <= PIPE_BUF), one read() of "
                                    "{} bytes per receive",
                                    data_bytes, sizeof(Msg), sizeof(Msg)));
  probe.note("capacity",
             fmt::format("buffered: at most {} messages sent and not yet received, a send "
                         "completes once the message is in the pipe; a credit pipe preloaded "
                         "with {} one-byte tokens: a producer reads one before each write, a "
                         "consumer writes one back after each read; the data pipe holds at "
                         "least {} messages",
                         capacity, capacity, pm::pipe_records_in(data_bytes, sizeof(Msg))));

  pm::Children children(producers + consumers);
  probe.start();
  // Consumers first, so that they are already waiting when messages arrive.
  for (uint64_t c = 0; c < consumers; ++c) {
    children.spawn([&, c] {
      // The write end must go, or EOF would never come. credit.read stays
      // open on purpose, though never read (see the top of this file).
      data.write.close();
      Tally& tally = shared.tally(c);
      const std::span<uint64_t> last = shared.last(c);
      Histogram& hist = hists[c];
      const char token = 'r';
      Msg msg;
      while (pm::read_exact(data.read, &msg, sizeof msg)) {
        take(tally, last, m, producers, msg, hist);
        pm::write_all(credit.write, &token, 1);
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
        // Stamped before waiting for a credit: taking a credit is part of
        // the send, as waiting for buffer space is part of a Go send.
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
  for (uint64_t c = 0; c < consumers; ++c) tallies[c] = shared.tally(c);
  probe.verify(verify(params, tallies));
}

// B = 0: one data pipe and one acknowledgement pipe per producer (see the
// top of this file).
template <typename Msg>
void run_rendezvous(const Params& params, Probe& probe) {
  const uint64_t producers = params.u("producers");
  const uint64_t consumers = params.u("consumers");
  const uint64_t m = params.u("messages");

  const std::span<Histogram> hists = probe.latency_histograms(consumers);
  const SharedTallies shared(producers, consumers);

  pm::Pipe data = pm::make_pipe();
  // At most P messages sit in the data pipe, one per waiting producer. If a
  // pipe cannot hold that many, a producer merely waits for space before it
  // waits for its acknowledgement, so ask for as much as is allowed rather
  // than refusing the cell.
  const size_t want = std::min<size_t>(producers, pm::pipe_max_records(sizeof(Msg)));
  const size_t data_bytes = reserve_pipe(data.write, want, sizeof(Msg));
  // An acknowledgement pipe holds at most one byte, so it is shrunk to one
  // page: P pipes of the default 16 pages would count 16P pages against the
  // user's pipe budget (fs.pipe-user-pages-soft, 16384 pages), beyond which
  // the kernel gives new pipes, this run's or another's, only 2 pages.
  const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::vector<pm::Pipe> acks;
  acks.reserve(producers);
  for (uint64_t p = 0; p < producers; ++p) {
    acks.push_back(pm::make_pipe());  // EMFILE: LimitError
    pm::set_pipe_size(acks.back().write, page);
  }

  probe.note("channel",
             fmt::format("one data pipe for all units ({} bytes, F_SETPIPE_SZ, holds at least {} "
                         "messages) and one acknowledgement pipe per producer; one write() of {} "
                         "bytes per message (atomic: <= PIPE_BUF), one read() of {} bytes per "
                         "receive, one 1-byte write() and read() per acknowledgement",
                         data_bytes, pm::pipe_records_in(data_bytes, sizeof(Msg)), sizeof(Msg),
                         sizeof(Msg)));
  probe.note("capacity",
             "rendezvous: a producer writes its message to the data pipe and then blocks reading "
             "one byte from its own acknowledgement pipe, which the consumer that read the "
             "message writes after take(); a send completes only once a consumer has taken the "
             "message, and at most P messages (one per producer) are sent and not yet received, "
             "like P parked Go senders");

  pm::Children children(producers + consumers);
  probe.start();
  // Consumers first, so that they are already waiting when messages arrive.
  for (uint64_t c = 0; c < consumers; ++c) {
    children.spawn([&, c] {
      // The data write end must go, or EOF would never come; the
      // acknowledgement read ends belong to the producers.
      data.write.close();
      for (pm::Pipe& ack : acks) ack.read.close();
      Tally& tally = shared.tally(c);
      const std::span<uint64_t> last = shared.last(c);
      Histogram& hist = hists[c];
      Msg msg;
      while (pm::read_exact(data.read, &msg, sizeof msg)) {
        take(tally, last, m, producers, msg, hist);
        // Cannot be out of range (writes are atomic), but an index into
        // `acks` is checked rather than trusted.
        if (msg.header.producer >= producers) [[unlikely]]
          throw SystemError(fmt::format("message from producer {} of {}", msg.header.producer,
                                        producers),
                            0);
        pm::acknowledge(acks[msg.header.producer].write);
      }
    });
  }
  // Producers must not inherit these: a producer holding another's
  // acknowledgement write end would keep it from seeing EOF if every
  // consumer died.
  data.read.close();
  for (pm::Pipe& ack : acks) ack.write.close();
  for (uint64_t p = 0; p < producers; ++p) {
    children.spawn([&, p] {
      // The read ends of producers forked before p are closed already; those
      // of the producers after it are not p's to hold.
      for (uint64_t q = p + 1; q < producers; ++q) acks[q].read.close();
      const pm::Fd& ack = acks[p].read;
      const uint64_t n = messages_of(m, producers, p);
      Msg msg{};
      for (uint64_t seq = 0; seq < n; ++seq) {
        stamp(msg, static_cast<uint32_t>(p), seq);
        pm::send_and_await_ack(data.write, ack, &msg, sizeof msg);
      }
    });
    acks[p].read.close();
  }
  // The last copy besides the producers': consumers see EOF once they exit.
  data.write.close();
  children.reap_all();
  probe.stop();

  std::vector<Tally> tallies(consumers);
  for (uint64_t c = 0; c < consumers; ++c) tallies[c] = shared.tally(c);
  probe.verify(verify(params, tallies));
}

void run(const Params& params, Probe& probe) {
  probe.note("unit", "forked process");
  with_message(params, [&]<typename Msg>() {
    static_assert(sizeof(Msg) <= PIPE_BUF,
                  "a message must be one atomic pipe write, so at most PIPE_BUF bytes");
    static_assert(std::is_trivially_copyable_v<Msg>);
    if (params.u("capacity") > 0)
      run_buffered<Msg>(params, probe);
    else
      run_rendezvous<Msg>(params, probe);
  });
}

// B > 0 needs a data pipe that holds B messages; the largest pipe an
// unprivileged process may have is /proc/sys/fs/pipe-max-size. B = 0 needs
// 2P + 2 descriptors in the parent, within its RLIMIT_NOFILE.
std::optional<std::string> unsupported(const Params& params) {
  const uint64_t capacity = params.u("capacity");
  if (capacity == 0) {
    const uint64_t producers = params.u("producers");
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0)
      return fmt::format("parameter 'producers': {} at capacity 0 needs {} descriptors, and "
                         "getrlimit(RLIMIT_NOFILE) failed: {}",
                         producers, 2 * producers + 2, std::strerror(errno));
    const uint64_t soft = limit.rlim_cur;
    if (soft == RLIM_INFINITY || 2 * producers + 2 + kFdReserve <= soft) return std::nullopt;
    const uint64_t max = soft >= 2 + kFdReserve + 2 ? (soft - 2 - kFdReserve) / 2 : 0;
    return fmt::format("parameter 'producers': {} at capacity 0 needs one acknowledgement pipe "
                       "per producer, {} descriptors plus {} in reserve, over RLIMIT_NOFILE {}; "
                       "the process model accepts producers 1..{} at capacity 0 with this limit",
                       producers, 2 * producers + 2, kFdReserve, soft, max);
  }
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
