// Opens history.html in headless Chromium with every network request
// blocked, and checks what a reader relies on: the change-point table on
// top (newest first, with its columns), every chart on screen rendered with
// marks and change points, the same cell of two machines side by side, the
// model and workload filters, the metric choice, and a console free of
// errors. Run by ctest (label `history`):
//
//   node browser_test.mjs --cmbench BIN --source DIR --work DIR
//        [--cells 8 --runs 30 --machines 2 --reps 5] [--measure 1 [--page HTML]] [--screenshot DIR]
//
// It makes its own runs (tests/history/make_runs.py), adds them with
// `cmbench history add` and writes the page with `cmbench history report`.
// With --measure it prints how long the page takes to load and draw its
// first screen of charts, five times, at the size given (the size:
// --cells 300 --runs 100). Nothing is skipped: without Chromium or
// report/node_modules it fails and says to run scripts/setup.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const CHROMIUM = '/usr/bin/chromium';
const TIMEOUT_MS = 60000;

function fail(message) {
  console.error(`history browser_test: FAIL: ${message}`);
  process.exit(1);
}

function parseArgs(argv) {
  const args = { cells: '8', runs: '30', machines: '2', reps: '5' };
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) fail(`bad argument ${argv[i]}`);
    args[argv[i].slice(2)] = argv[i + 1];
  }
  for (const need of ['cmbench', 'source', 'work']) if (!args[need]) fail(`missing --${need}`);
  return args;
}

function loadPlaywright(sourceDir) {
  const reportDir = path.join(sourceDir, 'report');
  if (!existsSync(path.join(reportDir, 'node_modules', 'playwright-core')))
    fail(`${reportDir}/node_modules/playwright-core is missing: run scripts/setup`);
  if (!existsSync(CHROMIUM)) fail(`${CHROMIUM} is missing: run scripts/setup (it installs Debian's chromium)`);
  return createRequire(path.join(reportDir, 'package.json'))('playwright-core');
}

function writePage(args) {
  rmSync(args.work, { recursive: true, force: true });
  const runs = path.join(args.work, 'runs');
  mkdirSync(runs, { recursive: true });
  execFileSync('python3', [path.join(args.source, 'tests', 'history', 'make_runs.py'), '--out', runs,
    '--cells', args.cells, '--runs', args.runs, '--machines', args.machines, '--reps', args.reps]);
  const db = path.join(args.work, 'history.sqlite');
  const files = readdirSync(runs).sort().map((f) => path.join(runs, f));
  // Many files per call, as a backfill would add them.
  for (let i = 0; i < files.length; i += 50)
    execFileSync(args.cmbench, ['history', 'add', '--db', db, ...files.slice(i, i + 50)], { stdio: ['ignore', 'ignore', 'inherit'] });
  const out = path.join(args.work, 'page');
  const t0 = Date.now();
  const said = execFileSync(args.cmbench, ['history', 'report', '--db', db, '--out', out], { encoding: 'utf8' });
  console.log(`  ${said.trim()} in ${Date.now() - t0} ms`);
  return path.join(out, 'history.html');
}

async function chartsDone(page) {
  await page.waitForFunction(() => document.body.getAttribute('data-charts') === 'done', null, { timeout: TIMEOUT_MS });
}

async function inspectCharts(page) {
  return page.$$eval('.chart[data-rendered]', (els) => els.map((el) => {
    const svg = el.querySelector('svg');
    const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
    return {
      series: el.getAttribute('data-series'), rendered: el.getAttribute('data-rendered'),
      width: box.width, height: box.height,
      marks: svg ? svg.querySelectorAll('[class*="mark-"] path, [class*="mark-"] line, [class*="mark-"] rect').length : 0,
      text: el.textContent.slice(0, 200),
    };
  }));
}

