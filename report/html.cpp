// report.html: one page, one function per section, in page order. The data
// and the Vega-Lite specifications travel inside the page as JSON, and the
// charting library is inlined, so the file opens from disk with no network.
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "harness/cli/table.hpp"
#include "report/render.hpp"

namespace cmbench::report {

using nlohmann::json;

namespace {

std::string esc(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += ch;
    }
  }
  return out;
}

// A script's text ends at the first "</script", whatever JavaScript thinks
// of it; "<\/script" means the same to JavaScript and nothing to HTML.
std::string script_safe(const std::string& js) {
  std::string out;
  out.reserve(js.size());
  for (size_t i = 0; i < js.size(); ++i) {
    if (js[i] == '<' && i + 1 < js.size() && js[i + 1] == '/' &&
        js.compare(i + 2, 6, "script") == 0) {
      out += "<\\/";
      ++i;
    } else {
      out += js[i];
    }
  }
  return out;
}

// JSON inside a <script> element: "<" appears only inside JSON strings,
// where \u003c is the same character and cannot close the element.
std::string json_in_script(const json& j) {
  std::string s = j.dump();
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    if (ch == '<')
      out += "\\u003c";
    else
      out += ch;
  }
  return out;
}

// A minified build ends with a source-map comment naming a neighbouring
// .map file; inlined, that name would point nowhere, and developer tools
// would try to fetch it. The page ships without it.
std::string without_source_map(std::string js) {
  auto at = js.rfind("//# sourceMappingURL=");
  if (at != std::string::npos) js.erase(at);
  return js;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error(fmt::format(
        "{} is missing: run scripts/setup (it installs the chart library with npm ci in report/)", path.string()));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const char* kStyle = R"(
  body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1280px;
         padding: 0 24px 48px; color: #1d1d1f; }
  h1 { margin-top: 28px; }
  h2 { border-bottom: 1px solid #ccc; padding-bottom: 4px; margin-top: 40px; }
  table { border-collapse: collapse; margin: 12px 0; font-size: 14px; }
  th, td { border: 1px solid #d5d5d5; padding: 4px 8px; vertical-align: top; text-align: left; }
  th { background: #f3f3f3; }
  td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
  .muted, .not-run { color: #888; }
  .bad { color: #b00020; }
  .warn { color: #b36b00; }
  small { color: #666; display: block; }
  td.num small { white-space: normal; text-align: left; min-width: 16em; }
  code { background: #f4f4f4; padding: 1px 4px; border-radius: 3px; }
  figure { margin: 24px 0; }
  figcaption h3 { margin: 0 0 4px; }
  figcaption p { margin: 0 0 8px; color: #444; }
  nav a { margin-right: 12px; }
  .chart { min-height: 40px; overflow-x: auto; }
  a { color: #0b57d0; }
  details { margin: 8px 0; }
)";

std::string run_mark(const ReportData& d, const Run& run) {
  return d.runs.size() > 1 ? fmt::format("[{}] ", run.index) : "";
}

std::string section_header(const ReportData& d) {
  std::string out = "<header>\n<h1>cmbench report</h1>\n<p>";
  for (const auto& run : d.runs)
    out += fmt::format("{}<strong>{}</strong> <span class=\"muted\">({})</span><br>\n", esc(run_mark(d, run)),
                       esc(run.label), esc(run.path));
  out += "</p>\n<nav><a href=\"#taxonomy\">Taxonomy</a><a href=\"#context\">Machine and command</a>";
  for (const auto& w : d.workloads) out += fmt::format("<a href=\"#{}\">{}</a>", anchor(w.name, ""), esc(w.name));
  out += "</nav>\n</header>\n";
  return out;
}

std::string section_taxonomy(const ReportData& d, const Taxonomy& t) {
  std::string out = R"(<section id="taxonomy">
<h2>The models, measured</h2>
<p>The notes' taxonomy, each claim with the number that tests it. A number links to the chart it comes from;
"not run" means the results hold no cell of that workload for that model.)";
  if (d.runs.size() > 1) out += " With several files, each number is marked with its file's [n].";
  out += "</p>\n<table>\n<tr><th>model</th><th>unit</th><th>scheduled by</th>";
  for (const auto& c : t.columns) out += fmt::format("<th>{}<small>{}</small></th>", esc(c.title), esc(c.source));
  out += "</tr>\n";
  for (const auto& row : t.rows) {
    out += fmt::format("<tr><th>{}</th><td>{}</td><td>{}</td>", esc(row.model), esc(row.unit), esc(row.scheduled_by));
    for (const auto& per_run : row.measures) {
      auto shown = distinct_measures(per_run);
      out += "<td class=\"num\">";
      for (size_t i = 0; i < shown.size(); ++i) {
        const auto& m = shown[i];
        if (i) out += "<br>";
        if (shown.size() > 1) out += esc(run_mark(d, d.runs[i]));
        if (m.link.empty())
          out += fmt::format("<span class=\"not-run\">{}</span>", esc(m.text));
        else
          out += fmt::format("<a href=\"#{}\" title=\"{}\">{}</a>", m.link, esc(m.detail), esc(m.text));
        if (m.show_detail && !m.detail.empty()) out += fmt::format("<small>{}</small>", esc(m.detail));
      }
      out += "</td>";
    }
    out += "</tr>\n";
  }
  out += "</table>\n</section>\n";
  return out;
}

std::string ctx_string(const json& ctx, const char* key) {
  if (!ctx.contains(key) || ctx[key].is_null()) return "not recorded";
  if (ctx[key].is_string()) return ctx[key].get<std::string>();
  if (ctx[key].is_object()) {
    std::string out;
    for (const auto& [k, v] : ctx[key].items())
      out += fmt::format("{}{} {}", out.empty() ? "" : ", ", k, v.is_string() ? v.get<std::string>() : v.dump());
    return out;
  }
  return ctx[key].dump();
}

std::string section_context(const ReportData& d) {
  std::string out = R"(<section id="context">
<h2>Machine and command</h2>
<table>
<tr><th></th>)";
  for (const auto& run : d.runs) out += fmt::format("<th>{}{}</th>", esc(run_mark(d, run)), esc(run.label));
  out += "</tr>\n";
  auto row = [&](const std::string& title, auto value_of) {
    out += fmt::format("<tr><th>{}</th>", esc(title));
    for (const auto& run : d.runs) out += fmt::format("<td>{}</td>", value_of(run));
    out += "</tr>\n";
  };
  auto ctx_of = [](const Run& run) {
    return run.doc.contains("context") && run.doc["context"].is_object() ? run.doc["context"] : json::object();
  };
  auto field = [&](const char* key) { return [&, key](const Run& run) { return esc(ctx_string(ctx_of(run), key)); }; };
  row("date (UTC)", field("date"));
  row("host", field("host"));
  row("CPU", field("cpu_model"));
  row("cores online / available", [&](const Run& run) {
    return esc(fmt::format("{} / {}", ctx_string(ctx_of(run), "cores_online"), ctx_string(ctx_of(run), "cores_available")));
  });
  row("kernel", field("kernel"));
  row("compiler", field("compiler"));
  row("flags", field("cxx_flags"));
  row("build type", field("build_type"));
  row("cmbench", field("cmbench_version"));
  row("libraries", field("libraries"));
  row("governor", field("governor"));
  row("kernel limits", field("kernel_limits"));
  row("commit", [&](const Run& run) {
    auto ctx = ctx_of(run);
    std::string commit = ctx_string(ctx, "git_commit");
    if (ctx.value("git_dirty", false)) commit += " (uncommitted changes)";
    return fmt::format("<code>{}</code>", esc(commit));
  });
  row("options", [&](const Run& run) {
    const auto& o = run.doc.contains("options") ? run.doc["options"] : json::object();
    return esc(fmt::format("preset {}, {} repetitions after {} warm-up, timeout {} s", ctx_string(o, "preset"),
                           ctx_string(o, "repetitions"), ctx_string(o, "warmup"), ctx_string(o, "timeout_s")));
  });
  row("run", [&](const Run& run) {
    std::string s = run.doc.value("complete", false) ? "complete" : "<span class=\"bad\">incomplete (interrupted or still running)</span>";
    if (run.doc.contains("wall_s") && run.doc["wall_s"].is_number())
      s += fmt::format(", {:.1f} s", run.doc["wall_s"].get<double>());
    return s;
  });
  row("command", [&](const Run& run) {
    return fmt::format("<code>{}</code>", esc(shell_command(run.doc.contains("command") ? run.doc["command"] : json())));
  });
  row("file", [&](const Run& run) { return fmt::format("<code>{}</code>", esc(run.path)); });
  out += "</table>\n</section>\n";
  return out;
}

std::string table_timings(const ReportData& d, const WorkloadView& w) {
  auto t = workload_table(w, d.runs);
  std::string out = fmt::format(
      "<h3>Median time per {} and implementation size</h3>\n<p>Median over the repetitions, (fastest – slowest), "
      "and × the ratio to the fastest model of the row. <span class=\"warn\">⚠</span> marks a cell with warnings "
      "(listed below). Lines of code are the non-blank, non-comment lines of "
      "<code>workloads/{}/&lt;model&gt;.cpp</code>.</p>\n<table>\n<tr>",
      esc(w.operation), esc(w.name));
  if (d.runs.size() > 1) out += "<th>file</th>";
  out += "<th>configuration</th>";
  for (const auto& s : t.series) out += fmt::format("<th>{}</th>", esc(s));
  out += "</tr>\n";
  for (const auto& row : t.rows) {
    out += "<tr>";
    if (d.runs.size() > 1) out += fmt::format("<td>[{}]</td>", row.run->index);
    out += fmt::format("<td>{}</td>", esc(row.config));
    for (const auto& c : row.cells) {
      if (c.ok)
        out += fmt::format("<td class=\"num\"><a href=\"#{}\">{}</a>{}</td>", anchor(w.name, "time"), esc(c.text),
                           c.warned ? " <span class=\"warn\">⚠</span>" : "");
      else if (c.text == "not run")
        out += "<td class=\"num not-run\">not run</td>";
      else
        out += fmt::format("<td class=\"num bad\"><a href=\"#{}\">{}</a></td>", anchor(w.name, "notok"), esc(c.text));
    }
    out += "</tr>\n";
  }
  out += fmt::format("<tr><th colspan=\"{}\">lines of code</th>", d.runs.size() > 1 ? 2 : 1);
  for (const auto& loc : t.lines_of_code) out += fmt::format("<td class=\"num\">{}</td>", esc(loc));
  out += "</tr>\n</table>\n";
  return out;
}

std::string figure(const Chart& c) {
  return fmt::format(
      "<figure id=\"{0}\">\n<figcaption><h3>{1}</h3><p>{2}</p></figcaption>\n"
      "<div class=\"chart\" id=\"{0}-chart\"></div>\n</figure>\n",
      c.anchor, esc(c.title), esc(c.caption));
}

std::string list_not_ok(const ReportData& d, const WorkloadView& w) {
  std::string out = fmt::format("<h3 id=\"{}\">Cells that were not ok</h3>\n", anchor(w.name, "notok"));
  std::string rows;
  for (const auto& c : w.cells)
    if (!c.ok())
      rows += fmt::format("<tr><td>{}<code>{}</code></td><td class=\"bad\">{}</td><td>{}</td></tr>\n",
                          esc(run_mark(d, *c.run)), esc(c.name), esc(c.outcome), esc(c.message));
  if (rows.empty()) return out + "<p class=\"muted\">None: every cell verified its work.</p>\n";
  return fmt::format("{}<table>\n<tr><th>cell</th><th>outcome</th><th>message</th></tr>\n{}</table>\n", out, rows);
}

std::string list_warnings(const ReportData& d, const WorkloadView& w) {
  std::string out = fmt::format("<h3 id=\"{}\">Warnings</h3>\n", anchor(w.name, "warnings"));
  std::string items;
  for (const auto& c : w.cells)
    for (const auto& warning : c.warnings)
      items += fmt::format("<li>{}<code>{}</code>: <span class=\"warn\">{}</span></li>\n", esc(run_mark(d, *c.run)),
                           esc(c.name), esc(warning));
  if (items.empty()) return out + "<p class=\"muted\">None.</p>\n";
  return fmt::format("{}<ul>\n{}</ul>\n", out, items);
}

// What each implementation says about itself (the cells' notes), so a
// reader can see what is inside the measurement before comparing numbers.
std::string list_notes(const WorkloadView& w) {
  std::string out = "<details><summary>What each implementation measures (its notes)</summary>\n<dl>\n";
  for (const auto& m : w.models)
    for (const auto& c : w.cells)
      if (c.model == m && c.json->contains("notes") && (*c.json)["notes"].is_object() && !(*c.json)["notes"].empty()) {
        out += fmt::format("<dt><strong>{}</strong></dt>\n", esc(m));
        for (const auto& [k, v] : (*c.json)["notes"].items())
          out += fmt::format("<dd><em>{}</em>: {}</dd>\n", esc(k), esc(v.is_string() ? v.get<std::string>() : v.dump()));
        break;
      }
  return out + "</dl>\n</details>\n";
}

std::string section_workload(const ReportData& d, const WorkloadCharts& wc) {
  const auto& w = *wc.workload;
  std::string out = fmt::format("<section id=\"{}\">\n<h2>{}</h2>\n<p>One operation is one {}.", anchor(w.name, ""),
                                esc(w.name), esc(w.operation));
  if (!w.fixed.empty()) out += fmt::format(" Fixed in every cell: <code>{}</code>.", esc(w.fixed));
  out += "</p>\n";
  out += list_notes(w);
  out += table_timings(d, w);
  for (const auto& c : wc.charts) out += figure(c);
  out += list_not_ok(d, w);
  out += list_warnings(d, w);
  return out + "</section>\n";
}

std::string section_scripts(const std::vector<WorkloadCharts>& charts, const Assets& a) {
  json specs = json::object();
  for (const auto& wc : charts)
    for (const auto& c : wc.charts) specs[c.anchor] = c.spec;
  std::string out;
  for (const auto* lib : {&a.vega, &a.vega_lite, &a.vega_embed})
    out += fmt::format("<script>\n{}\n</script>\n", script_safe(without_source_map(*lib)));
  out += fmt::format("<script type=\"application/json\" id=\"cmbench-specs\">{}</script>\n", json_in_script(specs));
  // Every chart is embedded by the same loop; a chart that fails says so in
  // its place and on the console (which the browser test watches), and the
  // body is marked when all have settled.
  out += R"(<script>
(function () {
  var specs = JSON.parse(document.getElementById('cmbench-specs').textContent);
  var pending = Object.keys(specs).map(function (id) {
    var el = document.getElementById(id + '-chart');
    return vegaEmbed(el, specs[id], { mode: 'vega-lite', renderer: 'svg', actions: false })
      .then(function () { el.setAttribute('data-rendered', 'true'); })
      .catch(function (err) {
        el.setAttribute('data-rendered', 'error');
        el.textContent = 'This chart failed to render: ' + err;
        console.error('cmbench chart ' + id + ': ' + err);
      });
  });
  Promise.all(pending).then(function () { document.body.setAttribute('data-charts', 'done'); });
})();
</script>
)";
  return out;
}

}  // namespace

Assets load_assets(const std::string& source_dir) {
  namespace fs = std::filesystem;
  fs::path modules = fs::path(source_dir) / "report" / "node_modules";
  Assets a;
  a.vega = read_file(modules / "vega" / "build" / "vega.min.js");
  a.vega_lite = read_file(modules / "vega-lite" / "build" / "vega-lite.min.js");
  a.vega_embed = read_file(modules / "vega-embed" / "build" / "vega-embed.min.js");
  return a;
}

std::string render_html(const ReportData& d, const Taxonomy& t, const std::vector<WorkloadCharts>& charts,
                        const Assets& a) {
  std::string title = "cmbench report";
  if (!d.runs.empty()) title += fmt::format(" — {}", d.runs.front().label);
  std::string out = fmt::format(
      "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{}</style>\n"
      "</head>\n<body>\n",
      esc(title), kStyle);
  out += section_header(d);
  out += section_taxonomy(d, t);
  out += section_context(d);
  for (const auto& wc : charts) out += section_workload(d, wc);
  out += section_scripts(charts, a);
  out += "</body>\n</html>\n";
  return out;
}

}  // namespace cmbench::report
