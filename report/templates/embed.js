// Every chart is embedded by the same loop; a chart that fails says so in
// its place and on the console (which the browser test watches), and the
// body is marked when all have settled. Each chart is as wide as its
// element (Vega-Lite's width "container"); its legend gets as many columns
// as fit in that width, so a phone stacks it and a desktop lays it out in
// rows.
(function () {
  var specs = JSON.parse(document.getElementById('cmbench-specs').textContent);
  var LEGEND_COLUMN_PX = 190;
  var pending = Object.keys(specs).map(function (id) {
    var el = document.getElementById(id);
    var spec = specs[id];
    spec.config = spec.config || {};
    spec.config.legend = spec.config.legend || {};
    spec.config.legend.columns = Math.max(1, Math.floor(el.clientWidth / LEGEND_COLUMN_PX));
    return vegaEmbed(el, spec, { mode: 'vega-lite', renderer: 'svg', actions: false })
      .then(function () { el.setAttribute('data-rendered', 'true'); })
      .catch(function (err) {
        el.setAttribute('data-rendered', 'error');
        el.textContent = 'This chart failed to render: ' + err;
        console.error('cmbench chart ' + id + ': ' + err);
      });
  });
  Promise.all(pending).then(function () { document.body.setAttribute('data-charts', 'done'); });
})();
