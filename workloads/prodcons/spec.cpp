#include "workloads/prodcons/spec.hpp"

#include <fmt/format.h>

namespace cmbench::prodcons {

namespace {

// Both shapes (1x1 and 4x4) at the three capacities (rendezvous, one slot,
// the default buffer), then the all-core rows of the M:N runtimes.
std::vector<PresetGroup> sizes(const std::string& m) {
  return {
      {.grids = {{{"producers", {"1"}}, {"consumers", {"1"}}, {"capacity", {"0", "1", "1024"}},
                  {"messages", {m}}},
                 {{"producers", {"4"}}, {"consumers", {"4"}}, {"capacity", {"0", "1", "1024"}},
                  {"messages", {m}}}}},
      {.grids = {{{"producers", {"1"}}, {"consumers", {"1"}}, {"capacity", {"1024"}},
                  {"messages", {m}}, {kWorkersAxis, {"0"}}},
                 {{"producers", {"4"}}, {"consumers", {"4"}}, {"capacity", {"0", "1024"}},
                  {"messages", {m}}, {kWorkersAxis, {"0"}}}},
       .models = by_traits::with_workers_everywhere,
       .last = true},
  };
}

// The scaling preset's row of a kernel-scheduled model with n workers.
Grid scaling_units(const std::string& n) {
  return {{"producers", {n}}, {"consumers", {n}}, {"capacity", {"1024"}}, {"messages", {"20000"}}};
}

}  // namespace

const WorkloadSpec& spec() {
  static const WorkloadSpec s{
      .name = "prodcons",
      .summary = "P producers send M messages over one channel of capacity B to C consumers",
      .params =
          {
              ParamDef::integer("producers", "producer units (P)", 1, 1, 1024),
              ParamDef::integer("consumers", "consumer units (C)", 1, 1, 1024),
              ParamDef::integer("capacity",
                                "channel capacity in messages (B); 0 = unbuffered rendezvous",
                                1024, 0, 1 << 20),
              ParamDef::integer("messages", "messages in total (M), split evenly over producers",
                                100'000, 1, 1'000'000'000),
              ParamDef::integer("payload", "payload bytes per message (S), copied by value", 0, 0,
                                1024, {0, 64, 1024}),
          },
      .operation = "message",
      .operations = [](const Params& p) { return p.u("messages"); },
      .validate = [](const Params& p) -> std::optional<std::string> {
        if (p.u("messages") < p.u("producers"))
          return fmt::format("parameter 'messages': {} is fewer than producers ({}); accepted: "
                             "messages >= producers",
                             p.u("messages"), p.u("producers"));
        return std::nullopt;
      },
      .units_param = "producers",
      // The default preset runs half the spec's messages: a repetition of a
      // process or thread cell still lasts seconds (a cross-CPU wake-up is
      // 7-50 us on a 2-core VM), and the matrix stays within ten minutes;
      // `full` runs 100,000. The regression gate's cells (ci) are sized so
      // that a repetition takes tens of milliseconds in each model: the
      // kernel-scheduled models get fewer messages (a ci cell is compared
      // with itself across builds, not with other models).
      .presets =
          {
              {"default", sizes("50000")},
              {"quick", sizes("20000")},
              {"full", sizes("100000")},
              // Core scaling: 4x4 on 1, 2, 4 and 8 workers, each model's own
              // workers parameter; a kernel-scheduled model's workers are its
              // units, so it sweeps producers and consumers together (1x1 ...
              // 8x8, fewer messages: a cross-CPU wake-up per message). uv has
              // neither and is left out.
              {"scaling",
               {{.grids = {{{"producers", {"4"}}, {"consumers", {"4"}}, {"capacity", {"1024"}},
                            {"messages", {"200000"}}, {kWorkersAxis, {"1", "2", "4", "8"}}}},
                 .models = by_traits::with_workers},
                {.grids = {scaling_units("1"), scaling_units("2"), scaling_units("4"), scaling_units("8")},
                 .models = by_traits::kernel_scheduled}}},
              {"ci",
               {{.grids = {{{"producers", {"1"}}, {"consumers", {"1"}}, {"capacity", {"0", "1024"}},
                            {"messages", {"2000"}}}},
                 .models = by_traits::kernel_scheduled},
                {.grids = {{{"producers", {"1"}}, {"consumers", {"1"}}, {"capacity", {"0", "1024"}},
                            {"messages", {"50000"}}}},
                 .models = by_traits::user_space}}},
          },
      // Capacity 0 (rendezvous), 1 and an odd one, several producers and
      // consumers, every payload size.
      .smoke = {{"producers", {"1", "4"}},
                {"consumers", {"1", "3"}},
                {"capacity", {"0", "1", "7"}},
                {"payload", {"0", "64", "1024"}},
                {"messages", {"600"}}},
      .latency_per_operation = true,
      // One producer hands each message to one consumer through no buffer:
      // one of the two runs at a time (registry.hpp).
      .hands_off =
          [](const Params& p) {
            return p.i("producers") == 1 && p.i("consumers") == 1 && p.i("capacity") == 0;
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
