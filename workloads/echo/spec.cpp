#include "workloads/echo/spec.hpp"

#include <fmt/format.h>

namespace cmbench::echo {

const WorkloadSpec& spec() {
  static const WorkloadSpec s{
      "echo",
      "a TCP echo server on 127.0.0.1 in each model under one load generator: requests/s, "
      "latency, server CPU and memory",
      {
          ParamDef::integer("connections", "concurrent connections (C)", 100, 1, 100'000),
          ParamDef::integer("requests", "requests in total, split over the connections", 100'000,
                            1, 1'000'000'000),
          ParamDef::integer("size", "bytes per request and per response (S)", 64, 1, 65'536),
          ParamDef::choice("loop", "closed: send on response; open: send at a fixed rate", "closed",
                           {"closed", "open"}),
          ParamDef::integer("rate", "open loop: requests per second in total", 20'000, 1,
                            10'000'000),
      },
      "request",
      [](const Params& p) { return p.u("requests"); },
      [](const Params& p) -> std::optional<std::string> {
        if (p.u("requests") < p.u("connections"))
          return fmt::format("parameter 'requests': {} is fewer than connections ({}); accepted: "
                             "requests >= connections",
                             p.u("requests"), p.u("connections"));
        return std::nullopt;
      },
  };
  return s;
}

}  // namespace cmbench::echo
