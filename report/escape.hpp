#pragma once
// Every context a value from a results file can reach in report.html and
// report.md, and the one function that makes a value safe in each. The
// templates never see a raw value: mustache's {{name}} applies html() (or
// md_text() for the Markdown file), and the few {{{name}}} tags a template
// may use are checked against a list (templates.cpp) of fields that these
// functions produced.
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace cmbench::report::escape {

// HTML text and double-quoted attribute values: & < > " ' become character
// references; NUL, which HTML parsers treat unevenly, becomes U+FFFD.
std::string html(std::string_view s);

// An element id that is also a safe URL fragment and a safe attribute value
// whatever the text: ASCII letters and digits stay, every other byte becomes
// "_xx" (its hex value), "_" included, so two texts never share an id.
// "prodcons" stays "prodcons"; "a b" becomes "a_20b".
std::string fragment_id(std::string_view text);

// JSON inside a <script> element: "<", ">" and "&" as \u escapes (so
// "</script" and "<!--" cannot end or change the element), U+2028 and U+2029
// as \u2028 and \u2029 (line terminators in older JavaScript string
// literals). Invalid UTF-8 is replaced, never passed through.
std::string json_for_script(const nlohmann::json& j);

// A script's source inlined into a <script> element (the chart library):
// "</script" becomes "<\/script", the same JavaScript and nothing to HTML.
// Throws std::runtime_error on "<!--", which has no rewrite that is safe in
// every JavaScript context (the libraries of this page contain none).
std::string script_source(std::string_view js);

// Text Vega-Lite places inside one of its expressions: a title, which the
// ARIA description of every mark quotes after escaping only its double
// quotes, so a line break, a control character, U+2028 or U+2029 ends the
// string early and the chart fails to parse, and a backslash escapes the
// closing quote. Those become a space (the backslash: U+29F5, which looks
// like one).
std::string vega_text(std::string_view s);

// Markdown text, also inside a table cell: the characters Markdown gives a
// meaning to (\ ` * _ [ ] < > | ~ &) are backslash-escaped ("_" only where it
// could start or end emphasis: not between two letters or digits, so
// pthread_create stays as it is), and a line break becomes a space, so a
// value can neither end its cell or row nor become a link, an image or HTML.
std::string md_text(std::string_view s);

// A Markdown code span holding the text literally: fenced by one backtick
// more than the longest run of backticks inside, padded when the text starts
// or ends with a backtick, line breaks as spaces, NUL as U+FFFD. Not for table cells ("|"
// would still split the cell there).
std::string md_code(std::string_view s);

}  // namespace cmbench::report::escape
