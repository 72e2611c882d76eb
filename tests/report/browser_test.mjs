// Opens report.html in headless Chromium, with every network request
// blocked, and checks that each chart rendered (its element exists, holds an
// SVG with marks, and has a size) and that the console stayed free of
// errors. Run by ctest (label `report`):
//
//   node browser_test.mjs --cmbench BIN --source DIR --work DIR [--screenshot DIR]
//
// It writes reports from the committed fixtures (one file; two files from
// two machines; a file whose every text is hostile; a default-sized run of
// every model with eleven series) with `cmbench report` and checks each at
// a desktop (1,280 px) and a phone (390 px) viewport: the page never
// scrolls sideways (document.documentElement.scrollWidth is the viewport's
// width), and every series keeps one colour and one shape in every legend,
// no two sharing a colour. A full-page screenshot of each report at each
// width goes to --screenshot (default: <work>/screenshots). Nothing is
// skipped: without Chromium or report/node_modules it fails and says to run
// scripts/setup.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const CHROMIUM = '/usr/bin/chromium';
const CHART_TIMEOUT_MS = 30000;
const VIEWPORTS = [
  { width: 1280, height: 900 },
  { width: 390, height: 844 },
];

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) fail(`bad argument ${argv[i]}`);
    args[argv[i].slice(2)] = argv[i + 1];
  }
  for (const need of ['cmbench', 'source', 'work'])
    if (!args[need]) fail(`missing --${need}`);
  return args;
}

function fail(message) {
  console.error(`browser_test: FAIL: ${message}`);
  process.exit(1);
}

function loadPlaywright(sourceDir) {
  const reportDir = path.join(sourceDir, 'report');
  if (!existsSync(path.join(reportDir, 'node_modules', 'playwright-core')))
    fail(`${reportDir}/node_modules/playwright-core is missing: run scripts/setup`);
  if (!existsSync(CHROMIUM)) fail(`${CHROMIUM} is missing: run scripts/setup (it installs Debian's chromium)`);
  return createRequire(path.join(reportDir, 'package.json'))('playwright-core');
}

