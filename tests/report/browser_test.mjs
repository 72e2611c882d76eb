// Opens report.html in headless Chromium, with every network request
// blocked, and checks that each chart rendered (its element exists, holds an
// SVG with marks, and has a size) and that the console stayed free of
// errors. Run by ctest (label `report`):
//
//   node browser_test.mjs --cmbench BIN --source DIR --work DIR [--screenshot DIR]
//
// It writes two reports from the committed fixtures (one file, and two
// files from two machines) with `cmbench report` and checks both. Nothing is
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

async function checkPage(context, report, screenshotDir) {
  const problems = [];
  const page = await context.newPage();
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
  if (report.hostile) for (const p of await checkNothingInjected(page)) problems.push(p);

  if (screenshotDir) {
    mkdirSync(screenshotDir, { recursive: true });
    await page.screenshot({ path: path.join(screenshotDir, `${report.name}.png`), fullPage: true });
  }
  await page.close();
  console.log(`  ${report.name}: ${charts.length} charts rendered: ${charts.map((c) => `${c.id} ${Math.round(c.width)}x${Math.round(c.height)}`).join(', ')}`);
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
  // The first bar or point big enough to point at.
  let hovered = false;
  for (const mark of await page.$$('.chart svg .mark-rect path, .chart svg .mark-symbol path')) {
    await mark.scrollIntoViewIfNeeded().catch(() => {});
    const box = await mark.boundingBox();
    if (!box || box.width < 3 || box.height < 3) continue;
    // Off the mark's centre line, where the min – max rule (which has no
    // tooltip) is drawn over it; two moves: into the chart, onto the mark.
    const x = box.x + box.width * 0.25, y = box.y + box.height * 0.6;
    await page.mouse.move(x - 2, y - 2);
    await page.mouse.move(x, y, { steps: 3 });
    hovered = true;
    break;
  }
  if (!hovered) {
    problems.push('no chart mark to hover');
  } else {
    const tooltip = await page.waitForSelector('#vg-tooltip-element.visible', { timeout: 5000 }).catch(() => null);
    if (!tooltip) problems.push('hovering a mark opened no tooltip');
    else if (await tooltip.evaluate((el) => el.querySelectorAll('img, script, b').length))
      problems.push('the tooltip holds elements from the file');
    else if (!(await tooltip.evaluate((el) => el.textContent)).includes("<script>alert('model')</script>"))
      problems.push('the tooltip does not show the model name as text');
  }
  return problems;
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
    for (const r of reports) {
      for (const p of await checkPage(context, r, args.screenshot)) problems.push(`${r.name}: ${p}`);
    }
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
