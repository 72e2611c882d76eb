#pragma once
// The report's pages are mustache templates (report/templates/, embedded
// into the binary at build time, so cmbench reads no template from disk)
// filled from a view: a JSON object of strings, booleans, lists and objects
// built by view.cpp. Rendering escapes every {{name}} for the output format
// (escape::html or escape::md_text); the few {{{name}}} tags that insert text
// as it is are allowed only for the fields listed in templates.cpp, which
// the view fills with the output of escape.hpp's other functions.
#include <nlohmann/json.hpp>

#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace cmbench::report {

// A template that does not parse, inserts a field unescaped that is not on
// the list, or names a field the view lacks: a defect of the report's own
// code, never of the input.
struct TemplateError : std::logic_error {
  using std::logic_error::logic_error;
};

enum class Format { html, markdown };

// Renders the template file `name` ("report.html") with `view`, escaping
// for the format its name ends in (.md: Markdown; anything else: HTML). The
// other template files of that format are its partials ({{> style.css}}).
// Throws TemplateError when a template does not parse, uses an unescaped tag
// for a field that is not on the format's list, or names a field the view
// lacks (a misspelt name would otherwise render as nothing).
std::string render_template(const std::string& name, const nlohmann::json& view);

// The same for a template given as text; `name` is for messages.
std::string render_text(const std::string& name, std::string_view text, const nlohmann::json& view, Format format);

// The fields a template of `format` may insert unescaped ({{{name}}}).
const std::vector<std::string>& unescaped_fields(Format format);

// The template files by name, as embedded at build time
// (report/embed_templates.cmake generates the definition).
const std::map<std::string, std::string_view>& embedded_templates();

}  // namespace cmbench::report
