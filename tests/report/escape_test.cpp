// The escaping functions of report/escape.hpp, one context at a time, and
// the template renderer's guards: unknown fields and unescaped tags are
// refused, values are escaped for the format.
#include <gtest/gtest.h>

#include <set>

#include "report/escape.hpp"
#include "report/templates.hpp"

namespace {

using namespace cmbench::report;
using nlohmann::json;

// Markup, script and Markdown meant to break out of wherever it lands.
const std::string kHostile =
    "\"'><img src=x onerror=alert(1)><script>alert(2)</script><!--<script>|a\nb\r\xE2\x80\xA8\xE2\x80\xA9"
    "{{title}}`*_x_~~s~~[l](javascript:alert(3))&amp;#\\" + std::string(1, '\0') + "end";

TEST(EscapeHtml, TurnsEveryMarkupCharacterIntoAReference) {
  EXPECT_EQ(escape::html("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  const std::string out = escape::html(kHostile);
  for (char ch : {'<', '>', '"', '\''}) EXPECT_EQ(out.find(ch), std::string::npos) << ch << " in " << out;
  EXPECT_EQ(out.find('\0'), std::string::npos);
  // Every "&" starts one of the references this function writes.
  for (size_t at = out.find('&'); at != std::string::npos; at = out.find('&', at + 1)) {
    auto rest = out.substr(at);
    EXPECT_TRUE(rest.starts_with("&amp;") || rest.starts_with("&lt;") || rest.starts_with("&gt;") ||
                rest.starts_with("&quot;") || rest.starts_with("&#39;"))
        << rest;
  }
  EXPECT_EQ(escape::html("plain text · ×4.00"), "plain text · ×4.00");
}

TEST(EscapeFragmentId, KeepsLettersAndDigitsAndEncodesTheRest) {
  EXPECT_EQ(escape::fragment_id("prodcons"), "prodcons");
  EXPECT_EQ(escape::fragment_id("a b"), "a_20b");
  EXPECT_EQ(escape::fragment_id("a_b"), "a_5fb");
  const std::string id = escape::fragment_id(kHostile);
  for (char ch : id) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_') << id;
  // Two texts never share an id: "_" is encoded too, so "_20" cannot be
  // mistaken for an encoded space.
  std::set<std::string> ids;
  for (const char* s : {"a b", "a_20b", "a_b", "a-b", "a.b", "ab", "a%20b"}) EXPECT_TRUE(ids.insert(escape::fragment_id(s)).second) << s;
}

TEST(EscapeJsonForScript, CannotEndTheElementAndParsesBackToTheSameValue) {
  json v = {{"name", kHostile}, {"list", {"</script>", "<!--", "\xE2\x80\xA8"}}, {"n", 1.5}};
  const std::string out = escape::json_for_script(v);
  EXPECT_EQ(out.find('<'), std::string::npos) << out;
  EXPECT_EQ(out.find('>'), std::string::npos) << out;
  EXPECT_EQ(out.find("\xE2\x80\xA8"), std::string::npos) << out;
  EXPECT_EQ(out.find("\xE2\x80\xA9"), std::string::npos) << out;
  EXPECT_NE(out.find("\\u2028"), std::string::npos) << out;
  EXPECT_EQ(json::parse(out), v);
}

TEST(EscapeScriptSource, BreaksAClosingTagAndRefusesAnHtmlComment) {
  EXPECT_EQ(escape::script_source("var s = '</script>'; var t = '</SCRIPT>';"),
            "var s = '<\\/script>'; var t = '<\\/SCRIPT>';");
  EXPECT_EQ(escape::script_source("a < b && c </ d"), "a < b && c </ d");
  EXPECT_THROW(escape::script_source("var s = '<!--';"), std::runtime_error);
}

TEST(EscapeVegaText, LeavesNothingThatEndsAQuotedString) {
  EXPECT_EQ(escape::vega_text("time per message, ns"), "time per message, ns");
  EXPECT_EQ(escape::vega_text("a\nb\rc\xE2\x80\xA8" "d\xE2\x80\xA9" "e"), "a b c d e");
  EXPECT_EQ(escape::vega_text("a\\"), "a\xE2\xA7\xB5");
  const std::string out = escape::vega_text(kHostile);
  for (char ch : out) EXPECT_FALSE(static_cast<unsigned char>(ch) < 0x20 || ch == '\\') << out;
}

TEST(EscapeMdText, GivesNoCharacterAMarkdownMeaning) {
  EXPECT_EQ(escape::md_text("a|b"), "a\\|b");
  EXPECT_EQ(escape::md_text("line\nnext\r"), "line next ");
  EXPECT_EQ(escape::md_text("[l](javascript:x)"), "\\[l\\](javascript:x)");
  EXPECT_EQ(escape::md_text("<b>&amp;"), "\\<b\\>\\&amp;");
  EXPECT_EQ(escape::md_text("`*~#\\"), "\\`\\*\\~\\#\\\\");
  // An underscore inside a word cannot start emphasis; at its edge it can.
  EXPECT_EQ(escape::md_text("pthread_create"), "pthread_create");
  EXPECT_EQ(escape::md_text("_x_ a_"), "\\_x\\_ a\\_");
  const std::string out = escape::md_text(kHostile);
  EXPECT_EQ(out.find('\n'), std::string::npos);
  // Every "|" is escaped, so a table cell keeps its row's column count.
  for (size_t at = out.find('|'); at != std::string::npos; at = out.find('|', at + 1)) EXPECT_EQ(out[at - 1], '\\');
}

TEST(EscapeMdCode, FencesLongerThanAnyBacktickRunInside) {
  EXPECT_EQ(escape::md_code("cmbench run"), "`cmbench run`");
  EXPECT_EQ(escape::md_code("a`b"), "``a`b``");
  EXPECT_EQ(escape::md_code("``x"), "``` ``x ```");
  EXPECT_EQ(escape::md_code("a\nb"), "`a b`");
}

TEST(RenderTemplate, EscapesForTheFormat) {
  json view = {{"v", "<b>|x\ny"}};
  EXPECT_EQ(render_text("t", "[{{v}}]", view, Format::html), "[&lt;b&gt;|x\ny]");
  EXPECT_EQ(render_text("t", "[{{v}}]", view, Format::markdown), "[\\<b\\>\\|x y]");
}

TEST(RenderTemplate, RefusesAFieldTheViewLacks) {
  json view = {{"name", "x"}, {"items", json::array({json{{"a", "1"}}})}};
  EXPECT_EQ(render_text("t", "{{name}}{{#items}}{{a}}{{/items}}", view, Format::html), "x1");
  try {
    render_text("t", "{{nmae}}", view, Format::html);
    FAIL() << "a misspelt field rendered";
  } catch (const TemplateError& e) {
    EXPECT_NE(std::string(e.what()).find("nmae"), std::string::npos) << e.what();
  }
  EXPECT_THROW(render_text("t", "{{#items}}{{b}}{{/items}}", view, Format::html), TemplateError);
}

TEST(RenderTemplate, RefusesUnescapedTagsOffTheList) {
  json view = {{"name", "<b>"}, {"specs_json", "{}"}, {"command_md_code", "`x`"}};
  EXPECT_THROW(render_text("t", "{{{name}}}", view, Format::html), TemplateError);
  EXPECT_THROW(render_text("t", "{{&name}}", view, Format::html), TemplateError);
  EXPECT_THROW(render_text("t", "{{=<% %>=}}<%name%>", view, Format::html), TemplateError);
  // A field on one format's list is not on the other's.
  EXPECT_EQ(render_text("t", "{{{specs_json}}}", view, Format::html), "{}");
  EXPECT_THROW(render_text("t", "{{{specs_json}}}", view, Format::markdown), TemplateError);
  EXPECT_EQ(render_text("t", "{{{command_md_code}}}", view, Format::markdown), "`x`");
}

TEST(RenderTemplate, DoesNotRenderTagsInsideValues) {
  json view = {{"a", "{{b}}"}, {"b", "secret"}};
  EXPECT_EQ(render_text("t", "{{a}}", view, Format::html), "{{b}}");
}

TEST(EmbeddedTemplates, AreAllPresentAndPassTheChecks) {
  const auto& files = embedded_templates();
  for (const char* name : {"report.html", "report.md", "style.css", "embed.js"})
    EXPECT_TRUE(files.count(name)) << name;
  for (const auto& [name, text] : files) EXPECT_FALSE(text.empty()) << name;
}

}  // namespace
