#include "report/templates.hpp"

#include <fmt/format.h>
#include <kainjow/mustache.hpp>

#include <algorithm>
#include <set>
#include <stdexcept>

#include "report/escape.hpp"

namespace cmbench::report {

namespace mstch = kainjow::mustache;

namespace {

// A mustache context that remembers every name a template asked for and
// the view did not have. Mustache renders such a name as nothing, which
// would turn a misspelt field into a silently empty cell of the report.
class StrictContext : public mstch::context<std::string> {
 public:
  explicit StrictContext(const mstch::data* root) : mstch::context<std::string>(root) {}

  const mstch::data* get(const std::string& name) const override {
    const auto* found = mstch::context<std::string>::get(name);
    if (!found) missing_.insert(name);
    return found;
  }
  const mstch::data* get_partial(const std::string& name) const override {
    const auto* found = mstch::context<std::string>::get_partial(name);
    if (!found) missing_.insert("> " + name);
    return found;
  }
  const std::set<std::string>& missing() const { return missing_; }

 private:
  mutable std::set<std::string> missing_;
};

// JSON null is a false section; numbers print as JSON writes them. Strings
// stay strings: the renderer escapes them where the template puts them.
mstch::data to_data(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::object: {
      mstch::data out{mstch::data::type::object};
      for (const auto& [k, v] : j.items()) out.set(k, to_data(v));
      return out;
    }
    case nlohmann::json::value_t::array: {
      mstch::data out{mstch::data::type::list};
      for (const auto& v : j) out.push_back(to_data(v));
      return out;
    }
    case nlohmann::json::value_t::string: return mstch::data{j.get<std::string>()};
    case nlohmann::json::value_t::boolean: return mstch::data{j.get<bool>()};
    case nlohmann::json::value_t::null: return mstch::data{false};
    default: return mstch::data{j.dump()};
  }
}

// Every tag that inserts text unescaped ({{{name}}}, {{&name}}) must name a
// field of the format's list, and no template may change the delimiters
// (which would hide tags from this check).
void check_unescaped_tags(const std::string& file, std::string_view text, Format format) {
  const auto& allowed = unescaped_fields(format);
  auto trim = [](std::string_view s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return std::string(s);
  };
  for (size_t at = text.find("{{"); at != std::string_view::npos; at = text.find("{{", at + 2)) {
    std::string_view rest = text.substr(at + 2);
    std::string name;
    if (rest.starts_with("{")) {
      auto end = rest.find("}}}");
      if (end == std::string_view::npos) throw TemplateError(fmt::format("template {}: unclosed {{{{{{", file));
      name = trim(rest.substr(1, end - 1));
    } else if (rest.starts_with("&")) {
      auto end = rest.find("}}");
      if (end == std::string_view::npos) throw TemplateError(fmt::format("template {}: unclosed {{{{&", file));
      name = trim(rest.substr(1, end - 1));
    } else if (rest.starts_with("=")) {
      throw TemplateError(fmt::format("template {}: changes the tag delimiters, which the escaping check cannot follow", file));
    } else {
      continue;
    }
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end())
      throw TemplateError(fmt::format(
          "template {}: {{{{{{{}}}}}}} inserts a field unescaped that is not on the list of fields made safe by "
          "report/escape.hpp",
          file, name));
  }
}

}  // namespace

const std::vector<std::string>& unescaped_fields(Format format) {
  // HTML: the chart library (escape::script_source) and the charts'
  // specifications (escape::json_for_script). Markdown: code spans
  // (escape::md_code).
  static const std::vector<std::string> html = {"script_source", "specs_json"};
  static const std::vector<std::string> markdown = {"command_md_code", "fixed_md_code", "name_md_code"};
  return format == Format::html ? html : markdown;
}

Format format_of(const std::string& file) { return file.ends_with(".md") ? Format::markdown : Format::html; }

std::string render_text(const std::string& name, std::string_view text, const nlohmann::json& view, Format format) {
  check_unescaped_tags(name, text, format);
  mstch::data root = to_data(view);
  // The other templates of the same format are its partials.
  for (const auto& [file, partial_text] : embedded_templates()) {
    if (format_of(file) != format) continue;
    check_unescaped_tags(file, partial_text, format);
    if (root.get(file)) throw TemplateError(fmt::format("the view has a field named like the template {}", file));
    std::string copy(partial_text);
    root.set(file, mstch::partial([copy] { return copy; }));
  }

  mstch::mustache tmpl{std::string(text)};
  if (!tmpl.is_valid()) throw TemplateError(fmt::format("template {}: {}", name, tmpl.error_message()));
  if (format == Format::html)
    tmpl.set_custom_escape([](const std::string& s) { return escape::html(s); });
  else
    tmpl.set_custom_escape([](const std::string& s) { return escape::md_text(s); });
  StrictContext ctx{&root};
  std::string out = tmpl.render(ctx);
  if (!tmpl.is_valid()) throw TemplateError(fmt::format("template {}: {}", name, tmpl.error_message()));
  if (!ctx.missing().empty())
    throw TemplateError(fmt::format("template {} names fields the view lacks: {}", name, fmt::join(ctx.missing(), ", ")));
  return out;
}

std::string render_template(const std::string& name, const nlohmann::json& view) {
  const auto& files = embedded_templates();
  auto it = files.find(name);
  if (it == files.end()) throw TemplateError(fmt::format("no template named {}", name));
  return render_text(name, it->second, view, format_of(name));
}

}  // namespace cmbench::report
