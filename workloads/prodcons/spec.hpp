#pragma once
// prodcons: P producers send M messages in total over one channel of
// capacity B to C consumers. Everything the four implementations share lives
// here: the parameters, the message, what a consumer records, and the
// verifier, so that sizes and checks cannot drift between models.
//
// Capacity, as every model must honour it:
//   B > 0  at most B messages have been sent and not yet received (Go's
//          buffered channel: a send completes once the value is in the buffer);
//   B = 0  rendezvous (Go's unbuffered channel): a send completes only once a
//          receiver takes the value. Each implementation says in a comment how
//          its primitive gives that guarantee.
//
// Every producer p sends messages with sequence numbers 0, 1, 2, ... in
// order; every consumer checks, per producer, that the sequence numbers it
// sees increase. Latency is measured per message from just before the
// producer's send call to just after the consumer's receive returned.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"
#include "harness/cell/sample_clock.hpp"

namespace cmbench::prodcons {

const WorkloadSpec& spec();

// The payload sizes the suite builds message types for. A process model
// writes a whole message to a pipe in one write(), which POSIX makes atomic
// only up to PIPE_BUF (4096) bytes, hence the ceiling.
inline constexpr std::array<size_t, 3> kPayloadSizes = {0, 64, 1024};

struct Header {
  uint32_t producer;
  uint32_t reserved;
  uint64_t seq;     // this producer's sequence number, from 0
  int64_t sent_ns;  // sample_ns() just before the send call
};

// A message carries S payload bytes by value; every model copies them
// through its channel like a Go channel of [S]byte would.
template <size_t S>
struct Message {
  Header header;
  std::array<std::byte, S> payload;
};
template <>
struct Message<0> {
  Header header;
};

// How many messages producer p sends, and the global id of its first one.
inline uint64_t messages_of(uint64_t m, uint64_t producers, uint64_t p) {
  return m / producers + (p < m % producers ? 1 : 0);
}
inline uint64_t first_id(uint64_t m, uint64_t producers, uint64_t p) {
  return p * (m / producers) + (p < m % producers ? p : m % producers);
}

// A strong 64-bit mix (splitmix64's finaliser): the sum of mix(id) over the
// ids received tells a lost message paired with a duplicate apart from the
// expected set, where a plain sum would not.
inline uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Fills message `seq` of producer `p`; the payload bytes carry the sequence
// number's low byte so that a consumer can check the copy arrived whole.
template <size_t S>
inline void stamp(Message<S>& msg, uint32_t producer, uint64_t seq) {
  msg.header.producer = producer;
  msg.header.reserved = 0;
  msg.header.seq = seq;
  if constexpr (S > 0) std::memset(msg.payload.data(), static_cast<int>(seq & 0xff), S);
  msg.header.sent_ns = sample_ns();
}

// The line size of x86-64 and most ARM cores. What a consumer writes while
// it counts (its Tally, its row of SeenRows) starts on a line of its own, in
// every model alike, so that no model is charged for false sharing the
// workload does not ask for, and none is spared it by a layout of its own.
// (std::hardware_destructive_interference_size would say the same, but GCC
// warns that its value may differ between compilers.)
inline constexpr size_t kCacheLine = 64;

// What one consumer records. A plain struct with no pointers, so a process
// model can keep it in shared memory; `last` holds, per producer, the last
// sequence number seen plus one (0: none yet) and must have P entries.
struct alignas(kCacheLine) Tally {
  uint64_t count = 0;
  uint64_t id_sum = 0;
  uint64_t id_hash = 0;
  uint64_t order_errors = 0;    // a producer's sequence number not above the last seen
  uint64_t payload_errors = 0;  // payload bytes not those the producer wrote
  uint64_t producer_errors = 0; // a producer index out of range
};

// Every consumer's `last` array: one row of P zeroed sequence counters per
// consumer, each row starting on its own cache line, in one allocation made
// before the timed region. (The process model lays the same rows out in its
// shared memory, beside each consumer's Tally.)
class SeenRows {
 public:
  SeenRows(size_t consumers, size_t producers)
      : producers_(producers),
        stride_((producers * sizeof(uint64_t) + kCacheLine - 1) / kCacheLine * kCacheLine / sizeof(uint64_t)),
        storage_(stride_ * consumers + kCacheLine / sizeof(uint64_t)) {
    void* p = storage_.data();
    size_t space = storage_.size() * sizeof(uint64_t);
    base_ = static_cast<uint64_t*>(std::align(kCacheLine, stride_ * consumers * sizeof(uint64_t), p, space));
  }
  std::span<uint64_t> row(size_t consumer) { return {base_ + consumer * stride_, producers_}; }

 private:
  size_t producers_;
  size_t stride_;
  std::vector<uint64_t> storage_;
  uint64_t* base_ = nullptr;
};

// Records a received message: called by a consumer right after its receive
// returned. `m` and `producers` are the run's parameters.
template <size_t S>
inline void take(Tally& t, std::span<uint64_t> last, uint64_t m, uint64_t producers,
                 const Message<S>& msg, Histogram& latency) {
  latency.record(sample_since(msg.header.sent_ns, sample_ns()));
  const Header& h = msg.header;
  if (h.producer >= producers) {
    ++t.producer_errors;
    return;
  }
  ++t.count;
  uint64_t id = first_id(m, producers, h.producer) + h.seq;
  t.id_sum += id;
  t.id_hash += mix(id);
  if (h.seq + 1 <= last[h.producer]) ++t.order_errors;
  last[h.producer] = h.seq + 1;
  if constexpr (S > 0) {
    auto expect = static_cast<std::byte>(h.seq & 0xff);
    if (msg.payload[0] != expect || msg.payload[S - 1] != expect) ++t.payload_errors;
  }
}

// After the timed region: every message consumed exactly once, each
// producer's order kept, every payload intact.
Verdict verify(const Params& params, std::span<const Tally> tallies);

// Calls f.template operator()<Message<S>>() for the run's payload size S, so
// an implementation is written once as a template over its message type.
template <typename F>
decltype(auto) with_message(const Params& params, F&& f) {
  switch (params.u("payload")) {
    case 0: return f.template operator()<Message<0>>();
    case 64: return f.template operator()<Message<64>>();
    default: return f.template operator()<Message<1024>>();
  }
}

}  // namespace cmbench::prodcons
