#include "harness/cell/params.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace cmbench {

ParamDef ParamDef::integer(std::string name, std::string help, int64_t def, int64_t min,
                           int64_t max, std::vector<int64_t> allowed) {
  ParamDef d;
  d.name = std::move(name);
  d.help = std::move(help);
  d.default_value = std::to_string(def);
  d.min = min;
  d.max = max;
  d.allowed = std::move(allowed);
  return d;
}

ParamDef ParamDef::choice(std::string name, std::string help, std::string def,
                          std::vector<std::string> choices) {
  ParamDef d;
  d.name = std::move(name);
  d.help = std::move(help);
  d.default_value = std::move(def);
  d.is_choice = true;
  d.choices = std::move(choices);
  return d;
}

std::string ParamDef::accepted() const {
  if (is_choice) return fmt::format("{}", fmt::join(choices, " | "));
  if (!allowed.empty()) return fmt::format("one of {}", fmt::join(allowed, ", "));
  return fmt::format("{}..{}", min, max);
}

std::optional<int64_t> parse_int(std::string_view text) {
  std::string digits;
  size_t i = 0;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c >= '0' && c <= '9') {
      digits.push_back(c);
    } else if (c == '_' && !digits.empty()) {
      continue;
    } else {
      break;
    }
  }
  if (digits.empty() || digits.size() > 18) return std::nullopt;
  std::string_view suffix = text.substr(i);
  int64_t mult = 1;
  if (suffix.empty()) mult = 1;
  else if (suffix == "k" || suffix == "K") mult = 1'000;
  else if (suffix == "M") mult = 1'000'000;
  else if (suffix == "G") mult = 1'000'000'000;
  else if (suffix == "Ki") mult = int64_t{1} << 10;
  else if (suffix == "Mi") mult = int64_t{1} << 20;
  else if (suffix == "Gi") mult = int64_t{1} << 30;
  else return std::nullopt;
  int64_t v = std::stoll(digits);
  if (v > std::numeric_limits<int64_t>::max() / mult) return std::nullopt;
  return v * mult;
}

std::optional<std::string> check_value(const ParamDef& def, std::string_view value,
                                       std::string* canonical) {
  if (def.is_choice) {
    if (std::find(def.choices.begin(), def.choices.end(), value) == def.choices.end())
      return fmt::format("parameter '{}': '{}' is not accepted; accepted: {}", def.name, value,
                         def.accepted());
    if (canonical) *canonical = std::string(value);
    return std::nullopt;
  }
  auto v = parse_int(value);
  bool ok = v && *v >= def.min && *v <= def.max;
  if (ok && !def.allowed.empty())
    ok = std::find(def.allowed.begin(), def.allowed.end(), *v) != def.allowed.end();
  if (!ok)
    return fmt::format("parameter '{}': '{}' is not accepted; accepted: {}", def.name, value,
                       def.accepted());
  if (canonical) *canonical = std::to_string(*v);
  return std::nullopt;
}

int64_t Params::i(std::string_view name) const {
  auto it = values_.find(std::string(name));
  if (it == values_.end()) throw std::logic_error(fmt::format("no parameter '{}'", name));
  return std::stoll(it->second);
}

const std::string& Params::s(std::string_view name) const {
  auto it = values_.find(std::string(name));
  if (it == values_.end()) throw std::logic_error(fmt::format("no parameter '{}'", name));
  return it->second;
}

std::string Params::label(const std::vector<std::string>& order) const {
  std::string out;
  for (const auto& name : order) {
    auto it = values_.find(name);
    if (it == values_.end()) continue;
    if (!out.empty()) out += '/';
    out += name + ':' + it->second;
  }
  return out;
}

Params make_params(const std::vector<ParamDef>& defs,
                   const std::map<std::string, std::string>& given) {
  std::map<std::string, std::string> values;
  for (const auto& entry : given) {
    // Not a structured binding: clang before 16 cannot capture one in a
    // lambda, and the fuzz build (fuzz/) compiles this with clang.
    const std::string& name = entry.first;
    auto def = std::find_if(defs.begin(), defs.end(), [&](const ParamDef& d) { return d.name == name; });
    if (def == defs.end()) {
      std::vector<std::string> names;
      for (const auto& d : defs) names.push_back(d.name);
      throw std::invalid_argument(fmt::format("unknown parameter '{}'; accepted: {}", name,
                                              fmt::join(names, ", ")));
    }
  }
  for (const auto& def : defs) {
    auto it = given.find(def.name);
    std::string value = it == given.end() ? def.default_value : it->second;
    std::string canonical;
    if (auto err = check_value(def, value, &canonical)) throw std::invalid_argument(*err);
    values[def.name] = canonical;
  }
  return Params(std::move(values));
}

}  // namespace cmbench
