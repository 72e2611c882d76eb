#pragma once
// Parameters of workloads and models: their definitions (name, default,
// accepted values) and a validated set of values for one cell.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cmbench {

// One parameter. An integer parameter has a range [min, max] and, optionally,
// a closed set of accepted values; a choice parameter has a list of words.
struct ParamDef {
  std::string name;
  std::string help;
  std::string default_value;
  bool is_choice = false;
  int64_t min = 0;
  int64_t max = 0;
  std::vector<int64_t> allowed;      // integer parameters only; empty means any in range
  std::vector<std::string> choices;  // choice parameters only

  static ParamDef integer(std::string name, std::string help, int64_t def, int64_t min,
                          int64_t max, std::vector<int64_t> allowed = {});
  static ParamDef choice(std::string name, std::string help, std::string def,
                         std::vector<std::string> choices);

  // "1..1000000", "one of 0, 64, 1024", "lock | atomic | message".
  std::string accepted() const;
};

// Parses an integer as users write sizes: 1000, 10k, 1M, 1G (powers of ten),
// 64Ki, 1Mi (powers of two), with optional '_' separators.
std::optional<int64_t> parse_int(std::string_view text);

// Checks `value` against `def`; returns an error message naming the
// parameter and what it accepts, or nothing when the value is good. On
// success `canonical` is the value as stored (integers in plain digits).
std::optional<std::string> check_value(const ParamDef& def, std::string_view value,
                                       std::string* canonical = nullptr);

// The values of one cell: every parameter of its workload and model, each
// already checked against its definition.
class Params {
 public:
  Params() = default;
  explicit Params(std::map<std::string, std::string> values) : values_(std::move(values)) {}

  int64_t i(std::string_view name) const;
  uint64_t u(std::string_view name) const { return static_cast<uint64_t>(i(name)); }
  const std::string& s(std::string_view name) const;
  bool has(std::string_view name) const { return values_.count(std::string(name)) != 0; }
  const std::map<std::string, std::string>& all() const { return values_; }

  // "producers:4/consumers:4/capacity:0", in the order of `order`.
  std::string label(const std::vector<std::string>& order) const;

 private:
  std::map<std::string, std::string> values_;
};

// Fills in defaults and checks every value; throws std::invalid_argument with
// a one-line message when a name is unknown or a value is not accepted.
Params make_params(const std::vector<ParamDef>& defs,
                   const std::map<std::string, std::string>& given);

}  // namespace cmbench
