#pragma once
// Bencher Metric Format (BMF) JSON made from a cmbench results file, for
// Bencher's `json` adapter (bencher run --adapter json --file F):
//
//   { "<benchmark>": { "<measure>": { "value": V, "lower_value": L, "upper_value": U } } }
//
// One benchmark per cell that was ok, named as the cell is
// (workload/model/param:value/...); one measure per metric its repetitions
// recorded, named as cmbench names it (ns_per_op, ops_per_s,
// latency_p99_ns, memory_peak_bytes, and any extra metric of the
// workload); the value is the median over the measured repetitions, the
// lower and upper values their minimum and maximum. A cell that was not ok
// has no numbers and is left out (BMF has no way to say why). Documented at
// bencher.dev/docs/reference/bencher-metric-format (JSON schema draft 07).
#include <nlohmann/json.hpp>

namespace cmbench {

nlohmann::json to_bmf(const nlohmann::json& results_doc);

}  // namespace cmbench
