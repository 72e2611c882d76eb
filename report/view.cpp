#include "report/view.hpp"

#include <fmt/format.h>

#include "harness/cli/table.hpp"
#include "harness/results/context.hpp"
#include "report/analysis.hpp"
#include "report/escape.hpp"

namespace cmbench::report {

using nlohmann::json;

namespace {

json run_view(const ReportData& d, const Run& run) {
  std::string command = shell_command(run.doc.contains("command") ? run.doc["command"] : json());
  return {{"index", run.index},
          {"multi", d.runs.size() > 1},
          {"label", run.label},
          {"path", run.path},
          {"command", command},
          {"command_md_code", escape::md_code(command)}};
}

json taxonomy_view(const ReportData& d, const Taxonomy& t) {
  json columns = json::array();
  for (const auto& c : t.columns) columns.push_back({{"title", c.title}, {"source", c.source}});
  json rows = json::array();
  for (const auto& row : t.rows) {
    json cells = json::array();
    for (const auto& per_run : row.measures) {
      auto shown = distinct_measures(per_run);
      json items = json::array();
      for (size_t i = 0; i < shown.size(); ++i) {
        const auto& m = shown[i];
        items.push_back({{"first", i == 0},
                         {"marked", shown.size() > 1},
                         {"index", d.runs[i].index},
                         {"text", m.text},
                         {"has_link", !m.link.empty()},
                         {"link", m.link},
                         {"detail", m.detail},
                         {"show_detail", m.show_detail && !m.detail.empty()}});
      }
      cells.push_back({{"items", items}});
    }
    rows.push_back({{"model", row.model}, {"unit", row.unit}, {"scheduled_by", row.scheduled_by}, {"cells", cells}});
  }
  return {{"columns", columns}, {"rows", rows}};
}

std::string ctx_string(const json& ctx, const char* key) {
  if (!ctx.is_object() || !ctx.contains(key) || ctx[key].is_null()) return "not recorded";
  if (ctx[key].is_string()) return ctx[key].get<std::string>();
  if (ctx[key].is_object()) {
    std::string out;
    for (const auto& [k, v] : ctx[key].items())
      out += fmt::format("{}{} {}", out.empty() ? "" : ", ", k, v.is_string() ? v.get<std::string>() : v.dump());
    return out;
  }
  return ctx[key].dump();
}

json context_view(const ReportData& d) {
  json headers = json::array();
  for (const auto& run : d.runs) headers.push_back(run_view(d, run));
  json rows = json::array();
  auto ctx_of = [](const Run& run) {
    return run.doc.contains("context") && run.doc["context"].is_object() ? run.doc["context"] : json::object();
  };
  // One row: its title and, per file, the value and how to show it.
  auto row = [&](const std::string& title, auto value_of) {
    json values = json::array();
    for (const auto& run : d.runs) values.push_back(value_of(run));
    rows.push_back({{"title", title}, {"values", values}});
  };
  auto plain = [](std::string text) { return json{{"text", std::move(text)}, {"code", false}, {"bad", false}}; };
  auto code = [](std::string text) { return json{{"text", std::move(text)}, {"code", true}, {"bad", false}}; };
  auto field = [&](const char* key) { return [&, key](const Run& run) { return plain(ctx_string(ctx_of(run), key)); }; };
  row("date (UTC)", field("date"));
  row("host", field("host"));
  row("CPU", field("cpu_model"));
  row("cores online / available", [&](const Run& run) {
    return plain(fmt::format("{} / {}", ctx_string(ctx_of(run), "cores_online"), ctx_string(ctx_of(run), "cores_available")));
  });
  row("kernel", field("kernel"));
  row("compiler", field("compiler"));
  row("flags", field("cxx_flags"));
  row("build type", field("build_type"));
  row("cmbench", field("cmbench_version"));
  row("libraries", field("libraries"));
  row("governor", field("governor"));
  row("CPU idle", field("cpuidle"));
  row("free page reporting", [&](const Run& run) { return plain(free_page_reporting_text(ctx_of(run))); });
  row("kernel limits", field("kernel_limits"));
  row("machine's speed", [&](const Run& run) {
    const auto steady = machine_steadiness(run.doc);
    if (!steady) return plain("not measured (no cell with 3 repetitions and the speed loop)");
    return json{{"text", machine_steadiness_text(*steady)}, {"code", false}, {"bad", machine_unsteady(*steady)}};
  });
  row("commit", [&](const Run& run) {
    auto ctx = ctx_of(run);
    std::string commit = ctx_string(ctx, "git_commit");
    if (ctx.contains("git_dirty") && ctx["git_dirty"].is_boolean() && ctx["git_dirty"].get<bool>())
      commit += " (uncommitted changes)";
    return code(commit);
  });
  row("options", [&](const Run& run) {
    const json o = run.doc.contains("options") ? run.doc["options"] : json::object();
    return plain(fmt::format("preset {}, {} repetitions after {} warm-up, timeout {} s", ctx_string(o, "preset"),
                             ctx_string(o, "repetitions"), ctx_string(o, "warmup"), ctx_string(o, "timeout_s")));
  });
  row("run", [&](const Run& run) {
    bool complete = run.doc.contains("complete") && run.doc["complete"].is_boolean() && run.doc["complete"].get<bool>();
    std::string text = complete ? "complete" : "incomplete (interrupted or still running)";
    if (run.doc.contains("wall_s") && run.doc["wall_s"].is_number())
      text += fmt::format(", {:.1f} s", run.doc["wall_s"].get<double>());
    return json{{"text", text}, {"code", false}, {"bad", !complete}};
  });
  row("command", [&](const Run& run) { return code(shell_command(run.doc.contains("command") ? run.doc["command"] : json())); });
  row("file", [&](const Run& run) { return code(run.path); });
  return {{"headers", headers}, {"rows", rows}};
}

json table_view(const ReportData& d, const WorkloadView& w) {
  auto t = workload_table(w, d.runs);
  json rows = json::array();
  for (const auto& row : t.rows) {
    json cells = json::array();
    for (const auto& c : row.cells) {
      const bool not_run = !c.ok && c.text == "not run";
      cells.push_back({{"text", c.text},
                       {"ok", c.ok},
                       {"not_run", not_run},
                       {"failed", !c.ok && !not_run},
                       {"warned", c.warned},
                       {"link", c.ok ? anchor(w.name, "time") : anchor(w.name, "notok")}});
    }
    rows.push_back({{"multi", d.runs.size() > 1}, {"index", row.run->index}, {"config", row.config}, {"cells", cells}});
  }
  return {{"series", t.series},
          {"rows", rows},
          {"multi", d.runs.size() > 1},
          {"colspan", d.runs.size() > 1 ? 2 : 1},
          {"lines_of_code", t.lines_of_code}};
}

json notes_view(const WorkloadView& w) {
  json out = json::array();
  for (const auto& m : w.models)
    for (const auto& c : w.cells)
      if (c.model == m && c.json->contains("notes") && (*c.json)["notes"].is_object() && !(*c.json)["notes"].empty()) {
        json items = json::array();
        for (const auto& [k, v] : (*c.json)["notes"].items())
          items.push_back({{"key", k}, {"value", v.is_string() ? v.get<std::string>() : v.dump()}});
        out.push_back({{"model", m}, {"items", items}});
        break;
      }
  return out;
}

// One row per claim; with several files, one finding per file in it.
json verdicts_view(const ReportData& d, const std::vector<RunVerdicts>& all) {
  json rows = json::array();
  if (all.empty()) return {{"rows", rows}, {"advice", json::array()}};
  for (size_t i = 0; i < all.front().verdicts.size(); ++i) {
    const auto& first = all.front().verdicts[i];
    json findings = json::array();
    for (size_t r = 0; r < all.size(); ++r) {
      const auto& v = all[r].verdicts[i];
      findings.push_back({{"first", r == 0},
                          {"marked", all.size() > 1},
                          {"index", all[r].run->index},
                          {"text", finding_text(v.finding)},
                          {"class", v.finding == Finding::supports   ? "supports"
                                    : v.finding == Finding::refutes  ? "refutes"
                                    : v.finding == Finding::qualifies ? "qualifies"
                                                                      : "not-measured"},
                          {"evidence", v.evidence},
                          {"has_evidence", !v.evidence.empty()},
                          {"has_link", !v.link.empty()},
                          {"link", v.link}});
    }
    rows.push_back({{"claim", first.claim}, {"source", first.source}, {"findings", findings}});
  }
  // Per file and model: the clauses the rules gave it, picks then avoids.
  json advice = json::array();
  for (const auto& rv : all) {
    for (const auto& m : d.models) {
      bool ran = false;
      for (const auto& w : d.workloads)
        for (const auto& c : w.cells) ran |= c.run == rv.run && c.model == m;
      if (!ran) continue;
      // Clauses of one rule share their words before the colon ("you need
      // many units: ..."): said once, with the numbers after it joined.
      json picks = json::array(), avoids = json::array();
      for (const auto& a : rv.advice) {
        if (a.model != m) continue;
        json& list = a.pick ? picks : avoids;
        auto colon = a.when.find(": ");
        std::string head = a.when.substr(0, colon), rest = colon == std::string::npos ? "" : a.when.substr(colon + 2);
        bool merged = false;
        for (auto& item : list)
          if (item["head"] == head) {
            if (!rest.empty() && item["text"].get<std::string>().find(rest) == std::string::npos)
              item["text"] = item["text"].get<std::string>() + ", " + rest;
            merged = true;
          }
        if (!merged) list.push_back({{"first", list.empty()}, {"head", head}, {"text", a.when}});
      }
      advice.push_back({{"marked", all.size() > 1},
                        {"index", rv.run->index},
                        {"model", m},
                        {"has_picks", !picks.empty()},
                        {"picks", picks},
                        {"has_avoids", !avoids.empty()},
                        {"avoids", avoids}});
    }
  }
  return {{"rows", rows}, {"advice", advice}};
}

// The idle workload's fit per model: slope (bytes per idle connection),
// intercept, r², and where the model met a limit.
json idle_view(const ReportData& d, const WorkloadView& w) {
  json rows = json::array();
  if (w.name != "idle") return rows;
  for (const auto& run : d.runs)
    for (const auto& f : idle_fits(w, run)) {
      std::string connections;
      for (const auto& p : f.points) connections += fmt::format("{}{}", connections.empty() ? "" : ", ", group_digits(p.connections));
      rows.push_back({{"marked", d.runs.size() > 1},
                      {"index", run.index},
                      {"model", f.model},
                      {"slope", f.slope ? human_bytes(*f.slope) : "one point: no fit"},
                      {"intercept", f.intercept ? human_bytes(*f.intercept) : ""},
                      {"r2", f.r2 ? fmt::format("{:.3f}", *f.r2) : ""},
                      {"connections", connections},
                      {"limit", f.limit_at ? fmt::format("at {}: {}", group_digits(*f.limit_at), f.limit_message) : "none"}});
    }
  return rows;
}

json workload_view(const ReportData& d, const WorkloadCharts& wc) {
  const auto& w = *wc.workload;
  json charts = json::array();
  for (const auto& c : wc.charts) {
    json panels = json::array();
    for (size_t i = 0; i < c.panels.size(); ++i)
      panels.push_back({{"chart_id", panel_id(c, i)}, {"has_title", !c.panels[i].title.empty()}, {"title", c.panels[i].title}});
    charts.push_back({{"id", c.anchor}, {"title", c.title}, {"caption", c.caption}, {"panels", panels}});
  }
  json not_ok = json::array(), warnings = json::array();
  for (const auto& c : w.cells) {
    if (!c.ok())
      not_ok.push_back({{"marked", d.runs.size() > 1},
                        {"index", c.run->index},
                        {"name", c.name},
                        {"name_md_code", escape::md_code(c.name)},
                        {"outcome", c.outcome},
                        {"message", c.message}});
    for (const auto& warning : c.warnings)
      warnings.push_back(
          {{"marked", d.runs.size() > 1}, {"index", c.run->index}, {"name", c.name}, {"warning", warning}});
  }
  json notes = notes_view(w);
  json idle = idle_view(d, w);
  return {{"id", anchor(w.name, "")},
          {"has_idle_fit", !idle.empty()},
          {"idle_fit", idle},
          {"time_id", anchor(w.name, "time")},
          {"notok_id", anchor(w.name, "notok")},
          {"warnings_id", anchor(w.name, "warnings")},
          {"name", w.name},
          {"operation", w.operation},
          {"has_fixed", !w.fixed.empty()},
          {"fixed", w.fixed},
          {"fixed_md_code", escape::md_code(w.fixed)},
          {"has_notes", !notes.empty()},
          {"notes", notes},
          {"table", table_view(d, w)},
          {"charts", charts},
          {"has_not_ok", !not_ok.empty()},
          {"not_ok", not_ok},
          {"has_warnings", !warnings.empty()},
          {"warnings", warnings}};
}

}  // namespace

json page_view(const ReportData& d, const Taxonomy& t, const std::vector<WorkloadCharts>& charts,
               const std::vector<RunVerdicts>& verdicts) {
  json runs = json::array();
  for (const auto& run : d.runs) runs.push_back(run_view(d, run));
  json workloads = json::array();
  for (const auto& wc : charts) workloads.push_back(workload_view(d, wc));
  std::string title = "cmbench report";
  if (!d.runs.empty()) title += fmt::format(" — {}", d.runs.front().label);
  return {{"title", title},
          {"multi", d.runs.size() > 1},
          {"runs", runs},
          {"verdicts", verdicts_view(d, verdicts)},
          {"taxonomy", taxonomy_view(d, t)},
          {"context", context_view(d)},
          {"workloads", workloads}};
}

}  // namespace cmbench::report