// The two reports the test looks at: the single-file one and the
// two-machine one, whose charts are split by file.
function writeReports(args) {
  const fixtures = path.join(args.source, 'tests', 'report');
  mkdirSync(args.work, { recursive: true });
  const cases = [
    { name: 'single', inputs: ['fixture.json'] },
    { name: 'multi', inputs: ['fixture.json', 'fixture2.json'] },
    // Every text field of hostile.json carries markup and script meant to
    // run: the page must show it as text and run none of it.
    { name: 'hostile', inputs: ['hostile.json'], hostile: true },
    { name: 'wide', inputs: ['wide.json'] },
  ];
  return cases.map((c) => {
    const out = path.join(args.work, c.name);
    rmSync(out, { recursive: true, force: true });
    execFileSync(args.cmbench, ['report', ...c.inputs.map((f) => path.join(fixtures, f)), '--out', out], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    return { ...c, html: path.join(out, 'report.html') };
  });
}

async function checkPage(context, report, viewport, screenshotDir) {
  const problems = [];
  const page = await context.newPage();
  await page.setViewportSize(viewport);
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
    if (msg.type() === 'warning') console.log(`  console warning (${report.name}): ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  // A hostile string that became script would most likely call alert().
  page.on('dialog', (dialog) => {
    problems.push(`a script opened a ${dialog.type()} dialog: ${dialog.message()}`);
    dialog.dismiss().catch(() => {});
  });

  await page.goto(pathToFileURL(report.html).href);
  try {
    await page.waitForSelector('body[data-charts="done"]', { timeout: CHART_TIMEOUT_MS });
  } catch {
    problems.push(`the charts did not settle within ${CHART_TIMEOUT_MS} ms`);
  }
  const charts = await page.$$eval('.chart', (els) =>
    els.map((el) => {
      const svg = el.querySelector('svg');
      const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
      return {
        id: el.id,
        rendered: el.getAttribute('data-rendered'),
        width: box.width,
        height: box.height,
        marks: svg ? svg.querySelectorAll('[class*="mark-"] path, [class*="mark-"] line, [class*="mark-"] rect').length : 0,
        text: el.textContent.slice(0, 200),
      };
    }),
  );
  if (charts.length < 5) problems.push(`only ${charts.length} chart elements`);
  for (const c of charts) {
    if (c.rendered !== 'true') problems.push(`chart ${c.id} did not render: ${c.rendered} ${c.text}`);
    else if (!(c.width > 0 && c.height > 0)) problems.push(`chart ${c.id} has no size (${c.width}x${c.height})`);
    else if (c.marks === 0) problems.push(`chart ${c.id} drew no marks`);
  }
  // Every in-page link (the taxonomy's numbers, the tables' cells) must
  // land on an element.
  const deadLinks = await page.$$eval('a[href^="#"]', (as) =>
    as.map((a) => a.getAttribute('href').slice(1)).filter((id) => !document.getElementById(id)),
  );
  for (const id of new Set(deadLinks)) problems.push(`link to #${id} has no target`);
  if (report.hostile && viewport.width === VIEWPORTS[0].width)
    for (const p of await checkNothingInjected(page)) problems.push(p);
  // Nothing runs off the right edge: a wide table scrolls in its own box.
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  if (scrollWidth !== viewport.width)
    problems.push(`at ${viewport.width} px the page is ${scrollWidth} px wide: it scrolls sideways`);
  for (const p of await checkLegends(page)) problems.push(p);

  mkdirSync(screenshotDir, { recursive: true });
  const shot = path.join(screenshotDir, `${report.name}-${viewport.width}.png`);
  await page.screenshot({ path: shot, fullPage: true });
  await page.close();
  console.log(`  ${report.name} at ${viewport.width} px: scrollWidth ${scrollWidth}, ${charts.length} charts rendered, widest ${Math.round(Math.max(...charts.map((c) => c.width)))} px; ${shot}`);
  return problems;
}

// The hostile page holds exactly the report's own elements: its five
// scripts (three libraries, the charts' JSON, the loop that embeds them), no
// image, no element or handler attribute from the file, no javascript: link;
// and the payload is there as text, so it was escaped rather than dropped.
// Hovering a mark opens a tooltip, whose text must stay text as well.
async function checkNothingInjected(page) {
  const problems = [];
  const found = await page.evaluate(() => ({
    scripts: document.querySelectorAll('script').length,
    images: document.querySelectorAll('img, iframe, object, embed').length,
    injected: document.querySelectorAll('[id^="injected"]').length,
    handlers: [...document.querySelectorAll('*')].filter((el) =>
      [...el.attributes].some((a) => a.name.startsWith('on'))).length,
    jsLinks: document.querySelectorAll('a[href^="javascript:" i]').length,
    text: document.body.innerText,
  }));
  if (found.scripts !== 5) problems.push(`the page has ${found.scripts} script elements, not 5`);
  if (found.images) problems.push(`the page has ${found.images} image or frame elements`);
  if (found.injected) problems.push(`the page has ${found.injected} elements with an injected id`);
  if (found.handlers) problems.push(`${found.handlers} elements have an on* handler attribute`);
  if (found.jsLinks) problems.push(`${found.jsLinks} links go to javascript:`);
  for (const tag of ['workload', 'model', 'cell-name', 'message', 'context-host', 'taxonomy-unit'])
    if (!found.text.includes(`<script>alert('${tag}')</script>`))
      problems.push(`the ${tag} payload is not on the page as text`);
  // Bars and points, tried in turn until one opens its tooltip (a mark
  // can lie under another layer's, such as the min – max rule).
  let tooltip = null;
  let tried = 0;
  const marks = [
    ...(await page.$$('.chart svg .mark-rect.role-mark path')),
    ...(await page.$$('.chart svg .mark-symbol.role-mark path')),
  ];
  for (const mark of marks) {
    if (tried >= 12) break;
    await mark.scrollIntoViewIfNeeded().catch(() => {});
    const box = await mark.boundingBox();
    if (!box || box.width < 3 || box.height < 3) continue;
    ++tried;
    const x = box.x + box.width * 0.25, y = box.y + box.height * 0.6;
    await page.mouse.move(x, y, { steps: 3 });
    tooltip = await page
      .waitForSelector('#vg-tooltip-element.visible', { state: 'attached', timeout: 1000 })
      .catch(() => null);
    if (tooltip) break;
  }
  if (!tooltip) problems.push(`hovering ${tried} marks opened no tooltip`);
  else if (await tooltip.evaluate((el) => el.querySelectorAll('img, script, b').length))
    problems.push('the tooltip holds elements from the file');
  else if (!(await tooltip.evaluate((el) => el.textContent)).includes("<script>alert('model')</script>"))
    problems.push('the tooltip does not show the model name as text');
  return problems;
}

// Every legend entry's series, colour and symbol: one colour and one shape
// per series across all the page's charts, and no colour for two series.
async function checkLegends(page) {
  const problems = [];
  // A legend whose symbols differ in shape is one of a chart that encodes
  // the shape (bars do not: their legend's symbols are all alike).
  const entries = await page.$$eval('.chart svg .role-legend', (legends) =>
    legends.flatMap((legend) => {
      const symbols = [...legend.querySelectorAll('.role-legend-symbol path')];
      const labels = [...legend.querySelectorAll('.role-legend-label text')];
      const shaped = new Set(symbols.map((s) => s.getAttribute('d'))).size > 1;
      return labels.map((label, i) => ({
        series: label.textContent,
        colour: symbols[i] ? (symbols[i].getAttribute('fill') !== 'transparent' && symbols[i].getAttribute('fill')) || symbols[i].getAttribute('stroke') : '',
        shape: symbols[i] && shaped ? symbols[i].getAttribute('d') : null,
      }));
    }),
  );
  const colourOf = new Map(), shapeOf = new Map(), seriesOf = new Map();
  for (const e of entries) {
    if (!e.colour) continue;
    if (colourOf.has(e.series) && colourOf.get(e.series) !== e.colour)
      problems.push(`series ${e.series} is ${colourOf.get(e.series)} in one legend and ${e.colour} in another`);
    colourOf.set(e.series, e.colour);
    if (e.shape !== null) {
      if (shapeOf.has(e.series) && shapeOf.get(e.series) !== e.shape)
        problems.push(`series ${e.series} changes its point shape between legends`);
      shapeOf.set(e.series, e.shape);
    }
    if (seriesOf.has(e.colour) && seriesOf.get(e.colour) !== e.series)
      problems.push(`series ${seriesOf.get(e.colour)} and ${e.series} share the colour ${e.colour}`);
    seriesOf.set(e.colour, e.series);
  }
  return [...new Set(problems)];
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const { chromium } = loadPlaywright(args.source);
  const reports = writeReports(args);

  const userDataDir = mkdtempSync(path.join(tmpdir(), 'cmbench-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  // The page must be whole on its own: any request that is not for a file
  // (a CDN script, a fetch of a neighbouring file over http) is aborted and
  // fails the test.
  const blocked = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('file:')) return route.continue();
    blocked.push(url);
    return route.abort();
  });

  const problems = [];
  try {
    const screenshots = args.screenshot || path.join(args.work, 'screenshots');
    for (const r of reports)
      for (const viewport of VIEWPORTS)
        for (const p of await checkPage(context, r, viewport, screenshots)) problems.push(`${r.name} at ${viewport.width} px: ${p}`);
  } finally {
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
  for (const url of blocked) problems.push(`the page requested ${url}`);
  if (problems.length) {
    for (const p of problems) console.error(`browser_test: FAIL: ${p}`);
    process.exit(1);
  }
  console.log(`browser_test: ${reports.length} reports rendered with no error and no network request`);
}

main().catch((err) => fail(err.stack || String(err)));
