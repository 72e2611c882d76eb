#pragma once
// Every workload of the catalog run in-process at tiny sizes on one model,
// started, stopped and verified: the shared body of a model's unit tests
// (boost_fiber_test, coro_test). A test file fills a CatalogImpls with its
// model's info and implementations and calls one function per TEST.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "harness/cell/params.hpp"
#include "harness/cell/probe.hpp"
#include "harness/registry/registry.hpp"

namespace cmbench {
namespace prodcons { const WorkloadSpec& spec(); }
namespace counter { const WorkloadSpec& spec(); }
namespace pingpong { const WorkloadSpec& spec(); }
namespace spawn { const WorkloadSpec& spec(); }
namespace skynet { const WorkloadSpec& spec(); }
namespace ring { const WorkloadSpec& spec(); }
namespace sleepers { const WorkloadSpec& spec(); }
namespace echo { const WorkloadSpec& spec(); }
namespace blocking { const WorkloadSpec& spec(); }
namespace fairness { const WorkloadSpec& spec(); }
namespace idle { const WorkloadSpec& spec(); }

namespace catalog_cells {

struct CatalogImpls {
  const ModelInfo& model;
  const Impl &prodcons, &counter, &pingpong, &spawn, &skynet, &ring, &echo, &sleepers;
  const Impl &blocking, &fairness, &idle;
};

inline void run_cell(const ModelInfo& model, const WorkloadSpec& spec, const Impl& impl,
                     const std::map<std::string, std::string>& given) {
  std::vector<ParamDef> defs = spec.params;
  defs.insert(defs.end(), model.params.begin(), model.params.end());
  Params params = make_params(defs, given);
  if (impl.unsupported) {
    ASSERT_FALSE(impl.unsupported(params));
  }
  Probe probe;
  impl.run(params, probe);
  EXPECT_TRUE(probe.started());
  EXPECT_TRUE(probe.stopped());
  ASSERT_TRUE(probe.verified());
  EXPECT_TRUE(probe.verdict().ok) << probe.verdict().message;
}

inline void prodcons(const CatalogImpls& m) {
  for (auto [p, c] : {std::pair{1, 1}, {4, 4}, {3, 2}}) {
    for (const char* cap : {"0", "1", "7", "1024"}) {
      for (const char* payload : {"0", "64", "1024"}) {
        SCOPED_TRACE(std::to_string(p) + "x" + std::to_string(c) + " cap " + cap + " payload " +
                     payload);
        run_cell(m.model, prodcons::spec(), m.prodcons,
                 {{"producers", std::to_string(p)},
                  {"consumers", std::to_string(c)},
                  {"capacity", cap},
                  {"payload", payload},
                  {"messages", "2000"}});
      }
    }
  }
}

inline void counter(const CatalogImpls& m) {
  for (const char* units : {"1", "2", "64"})
    for (const char* mode : {"lock", "atomic", "message"}) {
      SCOPED_TRACE(std::string(units) + " " + mode);
      run_cell(m.model, counter::spec(), m.counter,
               {{"units", units}, {"mode", mode}, {"increments", "3000"}});
    }
}

inline void pingpong_ring_skynet(const CatalogImpls& m) {
  run_cell(m.model, pingpong::spec(), m.pingpong, {{"rounds", "1000"}});
  run_cell(m.model, ring::spec(), m.ring, {{"units", "5"}, {"hops", "1000"}});
  run_cell(m.model, ring::spec(), m.ring, {{"units", "503"}, {"hops", "2000"}});
  run_cell(m.model, skynet::spec(), m.skynet, {{"leaves", "1"}});
  run_cell(m.model, skynet::spec(), m.skynet, {{"leaves", "1000"}});
}

inline void spawn_and_sleepers(const CatalogImpls& m) {
  for (const char* n : {"1", "10", "5000"}) run_cell(m.model, spawn::spec(), m.spawn, {{"units", n}});
  run_cell(m.model, sleepers::spec(), m.sleepers,
           {{"units", "20"}, {"sleeps", "3"}, {"sleep_ms", "2"}});
}

inline void echo(const CatalogImpls& m) {
  for (const char* loop : {"closed", "open"})
    for (const char* conns : {"1", "8"}) {
      SCOPED_TRACE(std::string(loop) + " " + conns);
      run_cell(m.model, echo::spec(), m.echo,
               {{"connections", conns}, {"requests", "400"}, {"loop", loop}, {"rate", "4000"}});
    }
}

inline void blocking(const CatalogImpls& m) {
  for (const char* offload : {"inline", "pool"})
    for (const char* pairs : {"0", "2"}) {
      SCOPED_TRACE(std::string(offload) + " pairs " + pairs);
      run_cell(m.model, blocking::spec(), m.blocking,
               {{"blockers", "3"}, {"calls", "4"}, {"delay_us", "200"}, {"pairs", pairs}, {"offload", offload}});
    }
}

inline void fairness(const CatalogImpls& m) {
  for (const char* yield : {"slice", "never"}) {
    SCOPED_TRACE(yield);
    run_cell(m.model, fairness::spec(), m.fairness,
             {{"hogs", "3"}, {"work_ms", "1"}, {"budget_ms", "3"}, {"yield", yield}, {"pairs", "2"}});
  }
}

inline void idle(const CatalogImpls& m) {
  for (const char* conns : {"1", "30"}) {
    SCOPED_TRACE(conns);
    run_cell(m.model, idle::spec(), m.idle, {{"connections", conns}, {"requests", "2"}, {"rate", "3000"}});
  }
}

}  // namespace catalog_cells
}  // namespace cmbench
