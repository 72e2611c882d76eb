// threadpool-cell: one cell of the threadpool model, as cmbench runs it
// (`threadpool-cell cell --workload W --model threadpool --param k=v ...
// --result-fd N --passes P`; docs/cell-protocol.md). cell_main does the
// protocol: it checks the parameters against the workload's definitions
// and these, runs the implementation and writes the result.
#include "harness/cell/protocol.hpp"
#include "threadpool.hpp"
#include "workloads/counter/spec.hpp"
#include "workloads/prodcons/spec.hpp"

int main(int argc, char** argv) {
  using cmbench::ParamDef;
  const cmbench::cell::Model model{
      .name = "threadpool",
      // As the manifest (threadpool.json.in) declares them.
      .params = {ParamDef::integer("threads", "pool workers (0 = one per unit the cell needs)", 0, 0, 4096)},
      .implementations =
          {
              {&cmbench::prodcons::spec(), threadpool::prodcons, threadpool::prodcons_unsupported},
              {&cmbench::counter::spec(), threadpool::counter, threadpool::counter_unsupported},
          },
  };
  return cmbench::cell::cell_main(argc, argv, model);
}