async function checkPage(context, html, args, problems) {
  const page = await context.newPage();
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`); });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  await page.setViewportSize({ width: 1400, height: 1000 });
  await page.goto(pathToFileURL(html).href);
  await chartsDone(page);

  // The change-point table: rows, newest first, the columns the issue names.
  const head = await page.$$eval('#changes thead th', (ths) => ths.map((t) => t.textContent));
  for (const col of ['cell', 'metric', 'change starts at', 'before', 'change', 'p'])
    if (!head.some((h) => h.startsWith(col))) problems.push(`change table lacks a "${col}" column: ${head}`);
  const rows = await page.$$eval('#changes-body tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  if (rows.length === 0) problems.push('the change-point table is empty');
  const dates = rows.map((r) => r[3].split(' ').slice(-1)[0]);
  for (let i = 1; i < dates.length; i++)
    if (dates[i] > dates[i - 1]) { problems.push(`change points not newest first: ${dates[i - 1]} before ${dates[i]}`); break; }
  if (!rows.some((r) => r[5].startsWith('+'))) problems.push('no slowdown (+%) in the change table');
  if (!rows.some((r) => r[5].startsWith('-'))) problems.push('no speed-up (-%) in the change table');
  const worse = await page.$$eval('#changes-body td.worse', (tds) => tds.length);
  if (worse === 0) problems.push('no change point marked worse');

  // Charts on screen: rendered, sized, with marks; a change point's red rule.
  let charts = await inspectCharts(page);
  if (charts.length < 2) problems.push(`only ${charts.length} charts rendered on the first screen`);
  for (const c of charts) {
    if (c.rendered !== 'true') problems.push(`chart of series ${c.series} did not render: ${c.rendered} ${c.text}`);
    else if (!(c.width > 0 && c.height > 0)) problems.push(`chart of series ${c.series} has no size`);
    else if (c.marks === 0) problems.push(`chart of series ${c.series} drew no marks`);
  }
  // Two machines side by side: a cell with two chart boxes on one row, at
  // the same height.
  const sideBySide = await page.$$eval('.cell', (cells) => cells.filter((c) => {
    const boxes = [...c.querySelectorAll('.machine')].map((b) => b.getBoundingClientRect());
    return boxes.length >= 2 && Math.abs(boxes[0].top - boxes[1].top) < 2 && boxes[1].left > boxes[0].right - 1;
  }).length);
  if (+args.machines >= 2 && sideBySide === 0) problems.push('no cell shows two machines side by side');

  // Filters: a model narrows both the cells and the change points.
  const allCells = await page.$$eval('.cell', (c) => c.length);
  const model = await page.$eval('#f-model option:nth-child(2)', (o) => o.value);
  await page.selectOption('#f-model', model);
  const cellModels = await page.$$eval('.cell h3', (hs) => hs.map((h) => h.textContent.split('/')[1]));
  if (cellModels.length === 0 || cellModels.length >= allCells || cellModels.some((m) => m !== model))
    problems.push(`model filter ${model}: ${cellModels.length} of ${allCells} cells, models ${[...new Set(cellModels)]}`);
  const rowModels = await page.$$eval('#changes-body tr td:first-child', (tds) => tds.map((t) => t.textContent.split('/')[1]));
  if (rowModels.some((m) => m !== model)) problems.push(`model filter left change points of other models: ${rowModels}`);
  await page.selectOption('#f-model', '');
  const workload = await page.$eval('#f-workload option:nth-child(2)', (o) => o.value);
  await page.selectOption('#f-workload', workload);
  const cellWorkloads = await page.$$eval('.cell h3', (hs) => hs.map((h) => h.textContent.split('/')[0]));
  if (cellWorkloads.length === 0 || cellWorkloads.some((w) => w !== workload))
    problems.push(`workload filter ${workload}: ${cellWorkloads}`);
  await page.selectOption('#f-workload', '');

  // Another metric: the charts are drawn again, for it.
  await page.selectOption('#f-metric', 'latency_p99_ns');
  await chartsDone(page);
  charts = await inspectCharts(page);
  if (charts.length === 0 || charts.some((c) => c.rendered !== 'true'))
    problems.push(`latency_p99_ns charts: ${JSON.stringify(charts.slice(0, 3))}`);

  // A change point's row leads to its cell, with its metric chosen.
  await page.selectOption('#f-metric', 'ns_per_op');
  const link = await page.$('#changes-body tr:last-child a');
  if (link) {
    const target = await link.getAttribute('href');
    await link.click();
    await chartsDone(page);
    const visible = await page.$eval(target, (el) => {
      const r = el.getBoundingClientRect();
      return r.top < window.innerHeight && r.bottom > 0;
    }).catch(() => false);
    if (!visible) problems.push(`the link ${target} did not bring its cell into view`);
    const red = await page.$$eval(`${target} .chart svg`, (svgs) => svgs.some((s) =>
      [...s.querySelectorAll('line, path')].some((l) => (l.getAttribute('stroke') || '') === '#c62828')));
    if (!red) problems.push(`the cell ${target} shows no change-point rule`);
  }

  if (args.screenshot) {
    mkdirSync(args.screenshot, { recursive: true });
    await page.screenshot({ path: path.join(args.screenshot, 'history.png'), fullPage: false });
  }
  await page.close();
  console.log(`  ${rows.length} change points, ${allCells} cells, ${charts.length} charts checked, ${sideBySide} cells side by side`);
}

// Load time: navigation start to the first screen of charts drawn, and to
// the DOM being ready, in a fresh page each time.
async function measure(context, html) {
  const times = [];
  for (let i = 0; i < 5; i++) {
    const page = await context.newPage();
    await page.setViewportSize({ width: 1400, height: 1000 });
    // Chromium's own account of the main thread's work (Performance
    // domain): how long its tasks and scripts ran, which a busy machine
    // inflates less than the wall clock.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    const t0 = Date.now();
    await page.goto(pathToFileURL(html).href);
    await chartsDone(page);
    const wall = Date.now() - t0;
    const metrics = Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
    const nav = await page.evaluate(() => {
      const n = performance.getEntriesByType('navigation')[0];
      return { dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd };
    });
    const charts = await page.$$eval('.chart[data-rendered="true"]', (e) => e.length);
    times.push(wall);
    console.log(`  load ${i + 1}: DOMContentLoaded ${nav.dcl.toFixed(0)} ms, load ${nav.load.toFixed(0)} ms, first screen of charts (${charts}) drawn after ${wall} ms; main thread: tasks ${(metrics.TaskDuration * 1000).toFixed(0)} ms, scripts ${(metrics.ScriptDuration * 1000).toFixed(0)} ms, layout ${(metrics.LayoutDuration * 1000).toFixed(0)} ms`);
    await page.close();
  }
  times.sort((a, b) => a - b);
  console.log(`  median of 5: ${times[2]} ms to the first screen of charts`);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const { chromium } = loadPlaywright(args.source);
  // --page measures a page already written (the big one takes minutes to make).
  const html = args.page ? path.resolve(args.page) : writePage(args);
  console.log(`  page: ${(statSync(html).size / 1048576).toFixed(1)} MiB for ${args.cells} cells x ${args.runs} runs x ${args.machines} machines`);
  const userDataDir = mkdtempSync(path.join(tmpdir(), 'cmbench-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM, headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const blocked = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('file:')) return route.continue();
    blocked.push(url);
    return route.abort();
  });
  const problems = [];
  try {
    if (args.measure) await measure(context, html);
    else await checkPage(context, html, args, problems);
  } finally {
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
  for (const url of blocked) problems.push(`the page requested ${url}`);
  if (problems.length) {
    for (const p of problems) console.error(`history browser_test: FAIL: ${p}`);
    process.exit(1);
  }
  console.log('history browser_test: the page works with no error and no network request');
}

main().catch((err) => fail(err.stack || String(err)));
