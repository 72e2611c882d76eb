#include "workloads/prodcons/spec.hpp"

#include <fmt/format.h>

namespace cmbench::prodcons {

const WorkloadSpec& spec() {
  static const WorkloadSpec s{
      "prodcons",
      "P producers send M messages over one channel of capacity B to C consumers",
      {
          ParamDef::integer("producers", "producer units (P)", 1, 1, 1024),
          ParamDef::integer("consumers", "consumer units (C)", 1, 1, 1024),
          ParamDef::integer("capacity",
                            "channel capacity in messages (B); 0 = unbuffered rendezvous", 1024,
                            0, 1 << 20),
          ParamDef::integer("messages", "messages in total (M), split evenly over producers",
                            100'000, 1, 1'000'000'000),
          ParamDef::integer("payload", "payload bytes per message (S), copied by value", 0, 0,
                            1024, {0, 64, 1024}),
      },
      "message",
      [](const Params& p) { return p.u("messages"); },
      [](const Params& p) -> std::optional<std::string> {
        if (p.u("messages") < p.u("producers"))
          return fmt::format("parameter 'messages': {} is fewer than producers ({}); accepted: "
                             "messages >= producers",
                             p.u("messages"), p.u("producers"));
        return std::nullopt;
      },
  };
  return s;
}

Verdict verify(const Params& params, std::span<const Tally> tallies) {
  const uint64_t m = params.u("messages");
  Tally all;
  for (const auto& t : tallies) {
    all.count += t.count;
    all.id_sum += t.id_sum;
    all.id_hash += t.id_hash;
    all.order_errors += t.order_errors;
    all.payload_errors += t.payload_errors;
    all.producer_errors += t.producer_errors;
  }
  if (all.producer_errors != 0)
    return Verdict::fail(fmt::format("{} messages named a producer that does not exist",
                                     all.producer_errors));
  if (all.count != m)
    return Verdict::fail(fmt::format("expected {} messages consumed, got {}", m, all.count));
  uint64_t want_sum = 0, want_hash = 0;
  for (uint64_t id = 0; id < m; ++id) {
    want_sum += id;
    want_hash += mix(id);
  }
  if (all.id_sum != want_sum || all.id_hash != want_hash)
    return Verdict::fail(fmt::format(
        "the {} messages consumed are not each message exactly once (id sum {} expected {})", m,
        all.id_sum, want_sum));
  if (all.order_errors != 0)
    return Verdict::fail(fmt::format(
        "{} messages arrived out of their producer's order", all.order_errors));
  if (all.payload_errors != 0)
    return Verdict::fail(fmt::format("{} payloads arrived damaged", all.payload_errors));
  return Verdict::pass();
}

}  // namespace cmbench::prodcons
