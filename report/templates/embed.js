// Every chart is embedded by the same loop; a chart that fails says so in
// its place and on the console (which the browser test watches), and the
// body is marked when all have settled.
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
