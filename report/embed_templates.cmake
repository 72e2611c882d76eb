# Writes a C++ source that holds the report's template files, so that
# `cmbench report` reads no template from disk: the binary is the whole
# program. Run at build time by report/CMakeLists.txt:
#
#   cmake -DOUTPUT=<file.cpp> -DTEMPLATE_DIR=<dir> -DTEMPLATES=<a;b;...> -P embed_templates.cmake
#
# Each file becomes an array of its bytes (hex), which no content can end
# early, unlike a raw string literal.
cmake_minimum_required(VERSION 3.25)
set(body "")
set(table "")
set(i 0)
foreach(name IN LISTS TEMPLATES)
  file(READ "${TEMPLATE_DIR}/${name}" hex HEX)
  string(LENGTH "${hex}" hex_length)
  math(EXPR size "${hex_length} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${hex}")
  string(APPEND body "const char k${i}[] = {${bytes} 0};\n")
  string(APPEND table "      {\"${name}\", std::string_view(k${i}, ${size})},\n")
  math(EXPR i "${i} + 1")
endforeach()
file(WRITE "${OUTPUT}.tmp" "// Generated from report/templates/ by report/embed_templates.cmake: do not edit.
#include \"report/templates.hpp\"

namespace cmbench::report {

namespace {
${body}}  // namespace

const std::map<std::string, std::string_view>& embedded_templates() {
  static const std::map<std::string, std::string_view> files = {
${table}  };
  return files;
}

}  // namespace cmbench::report
")
# Rewritten only when it changes, so an unchanged template recompiles nothing.
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
