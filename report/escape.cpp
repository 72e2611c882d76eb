#include "report/escape.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace cmbench::report::escape {

namespace {

bool ascii_alnum(char ch) { return ch >= 0 && std::isalnum(static_cast<unsigned char>(ch)); }

}  // namespace

std::string html(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  for (char ch : s) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      case '\0': out += "\xEF\xBF\xBD"; break;
      default: out += ch;
    }
  }
  return out;
}

std::string fragment_id(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    if (ascii_alnum(ch))
      out += ch;
    else
      out += fmt::format("_{:02x}", static_cast<unsigned char>(ch));
  }
  return out;
}

std::string json_for_script(const nlohmann::json& j) {
  const std::string s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out;
  out.reserve(s.size() + s.size() / 16);
  for (size_t i = 0; i < s.size(); ++i) {
    const char ch = s[i];
    if (ch == '<') {
      out += "\\u003c";
    } else if (ch == '>') {
      out += "\\u003e";
    } else if (ch == '&') {
      out += "\\u0026";
    } else if (ch == '\xE2' && i + 2 < s.size() && s[i + 1] == '\x80' && (s[i + 2] == '\xA8' || s[i + 2] == '\xA9')) {
      // U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR, which can only
      // be inside a JSON string here, where the escape means the same.
      out += s[i + 2] == '\xA8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += ch;
    }
  }
  return out;
}

std::string script_source(std::string_view js) {
  auto lower_at = [&](size_t i, std::string_view word) {
    if (i + word.size() > js.size()) return false;
    for (size_t k = 0; k < word.size(); ++k)
      if (std::tolower(static_cast<unsigned char>(js[i + k])) != word[k]) return false;
    return true;
  };
  std::string out;
  out.reserve(js.size());
  for (size_t i = 0; i < js.size(); ++i) {
    if (js[i] == '<' && lower_at(i + 1, "!--"))
      // "<!--" switches the HTML parser into a mode where a later "<script"
      // keeps "</script>" from closing the element. Which rewrite keeps the
      // JavaScript the same depends on where it stands (a string, a regular
      // expression, code), so the page refuses the source instead of guessing.
      throw std::runtime_error("the chart library contains \"<!--\" and cannot be inlined into a <script> element");
    if (js[i] == '<' && lower_at(i + 1, "/script")) {
      // In a string or a regular expression, "\/" is "/" (also in a /u
      // regular expression, where "/" is a syntax character).
      out += "<\\/";
      ++i;
    } else {
      out += js[i];
    }
  }
  return out;
}

std::string vega_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char ch = static_cast<unsigned char>(s[i]);
    if (ch == 0xE2 && i + 2 < s.size() && s[i + 1] == '\x80' && (s[i + 2] == '\xA8' || s[i + 2] == '\xA9')) {
      out += ' ';
      i += 2;
    } else if (ch < 0x20 || ch == 0x7F) {
      out += ' ';
    } else if (ch == '\\') {
      out += "\xE2\xA7\xB5";
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string md_text(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  for (size_t i = 0; i < s.size(); ++i) {
    const char ch = s[i];
    switch (ch) {
      case '\r':
      case '\n': out += ' '; break;
      case '\0': out += "\xEF\xBF\xBD"; break;
      case '_': {
        // Between two letters or digits an underscore can neither open nor
        // close emphasis (CommonMark's flanking rules), so the common
        // snake_case needs no backslash.
        bool inside_word = i > 0 && i + 1 < s.size() && ascii_alnum(s[i - 1]) && ascii_alnum(s[i + 1]);
        if (!inside_word) out += '\\';
        out += ch;
        break;
      }
      case '\\': case '`': case '*': case '[': case ']': case '<': case '>': case '|': case '~': case '&': case '#':
        out += '\\';
        out += ch;
        break;
      default: out += ch;
    }
  }
  return out;
}

std::string md_code(std::string_view s) {
  std::string text;
  text.reserve(s.size());
  for (char ch : s) {
    if (ch == '\n' || ch == '\r')
      text += ' ';
    else if (ch == '\0')
      text += "\xEF\xBF\xBD";
    else
      text += ch;
  }
  size_t longest = 0, run = 0;
  for (char ch : text) {
    run = ch == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  const std::string fence(longest + 1, '`');
  // A span that starts or ends with a backtick needs a space between it and
  // the fence, which CommonMark strips again (one on each side).
  const bool pad = !text.empty() && (text.front() == '`' || text.back() == '`' ||
                                     (text.front() == ' ' && text.back() == ' '));
  return pad ? fmt::format("{0} {1} {0}", fence, text) : fmt::format("{0}{1}{0}", fence, text);
}

}  // namespace cmbench::report::escape
