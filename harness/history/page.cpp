#include "harness/history/page.hpp"

#include <fmt/format.h>

#include <cmath>
#include <map>

namespace cmbench::history {

namespace {

using nlohmann::json;

// --- Escaping: the only three ways text enters the page. ---

// Text inside an element or a quoted attribute.
std::string html_text(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += ch;
    }
  }
  return out;
}

// JSON inside <script type="application/json">: '<' only occurs inside
// JSON strings, where \u003c is the same character and cannot end the
// element. The script reads it with JSON.parse(textContent).
std::string json_in_script(const json& j) {
  const std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
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

// A library's code inside <script>: "</script" would end the element early
// ("<\/script" means the same to JavaScript), and the trailing source-map
// comment would name a file that is not there.
std::string script_text(std::string js) {
  if (auto at = js.rfind("//# sourceMappingURL="); at != std::string::npos) js.erase(at);
  std::string out;
  out.reserve(js.size());
  for (size_t i = 0; i < js.size(); ++i) {
    if (js[i] == '<' && js.compare(i + 1, 7, "/script") == 0) {
      out += "<\\/";
      ++i;
    } else {
      out += js[i];
    }
  }
  return out;
}

// Six significant digits are more than any benchmark resolves, and keep a
// page of a few hundred cells x a hundred runs a few megabytes.
double round6(double v) {
  if (!std::isfinite(v) || v == 0) return v;
  return std::stod(fmt::format("{:.6g}", v));
}

json page_data(const History& h, const std::vector<Change>& changes, const DetectorOptions& o) {
  json d;
  d["options"] = {{"significance", o.significance}, {"min_segment", o.min_segment}, {"permutations", o.permutations},
                  {"seed", o.seed}};
  d["machines"] = json::array();
  for (const auto& m : h.machines) d["machines"].push_back(m.label());
  d["runs"] = json::array();
  for (const auto& r : h.runs) d["runs"].push_back({r.commit, r.date, r.branch, r.dirty});
  d["cells"] = json::array();
  for (const auto& c : h.cells) d["cells"].push_back({c.name, c.workload, c.model});
  d["directions"] = json::object();
  std::map<size_t, std::vector<size_t>> cps;  // series -> change points
  for (const auto& c : changes) cps[c.series].push_back(c.point);
  d["series"] = json::array();
  for (size_t i = 0; i < h.series.size(); ++i) {
    const Series& s = h.series[i];
    if (auto dir = metric_direction(s.metric))
      d["directions"][s.metric] = *dir == Direction::lower_is_better ? "lower" : "higher";
    json points = json::array();
    for (const auto& p : s.points) points.push_back({p.run, round6(p.median), round6(p.lo), round6(p.hi), p.n});
    d["series"].push_back({{"c", s.cell}, {"m", s.machine}, {"k", s.metric}, {"p", std::move(points)},
                           {"x", cps.count(i) ? json(cps[i]) : json::array()}});
  }
  d["changes"] = json::array();
  for (const auto& c : changes)
    d["changes"].push_back({c.series, c.point, round6(c.before), round6(c.after), c.p_value, c.worse});
  return d;
}

const char* kStyle = R"(
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1400px;
       padding: 0 24px 48px; color: #1d1d1f; }
h1 { margin-top: 28px; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 4px; margin-top: 32px; }
table { border-collapse: collapse; margin: 12px 0; font-size: 14px; }
th, td { border: 1px solid #d5d5d5; padding: 3px 8px; text-align: left; }
th { background: #f3f3f3; position: sticky; top: 0; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.worse { color: #b00020; font-weight: 600; }
.better { color: #1b7f3b; }
.muted { color: #777; }
code { background: #f4f4f4; padding: 1px 4px; border-radius: 3px; }
#filters { position: sticky; top: 0; background: #fff; padding: 8px 0; border-bottom: 1px solid #ddd; z-index: 2; }
#filters label { margin-right: 14px; }
#changes-wrap { max-height: 420px; overflow-y: auto; }
.cell { margin: 18px 0; content-visibility: auto; contain-intrinsic-size: auto 260px; }
.cell h3 { margin: 0 0 6px; font-size: 15px; word-break: break-all; }
.row { display: flex; flex-wrap: wrap; gap: 16px; }
.machine { flex: 1 1 420px; min-width: 360px; }
.machine small { display: block; color: #666; }
.chart { min-height: 200px; }
a { color: #0b57d0; }
)";

// The page's script: filters, the change-point table, and the charts, each
// embedded when it scrolls into view (a few hundred cells stay quick).
const char* kScript = R"JS(
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('history-data').textContent);
  var $ = function (id) { return document.getElementById(id); };
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function fmtNum(metric, v) {
    if (v === null || v === undefined || !isFinite(v)) return '-';
    function f(x, d) { return x.toFixed(d); }
    if (/(_ns|ns_per_op)$/.test(metric)) {
      if (v < 1e3) return f(v, 0) + ' ns';
      if (v < 1e6) return f(v / 1e3, 2) + ' us';
      if (v < 1e9) return f(v / 1e6, 2) + ' ms';
      return f(v / 1e9, 2) + ' s';
    }
    if (/_bytes$/.test(metric)) {
      if (v < 1024) return f(v, 0) + ' B';
      if (v < 1048576) return f(v / 1024, 1) + ' KiB';
      if (v < 1073741824) return f(v / 1048576, 1) + ' MiB';
      return f(v / 1073741824, 2) + ' GiB';
    }
    if (/_per_s$/.test(metric)) {
      if (v < 1e3) return f(v, 0) + '/s';
      if (v < 1e6) return f(v / 1e3, 1) + ' k/s';
      if (v < 1e9) return f(v / 1e6, 2) + ' M/s';
      return f(v / 1e9, 2) + ' G/s';
    }
    return Number(v.toPrecision(4)).toString();
  }
  function shortCommit(c) { return c.slice(0, 10); }
  function runLabel(r) { var run = D.runs[r]; return shortCommit(run[0]) + (run[3] ? '+' : '') + ' ' + run[1].slice(0, 10); }

  // Index the series by cell, and the metrics and models present.
  var byCell = {}, metrics = {}, models = {}, workloads = {};
  D.series.forEach(function (s, i) {
    (byCell[s.c] = byCell[s.c] || []).push(i);
    metrics[s.k] = true;
  });
  D.cells.forEach(function (c) { workloads[c[1]] = true; models[c[2]] = true; });
  function fill(select, values, all) {
    select.appendChild(el('option', all)).value = '';
    Object.keys(values).sort().forEach(function (v) { select.appendChild(el('option', v)).value = v; });
  }
  fill($('f-model'), models, 'every model');
  fill($('f-workload'), workloads, 'every workload');
  Object.keys(metrics).sort().forEach(function (m) { $('f-metric').appendChild(el('option', m)).value = m; });
  if (metrics.ns_per_op) $('f-metric').value = 'ns_per_op';

  function cellShown(c) {
    var cell = D.cells[c], m = $('f-model').value, w = $('f-workload').value, t = $('f-text').value;
    return (!m || cell[2] === m) && (!w || cell[1] === w) && (!t || cell[0].indexOf(t) >= 0);
  }

  // The change points, newest first (the order the page was given).
  function drawChanges() {
    var body = $('changes-body');
    body.textContent = '';
    var shown = 0;
    D.changes.forEach(function (ch) {
      var s = D.series[ch[0]], run = s.p[ch[1]][0];
      if (!cellShown(s.c)) return;
      var tr = el('tr');
      var a = el('a', D.cells[s.c][0]);
      a.href = '#cell-' + s.c;
      a.addEventListener('click', function () { $('f-metric').value = s.k; drawCells(); });
      var td = el('td'); td.appendChild(a); tr.appendChild(td);
      tr.appendChild(el('td', s.k));
      tr.appendChild(el('td', D.machines.length > 1 ? '[' + (s.m + 1) + ']' : ''));
      var commit = el('td'); commit.appendChild(el('code', shortCommit(D.runs[run][0])));
      commit.appendChild(document.createTextNode(' ' + D.runs[run][1])); tr.appendChild(commit);
      tr.appendChild(el('td', fmtNum(s.k, ch[2]) + ' \u2192 ' + fmtNum(s.k, ch[3]), 'num'));
      var pct = (ch[3] / ch[2] - 1) * 100;
      tr.appendChild(el('td', (pct >= 0 ? '+' : '') + pct.toFixed(1) + '%', 'num ' + (ch[5] ? 'worse' : 'better')));
      tr.appendChild(el('td', Number(ch[4].toPrecision(3)).toString(), 'num'));
      body.appendChild(tr);
      shown++;
    });
    $('changes-count').textContent = shown + ' of ' + D.changes.length;
  }

  function spec(s) {
    var cps = {};
    s.x.forEach(function (i) { cps[i] = true; });
    // The level of each segment between change points: the median of its
    // run medians, drawn as a step.
    var bounds = [0].concat(s.x, [s.p.length]), level = [];
    for (var b = 0; b + 1 < bounds.length; b++) {
      var v = s.p.slice(bounds[b], bounds[b + 1]).map(function (p) { return p[1]; }).sort(function (x, y) { return x - y; });
      var n = v.length, med = n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
      for (var i = bounds[b]; i < bounds[b + 1]; i++) level[i] = med;
    }
    var seen = {};
    var rows = s.p.map(function (p, i) {
      var label = runLabel(p[0]);
      if (seen[label]) label += ' #' + (++seen[label]); else seen[label] = 1;
      var run = D.runs[p[0]];
      return { label: label, commit: run[0], date: run[1], branch: run[2], median: p[1], lo: p[2], hi: p[3], n: p[4],
               level: level[i], cp: !!cps[i], shown: fmtNum(s.k, p[1]),
               spread: fmtNum(s.k, p[2]) + ' \u2013 ' + fmtNum(s.k, p[3]) };
    });
    var x = { field: 'label', type: 'ordinal', sort: null, title: 'commit and run date, oldest to newest',
              axis: { labelAngle: -50, labelOverlap: true, labelLimit: 140 } };
    var tooltip = [{ field: 'commit' }, { field: 'date' }, { field: 'branch' }, { field: 'shown', title: 'median' },
                   { field: 'spread', title: 'min \u2013 max' }, { field: 'n', title: 'repetitions' }];
    return {
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      width: 'container', height: 170, data: { values: rows },
      layer: [
        { mark: { type: 'rule', color: '#9ab' },
          encoding: { x: x, y: { field: 'lo', type: 'quantitative', scale: { zero: false }, title: s.k }, y2: { field: 'hi' } } },
        { mark: { type: 'line', color: '#e8890c', strokeDash: [4, 3], interpolate: 'step-after' },
          encoding: { x: x, y: { field: 'level', type: 'quantitative' } } },
        { mark: { type: 'line', point: true, color: '#1f5fa8' },
          encoding: { x: x, y: { field: 'median', type: 'quantitative' }, tooltip: tooltip } },
        { transform: [{ filter: 'datum.cp' }], mark: { type: 'rule', color: '#c62828', strokeWidth: 2 },
          encoding: { x: x, tooltip: tooltip } }
      ]
    };
  }

  // The body carries data-charts="done" once every chart in view has
  // rendered: after the observer's first report on each chart (which says
  // whether it is in view) and after each embed it started has settled.
  var unseen = 0, pending = 0;
  var observer = 'IntersectionObserver' in window ? new IntersectionObserver(function (entries) {
    entries.forEach(function (e) {
      if (!e.target.hasAttribute('data-seen')) { e.target.setAttribute('data-seen', ''); unseen--; }
      if (e.isIntersecting) render(e.target);
    });
    settle();
  }, { rootMargin: '300px' }) : null;
  function settle() {
    if (pending === 0 && unseen <= 0) document.body.setAttribute('data-charts', 'done');
  }
  function render(div) {
    if (div.getAttribute('data-rendered')) return;
    div.setAttribute('data-rendered', 'pending');
    if (observer) observer.unobserve(div);
    pending++;
    document.body.removeAttribute('data-charts');
    vegaEmbed(div, spec(D.series[+div.getAttribute('data-series')]), { mode: 'vega-lite', renderer: 'svg', actions: false })
      .then(function () { div.setAttribute('data-rendered', 'true'); })
      .catch(function (err) {
        div.setAttribute('data-rendered', 'error');
        div.textContent = 'This chart failed to render: ' + err;
        console.error('cmbench history chart: ' + err);
      })
      .then(function () { pending--; settle(); });
  }

  function drawCells() {
    var metric = $('f-metric').value, list = $('cells');
    if (observer) observer.disconnect();
    unseen = 0;
    document.body.removeAttribute('data-charts');
    list.textContent = '';
    var shown = 0;
    D.cells.forEach(function (cell, c) {
      if (!cellShown(c)) return;
      var series = (byCell[c] || []).filter(function (i) { return D.series[i].k === metric; });
      if (!series.length) return;
      var sec = el('section', null, 'cell');
      sec.id = 'cell-' + c;
      sec.appendChild(el('h3', cell[0]));
      var row = el('div', null, 'row');
      series.sort(function (a, b) { return D.series[a].m - D.series[b].m; }).forEach(function (i) {
        var s = D.series[i], box = el('div', null, 'machine');
        box.appendChild(el('small', '[' + (s.m + 1) + '] ' + D.machines[s.m] + ' \u2014 ' + s.p.length + ' runs, ' +
                                    s.x.length + ' change point' + (s.x.length === 1 ? '' : 's')));
        var div = el('div', null, 'chart');
        div.setAttribute('data-series', i);
        box.appendChild(div);
        row.appendChild(box);
        if (observer) { unseen++; observer.observe(div); } else render(div);
      });
      sec.appendChild(row);
      list.appendChild(sec);
      shown++;
    });
    $('cells-count').textContent = shown + ' cells';
    settle();
  }

  function redraw() { drawChanges(); drawCells(); }
  ['f-model', 'f-workload', 'f-metric'].forEach(function (id) { $(id).addEventListener('change', redraw); });
  $('f-text').addEventListener('input', redraw);
  var machines = $('machines');
  D.machines.forEach(function (m, i) { machines.appendChild(el('li', '[' + (i + 1) + '] ' + m)); });
  $('summary').textContent = D.runs.length + ' runs, ' + D.cells.length + ' cells, ' + D.series.length +
      ' series, ' + D.changes.length + ' change points. E-Divisive means: significance ' + D.options.significance +
      ', minimum segment ' + D.options.min_segment + ', ' + D.options.permutations + ' permutations, seed ' +
      D.options.seed + '.';
  redraw();
  // A link to a cell (#cell-N) works once the cells exist.
  if (location.hash && $(location.hash.slice(1))) $(location.hash.slice(1)).scrollIntoView();
})();
)JS";

}  // namespace

std::string history_page(const History& h, const std::vector<Change>& changes, const DetectorOptions& options,
                         const report::Assets& assets) {
  std::string out = fmt::format(
      "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{}</style>\n"
      "</head>\n<body>\n",
      html_text("cmbench history"), kStyle);
  out += R"(<header>
<h1>cmbench history</h1>
<p id="summary"></p>
<p class="muted">Each point is one run's median over its repetitions, the bar its fastest to slowest repetition;
a red line marks a change point (the first run after it), the dashed line the level between change points.
Series never mix machines: the same cell on two machines is drawn side by side.</p>
<ul id="machines"></ul>
</header>
<div id="filters">
<label>model <select id="f-model"></select></label>
<label>workload <select id="f-workload"></select></label>
<label>metric <select id="f-metric"></select></label>
<label>cell contains <input id="f-text" type="search" size="28"></label>
</div>
<section id="changes">
<h2>Change points, newest first <small class="muted" id="changes-count"></small></h2>
<div id="changes-wrap">
<table>
<thead><tr><th>cell</th><th>metric</th><th>machine</th><th>change starts at (commit, run date)</th><th>before &#8594; after</th><th>change</th><th>p</th></tr></thead>
<tbody id="changes-body"></tbody>
</table>
</div>
</section>
<section id="trends">
<h2>Trends <small class="muted" id="cells-count"></small></h2>
<div id="cells"></div>
</section>
)";
  for (const auto* lib : {&assets.vega, &assets.vega_lite, &assets.vega_embed})
    out += fmt::format("<script>\n{}\n</script>\n", script_text(*lib));
  out += fmt::format("<script type=\"application/json\" id=\"history-data\">{}</script>\n",
                     json_in_script(page_data(h, changes, options)));
  out += fmt::format("<script>{}</script>\n</body>\n</html>\n", kScript);
  return out;
}

}  // namespace cmbench::history
