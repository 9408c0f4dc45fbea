// Browser tests of vizfeed's page: the real daemon, the built page (ui/dist), headless Chromium.
//
//   VIZFEED=build/vizfeed VIZFEED_SRC=. node tests/ui/test_ui.mjs
//
// Prints TAP. Needs ui/node_modules (npm ci) and ui/dist (npm run build) and /usr/bin/chromium.
// Everything listens on 127.0.0.1 with ports chosen at run time, and is stopped at the end.
// The whole run is bounded by DEADLINE_MS. Screenshots of the three levels go to
// docs/screenshots/ (set VIZFEED_SCREENSHOTS to write them elsewhere, or to "" to skip them);
// VIZFEED_DEMO_SEED picks another demo day (one with an incident on screen makes better pictures).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = resolve(process.env.VIZFEED_SRC || join(dirname(fileURLToPath(import.meta.url)), '..', '..'));
const VIZFEED = resolve(process.env.VIZFEED || join(SRC, 'build', 'vizfeed'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const DIST = join(SRC, 'ui', 'dist');
const SHOTS = process.env.VIZFEED_SCREENSHOTS ?? join(SRC, 'docs', 'screenshots');
const DEADLINE_MS = 400_000;
const REFRESH_S = 2;
const HOSTILE = '<img src=x onerror=window.__xss=1>';
const HOSTILE_HOST = '"><img src=y onerror=window.__xss=2>';

// Console messages of type error/warning that are not the page's fault. Each needs a reason.
const ALLOWED_CONSOLE = [
  // Software WebGL (SwiftShader) reports read-backs as driver performance notes.
  { re: /GPU stall due to ReadPixels/, why: 'SwiftShader performance note' },
  { re: /Automatic fallback to software WebGL has been deprecated/, why: 'we ask for SwiftShader on purpose' },
  // Python's static server has no ui-settings.json, which the page asks for before it shows a
  // ?src= of another origin; the browser logs the 404 (its reason phrase is Python's).
  { re: /status of 404 \(File not found\)/, why: 'a static server without ui-settings.json' },
];
// Failed loads the browser logs for answers the page expects and handles, matched by the URL
// the message is about. Each needs a reason.
const ALLOWED_LOADS = [
  // A feeder from before the timeline (and the fake feeder) has no /timeline.json: the page
  // shows a note instead (the timeline tests fail on their own when vizfeed lacks it).
  { url: /\/timeline\.json\?/, re: /status of 404/, why: 'a feeder without the timeline' },
  // The history pool is busy: the page waits for Retry-After and asks again.
  { url: /\/(vizceral|timeline)\.json\?/, re: /status of 503/, why: 'past windows answered 503 Retry-After' },
];
// Allowed only once the feeder has been stopped on purpose: the browser logs the refused poll.
const ALLOWED_WHEN_DOWN = [/ERR_CONNECTION_REFUSED/, /Failed to fetch/];

/* ---------- TAP ---------- */

let count = 0;
let failed = 0;
function check(ok, name, detail) {
  count++;
  if (!ok) failed++;
  console.log(`${ok ? 'ok' : 'not ok'} ${count} - ${name}`);
  if (!ok && detail !== undefined) {
    for (const line of String(detail).split('\n')) console.log(`# ${line}`);
  }
  return ok;
}
function equal(actual, expected, name) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  return check(a === e, name, `expected ${e}\n     got ${a}`);
}

/* ---------- processes ---------- */

const tmp = mkdtempSync(join(tmpdir(), 'vizfeed-ui-'));
const children = new Set();

function startProcess(cmd, args, portPattern, what) {
  return new Promise((resolvePort, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let log = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${log}`)), 20_000);
    const onData = (data) => {
      log += data;
      const m = log.match(portPattern);
      if (m && timer) {
        clearTimeout(timer);
        resolvePort({ child, port: Number(m[1]), log: () => log });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      children.delete(child);
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}: ${log}`));
    });
  });
}

function stopProcess(child) {
  return new Promise((done) => {
    if (!children.has(child)) return done();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => { clearTimeout(timer); children.delete(child); done(); });
    child.kill('SIGTERM');
  });
}

async function startVizfeed(name, yaml, credentials) {
  const cfg = join(tmp, name + '.yml');
  writeFileSync(cfg, yaml);
  const daemon = await startProcess(VIZFEED, ['-c', cfg, '--listen', '127.0.0.1:0'], /port (\d+)/, 'vizfeed');
  daemon.base = `http://127.0.0.1:${daemon.port}`;
  // Wait for the first graph (503 before it).
  const until = Date.now() + 20_000;
  while (Date.now() < until) {
    const headers = credentials ? { Authorization: 'Basic ' + Buffer.from(credentials.username + ':' + credentials.password).toString('base64') } : {};
    const res = await fetch(daemon.base + '/vizceral.json', { headers }).catch(() => null);
    if (res && res.status === 200) { await res.arrayBuffer(); return daemon; }
    await sleep(100);
  }
  throw new Error('no graph from vizfeed: ' + daemon.log());
}

async function feed(daemon) {
  const res = await fetch(daemon.base + '/vizceral.json');
  return res.json();
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* ---------- page helpers ---------- */

const consoleProblems = [];
let feederDown = false;

function watchPage(page, label) {
  page.on('console', (msg) => {
    const type = msg.type();
    if (type !== 'error' && type !== 'warning') return;
    const text = msg.text();
    if (ALLOWED_CONSOLE.some((a) => a.re.test(text))) return;
    const where = (msg.location() && msg.location().url) || '';
    if (ALLOWED_LOADS.some((a) => a.url.test(where) && a.re.test(text))) return;
    if (feederDown && ALLOWED_WHEN_DOWN.some((re) => re.test(text))) return;
    consoleProblems.push(`${label} console.${type}: ${text.slice(0, 300)}`);
  });
  page.on('pageerror', (error) => consoleProblems.push(`${label} uncaught: ${error.message}`));
}

async function waitReady(page, timeout = 30_000) {
  await page.waitForFunction(() => window.__vizfeed && window.__vizfeed.ready &&
    window.__vizfeed.viz.currentGraph, null, { timeout });
}

async function waitView(page, view, timeout = 15_000) {
  await page.waitForFunction((v) => JSON.stringify(window.__vizfeed.view) === JSON.stringify(v) &&
    window.__vizfeed.viz.currentGraph && JSON.stringify(window.__vizfeed.viz.currentGraph.graphIndex) === JSON.stringify(v),
  view, { timeout });
}

/* What Vizceral has on screen now: visible node and connection names of the current graph. */
function drawn(page) {
  return page.evaluate(() => {
    const g = window.__vizfeed.viz.currentGraph;
    const nodes = Object.values(g.nodes).filter((n) => n.isVisible()).map((n) => n.getName()).sort();
    const connections = Object.values(g.connections).filter((c) => c.isVisible())
      .map((c) => c.source.getName() + '--' + c.target.getName()).sort();
    return { nodes, connections, view: g.graphIndex };
  });
}

/* Screen position (page pixels) of a node of the current graph. */
function nodeOnScreen(page, name) {
  return page.evaluate((nodeName) => {
    const viz = window.__vizfeed.viz;
    const node = viz.currentGraph.nodes[nodeName];
    if (!node || !node.getView()) return null;
    const container = node.getView().container;
    container.updateMatrixWorld(true);
    const e = container.matrixWorld.elements;
    const canvas = document.getElementById('canvas');
    const rect = canvas.getBoundingClientRect();
    const scale = rect.width / rect.height > 1800 / 1100 ? rect.height / 1100 : rect.width / 1800;
    return { x: rect.left + rect.width / 2 + e[12] * scale, y: rect.top + rect.height / 2 - e[13] * scale };
  }, name);
}

async function screenshot(page, file) {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await sleep(4000); // real time, so particles are in flight
  const path = join(SHOTS, file);
  await page.screenshot({ path, type: 'png' });
  const size = statSync(path).size;
  // A blank canvas compresses to a few KB; particles make the size vary, so
  // only a generous upper bound is checked.
  check(size > 20_000 && size < 2_000_000, `screenshot ${file} is not blank (${Math.round(size / 1024)} KB)`, `size ${size}`);
}

const total = (metrics) => Object.values(metrics || {}).reduce((s, v) => s + (v > 0 ? v : 0), 0);
const formatRate = (v) => (v === 0 ? '0' : String(Number(v.toPrecision(4))));

/* ---------- the tests ---------- */

async function demoTests(browser, demo) {
  const page = await browser.newPage();
  watchPage(page, 'demo');
  await page.goto(`${demo.base}/?refresh=${REFRESH_S}`);
  await waitReady(page);
  check(true, 'the page loads and Vizceral draws the demo graph');

  // Global level: what is drawn is what the feeder serves.
  let json = await feed(demo);
  let shown = await drawn(page);
  const pageGraph = await page.evaluate(() => window.__vizfeed.graph);
  const names = (g) => g.nodes.map((n) => n.name).sort();
  const edges = (level) => (level.connections || []).map((c) => c.source + '--' + c.target).sort();
  equal(shown.nodes, names(pageGraph), 'global: the regions drawn are the graph\'s nodes');
  equal(shown.connections, edges(pageGraph), 'global: the connections drawn are the graph\'s connections');
  equal(names(pageGraph), names(json), 'global: the page\'s graph has the regions of /vizceral.json');
  equal(edges(pageGraph), edges(json), 'global: the page\'s graph has the connections of /vizceral.json');
  const globalPanel = await page.$eval('#details [data-field="regions"]', (e) => Number(e.dataset.value));
  equal(globalPanel, json.nodes.filter((n) => n.name !== json.entryNode).length, 'global: the panel counts the regions');
  await screenshot(page, 'global.png');

  // Into a region by a click on its donut, as a user would: one with an incident if there is
  // one (better screenshots), else the biggest.
  const troubled = (n) => n.class === 'warning' || n.class === 'danger';
  const regions = json.nodes.filter((n) => n.name !== json.entryNode && Array.isArray(n.nodes));
  regions.sort((a, b) => (b.nodes.some(troubled) - a.nodes.some(troubled)) || b.nodes.length - a.nodes.length);
  const region = regions[0];
  const where = await nodeOnScreen(page, region.name);
  if (where) await page.mouse.click(where.x, where.y);
  try {
    await waitView(page, [region.name], 6000);
    check(true, 'a click on a region donut opens the region');
  } catch (e) {
    check(false, 'a click on a region donut opens the region', `clicked at ${JSON.stringify(where)}`);
    await page.evaluate((r) => { window.location.hash = '#/' + encodeURIComponent(r); }, region.name);
    await waitView(page, [region.name]);
  }
  equal(await page.evaluate(() => window.location.hash), '#/' + encodeURIComponent(region.name), 'region: the view is in the URL hash');
  const crumbs = await page.$eval('#crumbs', (e) => e.textContent);
  check(crumbs.includes(region.name) && crumbs.includes(json.name), 'region: breadcrumbs show the path', crumbs);

  // Region level: every drawn node and edge is in the JSON; all edges are drawn with no filter.
  await page.waitForFunction(() => window.__vizfeed.viz.currentGraph.nodeCounts &&
    Object.values(window.__vizfeed.viz.currentGraph.connections).some((c) => c.isVisible()), null, { timeout: 10_000 });
  shown = await drawn(page);
  let level = (await page.evaluate(() => window.__vizfeed.graph)).nodes.find((n) => n.name === region.name);
  const levelEdges = edges(level);
  const levelNodes = level.nodes.map((n) => n.name);
  equal(shown.connections, levelEdges, `region ${region.name}: every connection of the JSON is drawn`);
  check(shown.nodes.every((n) => levelNodes.includes(n)) && shown.nodes.length === new Set(levelEdges.flatMap((e) => e.split('--'))).size,
    `region ${region.name}: the nodes drawn are the connected nodes of the JSON`, `${shown.nodes.length} drawn`);
  await screenshot(page, 'region.png');

  // Search a host name: its service matches, the others are dimmed.
  const service = level.nodes.filter((n) => Array.isArray(n.nodes) && n.nodes.length > 0 && n.name !== level.entryNode)
    .sort((a, b) => (troubled(b) - troubled(a)) || b.nodes.length - a.nodes.length)[0];
  const host = service.nodes[service.nodes.length - 1].name;
  await page.fill('#search', host);
  await page.waitForFunction((q) => window.__vizfeed.search.query === q, host, { timeout: 5000 });
  const search = await page.evaluate(() => window.__vizfeed.search);
  check(search.matches.includes(service.name), `search "${host}" finds service ${service.name}`, JSON.stringify(search));
  const dim = await page.evaluate((s) => {
    const nodes = window.__vizfeed.viz.currentGraph.nodes;
    return { match: nodes[s].getView().dimmed, others: Object.values(nodes).filter((n) => n.getName() !== s && n.isVisible() && n.getView().dimmed).length };
  }, service.name);
  check(dim.match === false && dim.others > 0, 'search: the matching service stays bright, the others are dimmed', JSON.stringify(dim));
  const matchText = await page.$eval('#matches', (e) => e.textContent);
  check(matchText === `${search.matches.length} match${search.matches.length === 1 ? '' : 'es'}`, 'search: the match count is shown', matchText);
  await page.fill('#search', '');
  await page.waitForFunction(() => window.__vizfeed.search.query === '', null, { timeout: 5000 });

  // Details of a connection (highlighted by a click on its target's incoming edge is fiddly on a
  // busy graph, so this one goes through Vizceral's own API, which fires objectHighlighted).
  level = (await page.evaluate(() => window.__vizfeed.graph)).nodes.find((n) => n.name === region.name);
  const busiest = level.connections.slice().sort((a, b) => total(b.metrics) - total(a.metrics))[0];
  await page.evaluate((c) => {
    const viz = window.__vizfeed.viz;
    viz.setHighlightedConnection(viz.currentGraph.connections[c.source + '--' + c.target]);
  }, busiest);
  await page.waitForFunction(() => window.__vizfeed.highlighted && window.__vizfeed.highlighted.type === 'connection', null, { timeout: 5000 });
  const panel = await page.evaluate(() => {
    const out = {};
    for (const dd of document.querySelectorAll('#details dd[data-field]')) out[dd.dataset.field] = { value: Number(dd.dataset.value), text: dd.textContent };
    return { fields: out, title: document.querySelector('#details h2').textContent, graph: window.__vizfeed.graph };
  });
  const current = panel.graph.nodes.find((n) => n.name === region.name).connections
    .find((c) => c.source === busiest.source && c.target === busiest.target);
  equal(panel.title, `${busiest.source} → ${busiest.target}`, 'details: the highlighted connection is shown');
  equal(panel.fields.total && panel.fields.total.value, total(current.metrics), 'details: the connection\'s rate equals the JSON metrics\' sum');
  equal(panel.fields.total && panel.fields.total.text, formatRate(total(current.metrics)) + ' /s', 'details: the rate is shown as the feeder rounds it');
  equal(panel.fields.normal && panel.fields.normal.value, current.metrics.normal || 0, 'details: the normal rate equals the JSON');
  equal(panel.fields.danger && panel.fields.danger.value, current.metrics.danger || 0, 'details: the danger rate equals the JSON');

  // A real click on empty space clears the highlight; ESC with a highlight clears it first.
  await page.keyboard.press('Escape');
  await page.waitForFunction(() => window.__vizfeed.highlighted === null, null, { timeout: 5000 });
  equal(await page.evaluate(() => window.__vizfeed.view), [region.name], 'ESC first clears the highlight and stays in the region');

  // The minimum-traffic filter hides the small connections.
  await page.selectOption('#filter', '100');
  await sleep(500);
  shown = await drawn(page);
  level = (await page.evaluate(() => window.__vizfeed.graph)).nodes.find((n) => n.name === region.name);
  const big = level.connections.filter((c) => total(c.metrics) >= 100).map((c) => c.source + '--' + c.target).sort();
  equal(shown.connections, big, 'filter >= 100 req/s: only the connections of at least 100 req/s are drawn');
  await page.selectOption('#filter', '-1');
  await sleep(500);
  equal((await drawn(page)).connections.length, level.connections.length, 'filter "all": every connection is drawn again');

  // Into a service by a double click on it, as Vizceral does. The layout may
  // still be moving after the filter changed (slowly on a loaded machine): a
  // click that landed beside the node is tried again where the node now is.
  let spot = null;
  let opened = false;
  for (let attempt = 0; attempt < 3 && !opened; attempt++) {
    spot = await nodeOnScreen(page, service.name);
    if (spot) await page.mouse.dblclick(spot.x, spot.y);
    opened = await waitView(page, [region.name, service.name], 6000).then(() => true, () => false);
  }
  check(opened, `a double click on ${service.name} opens the service view`, `at ${JSON.stringify(spot)}`);
  if (!opened) {
    await page.evaluate((v) => { window.location.hash = '#/' + v.map(encodeURIComponent).join('/'); }, [region.name, service.name]);
    await waitView(page, [region.name, service.name]);
  }
  const svc = await page.evaluate(() => ({
    title: document.querySelector('#details h2').textContent,
    rateIn: Number(document.querySelector('#details [data-field="rate_in"]').dataset.value),
    hosts: document.querySelector('#details').textContent,
    graph: window.__vizfeed.graph,
  }));
  const svcJson = svc.graph.nodes.find((n) => n.name === region.name).nodes.find((n) => n.name === service.name);
  equal(svc.title, service.name, 'service: the panel shows the service');
  equal(svc.rateIn, svcJson.metadata.rate_in, 'service: requests in equal metadata.rate_in');
  check(svcJson.nodes.every((h) => svc.hosts.includes(h.name)), 'service: the panel lists its hosts', svc.hosts.slice(0, 300));
  await screenshot(page, 'service.png');

  // The hash reproduces a view after a reload; ESC goes up level by level.
  await page.reload();
  await waitReady(page);
  await waitView(page, [region.name, service.name]);
  check(true, 'a reload keeps the service view (from the URL hash)');
  await page.keyboard.press('Escape');
  await waitView(page, [region.name]).then(() => check(true, 'ESC goes up to the region'),
    () => check(false, 'ESC goes up to the region'));
  await page.keyboard.press('Escape');
  await waitView(page, []).then(() => check(true, 'ESC goes up to the global view'),
    () => check(false, 'ESC goes up to the global view'));
  equal(await page.evaluate(() => window.location.hash), '#/', 'global: the hash is #/');
  await page.goBack();
  await waitView(page, [region.name]).then(() => check(true, 'Back returns to the region'),
    () => check(false, 'Back returns to the region'));

  // Polling with If-None-Match: 304s keep the graph and report no problem.
  const before = await page.evaluate(() => ({ polls: window.__vizfeed.polls, graphs: window.__vizfeed.graphs }));
  await sleep(3500);
  const after = await page.evaluate(() => ({ polls: window.__vizfeed.polls, graphs: window.__vizfeed.graphs, error: window.__vizfeed.lastError }));
  check(after.polls >= before.polls + 2 && after.graphs > before.graphs && after.error === null,
    'the page polls at the refresh pace and takes new graphs', JSON.stringify({ before, after }));
  const banners = await page.$eval('#banners', (e) => e.textContent);
  equal(banners, '', 'no warning while the feeder is fine');
  return page;
}

async function crossOriginTests(browser, demo) {
  const server = await startProcess('python3', ['-m', 'http.server', '--bind', '127.0.0.1', '--directory', DIST, '0'],
    /port (\d+)/, 'http.server');
  try {
    const page = await browser.newPage();
    watchPage(page, 'cross-origin');
    const src = `${demo.base}/vizceral.json`;
    await page.goto(`http://127.0.0.1:${server.port}/?refresh=${REFRESH_S}&src=${encodeURIComponent(src)}#/`);
    await waitReady(page);
    const json = await feed(demo);
    const shown = await drawn(page);
    equal(shown.nodes, json.nodes.map((n) => n.name).sort(), 'cross-origin: the page on another origin draws the feed (CORS)');
    await sleep(2500);
    const s = await page.evaluate(() => ({ error: window.__vizfeed.lastError, polls: window.__vizfeed.polls, source: window.__vizfeed.source }));
    check(s.error === null && s.polls >= 3 && s.source === src, 'cross-origin: conditional polls succeed (preflight, ETag exposed)', JSON.stringify(s));
    const banner = await page.$eval('#banners', (e) => e.textContent);
    check(banner.includes(`Showing the graph of ${demo.base} (?src=)`), 'cross-origin: a banner names the origin the graph comes from', banner);
    await page.close();
  } finally {
    await stopProcess(server.child);
  }
}

async function unreachableTests(page, demo) {
  const before = await drawn(page);
  feederDown = true;
  await stopProcess(demo.child);
  try {
    await page.waitForFunction(() => /Cannot reach the feeder/.test(document.getElementById('banners').textContent), null, { timeout: 10_000 });
    check(true, 'feeder stopped: the page says it cannot reach it');
  } catch (e) {
    check(false, 'feeder stopped: the page says it cannot reach it', await page.$eval('#banners', (b) => b.textContent));
  }
  const after = await drawn(page);
  check(after.nodes.length > 0 && JSON.stringify(after.nodes) === JSON.stringify(before.nodes) &&
    (await page.evaluate(() => window.__vizfeed.graph !== null && window.__vizfeed.unreachable)),
  'feeder stopped: the last graph stays on screen', JSON.stringify(after));
  try {
    await page.waitForFunction(() => /Data is old/.test(document.getElementById('banners').textContent), null,
      { timeout: (3 * REFRESH_S + 6) * 1000 });
    check(true, 'feeder stopped: after 3 refresh intervals the data is called old');
  } catch (e) {
    check(false, 'feeder stopped: after 3 refresh intervals the data is called old', await page.$eval('#banners', (b) => b.textContent));
  }
}

async function hostileTests(browser) {
  // A file flow whose service, host and notices carry markup. Events sit inside the window for
  // the whole of this part (window 5m, no lag): 2 requests/s, half of them failures.
  const now = Date.now();
  const lines = [];
  for (let i = 0; i < 600; i++) {
    const ts = new Date(now - 60_000 + i * 100).toISOString();
    lines.push(JSON.stringify({ '@timestamp': ts, service: { name: HOSTILE }, host: { name: HOSTILE_HOST },
      event: { outcome: i % 2 ? 'failure' : 'success' } }));
    lines.push(JSON.stringify({ '@timestamp': ts, service: { name: 'café & bar' }, host: { name: 'bar-1' }, event: { outcome: 'success' } }));
  }
  writeFileSync(join(tmp, 'hostile.ndjson'), lines.join('\n') + '\n');
  const daemon = await startVizfeed('hostile', [
    `ui_dir: ${JSON.stringify(DIST)}`,
    'refresh: { interval: 2s, window: 5m, lag: 0s }',
    'graph:',
    '  notice_link: "https://kibana.example/app/discover#/?q={query}"',
    'flows:',
    `  - name: hostile`,
    '    type: file',
    `    path: ${JSON.stringify(join(tmp, 'hostile.ndjson'))}`,
    '    to: { service: service.name, host: host.name }',
    '    danger:',
    '      - { field: event.outcome, equals: failure }',
    '',
  ].join('\n'));
  try {
    const page = await browser.newPage();
    watchPage(page, 'hostile');
    await page.goto(`${daemon.base}/?refresh=${REFRESH_S}#/default`);
    await waitReady(page);
    await waitView(page, ['default']);
    await page.evaluate((name) => {
      const viz = window.__vizfeed.viz;
      viz.setHighlightedNode(viz.currentGraph.nodes[name]);
    }, HOSTILE);
    await page.waitForFunction(() => window.__vizfeed.highlighted && window.__vizfeed.highlighted.type === 'node', null, { timeout: 5000 });
    const panel = await page.$eval('#details', (e) => ({ text: e.textContent, title: e.querySelector('h2').textContent,
      links: Array.from(e.querySelectorAll('a')).map((a) => ({ href: a.href, rel: a.rel })) }));
    equal(panel.title, HOSTILE, 'hostile: a service name with markup is shown as text in the panel');
    check(panel.text.includes(HOSTILE_HOST), 'hostile: a host name with markup is shown as text', panel.text.slice(0, 400));
    check(panel.text.includes(`into ${HOSTILE} in default`), 'hostile: an escaped notice subtitle is shown decoded once, as text', panel.text.slice(0, 400));
    check(panel.links.length > 0 && panel.links.every((l) => l.href.startsWith('https://kibana.example/') && l.rel.includes('noopener')),
      'hostile: notice links are https with rel=noopener', JSON.stringify(panel.links));

    // Vizceral's own notice box (HTML) by hovering the node.
    const spot = await nodeOnScreen(page, HOSTILE);
    if (spot) {
      await page.mouse.move(spot.x, spot.y);
      await sleep(600);
    }
    await page.evaluate((v) => { window.location.hash = '#/' + v.map(encodeURIComponent).join('/'); }, ['default', HOSTILE]);
    await waitView(page, ['default', HOSTILE]);
    const crumbs = await page.$eval('#crumbs', (e) => e.textContent);
    check(crumbs.includes(HOSTILE), 'hostile: the breadcrumb shows the name as text', crumbs);
    await sleep(1000);
    const xss = await page.evaluate(() => ({ flag: window.__xss, imgs: document.querySelectorAll('img').length,
      notice: document.querySelector('.vizceral-notice').innerHTML }));
    check(xss.flag === undefined && xss.imgs === 0, 'hostile: no markup from the data ran or became an element', JSON.stringify(xss));
    await page.close();
  } finally {
    await stopProcess(daemon.child);
  }
}


/* ---------- a feeder of our own: the page's files and a graph the test controls ---------- */

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json' };

/* Serves ui/dist and, at /vizceral.json, whatever fake.graph holds (mode '304' answers every
   poll with 304, conditional or not). ?at= is ignored (as by a vizfeed before issue 15) unless
   fake.past is set: then fake.past(at, n) answers the n-th request with ?at= ({status, headers,
   graph}). Listens on 127.0.0.1 at a port of its own. */
async function startFakeFeeder() {
  const fake = { graph: null, mode: 'ok', requests: [], past: null, pastRequests: 0 };
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const path = url.pathname;
    if (path === '/vizceral.json' && fake.past && url.searchParams.has('at')) {
      const answer = fake.past(Number(url.searchParams.get('at')), ++fake.pastRequests);
      res.writeHead(answer.status, Object.assign({ 'Content-Type': 'application/json' }, answer.headers || {}));
      res.end(answer.graph ? JSON.stringify(answer.graph) : '{"error":"busy"}');
      return;
    }
    if (path === '/vizceral.json') {
      fake.requests.push({ inm: req.headers['if-none-match'] || null });
      if (fake.mode === 'html') {
        res.writeHead(200, { 'Content-Type': 'text/html' });
        res.end('<html><body>502 Bad Gateway</body></html>');
        return;
      }
      if (fake.mode === '304') {
        res.writeHead(304, { ETag: '"fake"' });
        res.end();
        return;
      }
      const body = JSON.stringify(fake.graph);
      res.writeHead(200, { 'Content-Type': 'application/json', ETag: '"' + fake.requests.length + '"', 'Cache-Control': 'no-cache' });
      res.end(body);
      return;
    }
    const file = join(DIST, path === '/' ? 'index.html' : path.slice(1));
    if (!/^\/[a-z]+\.(html|js|css)$/.test(path === '/' ? '/index.html' : path) || !existsSync(file)) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] || 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  fake.base = `http://127.0.0.1:${server.address().port}`;
  fake.close = () => new Promise((ok) => { server.closeAllConnections(); server.close(ok); });
  return fake;
}

/* A graph in vizfeed's shape: INTERNET -> regions, each region's entry -> services. */
function makeGraph(regions, options = {}) {
  const rate = options.rate || 10;
  return {
    renderer: 'global',
    name: 'edge',
    entryNode: 'INTERNET',
    updated: Date.now(),
    ...(options.rootMaxVolume !== undefined ? { maxVolume: options.rootMaxVolume } : {}),
    nodes: [{ name: 'INTERNET', renderer: 'region', class: 'normal' }].concat(regions.map((r) => ({
      name: r.name,
      renderer: 'region',
      class: r.class || 'normal',
      maxVolume: r.maxVolume !== undefined ? r.maxVolume : rate * 2,
      entryNode: 'INTERNET',
      nodes: [{ name: 'INTERNET', class: 'normal' }].concat(r.services.map((s) => ({ name: s, class: r.class || 'normal', renderer: 'focusedChild' }))),
      connections: r.services.map((s) => ({ source: 'INTERNET', target: s, class: r.class || 'normal',
        metrics: Object.assign({ normal: rate, danger: 1 }, r.metrics || {}) })),
    }))),
    connections: regions.map((r) => ({ source: 'INTERNET', target: r.name, class: 'normal', metrics: { normal: options.rootRate || rate * r.services.length } })),
  };
}

/* Runs fn in the page, or reports that the tab did not answer within ms (a frozen tab). */
async function answers(page, fn, ms = 8000) {
  return Promise.race([page.evaluate(fn), sleep(ms).then(() => ({ frozen: true }))]);
}

async function bannerText(page) {
  return answers(page, () => document.getElementById('banners').textContent);
}

const BUILTINS = ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf'];

async function builtinNameTests(context) {
  // From vizfeed's own feed: regions and services named after Object.prototype's properties.
  const now = Date.now();
  const lines = [];
  for (let i = 0; i < 300; i++) {
    const ts = new Date(now - 60_000 + i * 200).toISOString();
    BUILTINS.forEach((name, k) => {
      lines.push(JSON.stringify({ '@timestamp': ts, region: BUILTINS[(k + 1) % BUILTINS.length], service: { name }, host: { name: 'valueOf' },
        event: { outcome: i % 3 ? 'success' : 'failure' } }));
    });
  }
  writeFileSync(join(tmp, 'builtins.ndjson'), lines.join('\n') + '\n');
  const daemon = await startVizfeed('builtins', [
    `ui_dir: ${JSON.stringify(DIST)}`,
    'refresh: { interval: 2s, window: 5m, lag: 0s }',
    'flows:',
    '  - name: builtins',
    '    type: file',
    `    path: ${JSON.stringify(join(tmp, 'builtins.ndjson'))}`,
    '    to: { service: service.name, region: region, host: host.name }',
    '    danger:',
    '      - { field: event.outcome, equals: failure }',
    '',
  ].join('\n'));
  const page = await context.newPage();
  watchPage(page, 'builtins');
  try {
    await page.goto(`${daemon.base}/?refresh=${REFRESH_S}`);
    await waitReady(page).then(() => check(true, 'built-in names: the page draws a graph whose regions and services are toString, constructor, __proto__...'),
      () => check(false, 'built-in names: the page draws a graph whose regions and services are toString, constructor, __proto__...'));
    const json = await feed(daemon);
    const regionsInFeed = json.nodes.map((n) => n.name).filter((n) => BUILTINS.includes(n)).sort();
    equal(regionsInFeed, BUILTINS.slice().sort(), 'built-in names: vizfeed\'s own feed holds the five regions');
    const shown = await drawn(page);
    equal(shown.nodes.map((n) => n.replace(/^\u200b+/, '')).sort(), json.nodes.map((n) => n.name).sort(),
      'built-in names: every region is drawn, under the name it has (an invisible mark aside)');
    // Into a region named constructor (by the hash, as a link would), then a service in it.
    await page.evaluate(() => { window.location.hash = '#/constructor'; });
    await page.waitForFunction(() => window.__vizfeed.viz.currentGraph && window.__vizfeed.view.length === 1 &&
      window.__vizfeed.viz.currentGraph.graphIndex.length === 1, null, { timeout: 10_000 })
      .then(() => check(true, 'built-in names: the region "constructor" opens'), () => check(false, 'built-in names: the region "constructor" opens'));
    const inRegion = await drawn(page);
    const level = json.nodes.find((n) => n.name === 'constructor');
    equal(inRegion.nodes.map((n) => n.replace(/^\u200b+/, '')).sort(), level.nodes.map((n) => n.name).sort(),
      'built-in names: the services of "constructor" are drawn');
    equal(await page.evaluate(() => window.location.hash), '#/constructor', 'built-in names: the hash shows the name as the data has it');
    const panel = await page.$eval('#details h2', (e) => e.textContent.replace(/^\u200b+/, '')).catch(() => null);
    equal(panel, 'constructor', 'built-in names: the panel names the region');
    await sleep(2 * REFRESH_S * 1000 + 500); // more graphs arrive and are drawn
    const s = await page.evaluate(() => ({ graphs: window.__vizfeed.graphs, error: window.__vizfeed.lastError, unreachable: window.__vizfeed.unreachable }));
    check(s.graphs >= 2 && s.error === null && !s.unreachable, 'built-in names: later graphs are taken, no error, never "cannot reach"', JSON.stringify(s));
    const banners = await page.$eval('#banners', (e) => e.textContent);
    check(!/Cannot reach/.test(banners) && /built-ins/.test(banners), 'built-in names: the banner says the names were marked, not that the feeder is away', banners);
    await screenshot(page, 'builtin-names.png');
  } finally {
    await page.close();
    await stopProcess(daemon.child);
  }
}

/* Classes, metric keys and names that are built-ins, from a feed vizfeed would never write. */
async function builtinFeedPart(context, fake) {
  fake.graph = makeGraph([{ name: '__proto__', services: ['toString', 'constructor'], class: 'constructor', metrics: { valueOf: 3, __proto__: 2 } },
    { name: 'ok', services: ['a', 'b'] }]);
  // JSON.stringify drops an own __proto__ key made by a literal; put it in as text.
  fake.graph = JSON.parse(JSON.stringify(fake.graph).replace('"metrics":{"normal":10,"danger":1,"valueOf":3}', '"metrics":{"normal":10,"danger":1,"valueOf":3,"__proto__":{"x":1}}'));
  const page = await context.newPage();
  watchPage(page, 'hostile-feed');
  await page.goto(`${fake.base}/?refresh=${REFRESH_S}#/__proto__`);
  await waitReady(page).then(() => check(true, 'hostile feed: built-in classes and metric keys: the page still draws'),
    () => check(false, 'hostile feed: built-in classes and metric keys: the page still draws'));
  const v = await answers(page, () => ({ view: window.__vizfeed.view.map((n) => n.replace(/^\u200b+/, '')), nodes: Object.keys(window.__vizfeed.viz.currentGraph.nodes).length,
    corrections: window.__vizfeed.corrections }));
  check(!v.frozen && JSON.stringify(v.view) === '["__proto__"]' && v.nodes === 3, 'hostile feed: the region "__proto__" opens with its services', JSON.stringify(v));
  // A good graph afterwards brings everything back to normal.
  fake.graph = makeGraph([{ name: 'ok', services: ['a', 'b'] }]);
  await page.evaluate(() => { window.location.hash = '#/ok'; });
  await page.waitForFunction(() => window.__vizfeed.corrections.length === 0 && window.__vizfeed.view[0] === 'ok', null, { timeout: 15_000 })
    .then(() => check(true, 'hostile feed: a later good graph is drawn, the correction banner goes'),
      () => check(false, 'hostile feed: a later good graph is drawn, the correction banner goes'));
  await page.close();
}

async function hostileFeedTests(context) {
  const fake = await startFakeFeeder();
  try {
    await builtinFeedPart(context, fake).catch((error) =>
      check(false, 'hostile feed: built-in classes and metric keys: the part ran to its end', error.stack || String(error)));
    let page;

    // Numbers that made Vizceral launch particles without end: a root connection of 1e7 req/s
    // without a root maxVolume, and a region maxVolume of 1e-300.
    // A missing root maxVolume is allowed (Vizceral borrows the regions'), so only a wrong
    // number is worth a banner.
    const cases = [
      ['a root connection of 1e7 req/s without a root maxVolume', makeGraph([{ name: 'big', services: ['a'] }], { rootRate: 1e7 }), '', false],
      // The global view borrows the region's maxVolume when the root has none: that froze.
      ['a region maxVolume of 1e-300 (global view)', makeGraph([{ name: 'tiny', services: ['a', 'b'], maxVolume: 1e-300 }]), '', true],
      ['a region maxVolume of 1e-300 (region view)', makeGraph([{ name: 'tiny', services: ['a', 'b'], maxVolume: 1e-300 }]), '#/tiny', true],
      ['rates of 1e300 everywhere', makeGraph([{ name: 'huge', services: ['a'] }], { rate: 1e300, rootRate: 1e300 }), '#/huge', true],
    ];
    for (const [what, graph, hash, wrong] of cases) {
      fake.graph = graph;
      page = await context.newPage();
      watchPage(page, 'numbers');
      await page.goto(`${fake.base}/?refresh=${REFRESH_S}${hash}`);
      const ready = await waitReady(page, 15_000).then(() => true, () => false);
      // The tab must keep answering and drawing frames. A frozen tab draws one
      // frame at most; a loaded CI machine draws 7-30, so 3 tells them apart.
      const frames = await answers(page, () => new Promise((done) => {
        let n = 0;
        const start = performance.now();
        const tick = () => { n++; if (performance.now() - start < 2000) requestAnimationFrame(tick); else done(n); };
        requestAnimationFrame(tick);
      }), 15_000);
      check(ready && typeof frames === 'number' && frames >= 3, `hostile numbers, ${what}: the tab keeps drawing (${JSON.stringify(frames)} frames in 2 s)`);
      const text = await bannerText(page);
      if (wrong) check(typeof text === 'string' && /corrections/.test(text), `hostile numbers, ${what}: the correction is said in a banner`, JSON.stringify(text));
      else check(text === '', `hostile numbers, ${what}: no banner (nothing was wrong)`, JSON.stringify(text));
      await Promise.race([page.close({ runBeforeUnload: false }), sleep(5000)]);
    }

    // Entries Vizceral cannot read (null, no target, metrics that are not an object, a node
    // without a name) beside good ones; then a proxy's HTML page answered with 200.
    const broken = makeGraph([{ name: 'broken', services: ['a', 'b'] }]);
    const region = broken.nodes[1];
    region.connections.push(null, { source: 'INTERNET' }, { source: 'INTERNET', target: 'a', metrics: 5 });
    region.nodes.push(null, { class: 'normal' });
    fake.graph = broken;
    page = await context.newPage();
    watchPage(page, 'broken-entries');
    await page.goto(`${fake.base}/?refresh=${REFRESH_S}#/broken`);
    await waitView(page, ['broken']).then(() => check(true, 'broken entries: the region is drawn from its good entries'),
      () => check(false, 'broken entries: the region is drawn from its good entries'));
    const shownBroken = await drawn(page).catch(() => null);
    equal(shownBroken && shownBroken.connections, ['INTERNET--a', 'INTERNET--b'], 'broken entries: the good connections are drawn');
    const brokenBanner = await bannerText(page);
    check(/3 connection\(s\)/.test(brokenBanner) && /2 node\(s\)/.test(brokenBanner), 'broken entries: a banner says what was dropped', brokenBanner);
    fake.mode = 'html';
    await page.waitForFunction(() => /not JSON/.test(document.getElementById('banners').textContent), null, { timeout: 10_000 })
      .then(() => check(true, 'a 200 with an HTML page: the banner says the answer is not JSON'),
        async () => check(false, 'a 200 with an HTML page: the banner says the answer is not JSON', await bannerText(page)));
    const htmlState = await page.evaluate(() => ({ unreachable: window.__vizfeed.unreachable, banner: document.getElementById('banners').textContent }));
    check(!htmlState.unreachable && !/Cannot reach/.test(htmlState.banner), 'a 200 with an HTML page: not called unreachable; the last graph stays', JSON.stringify(htmlState));
    await page.close();

    // A 304 to a poll that sent no If-None-Match.
    fake.mode = '304';
    fake.requests = [];
    page = await context.newPage();
    watchPage(page, '304');
    await page.goto(`${fake.base}/?refresh=${REFRESH_S}`);
    await page.waitForFunction(() => /304/.test(document.getElementById('banners').textContent), null, { timeout: 10_000 })
      .then(() => check(true, 'a 304 to a poll without If-None-Match is shown as an error'),
        async () => check(false, 'a 304 to a poll without If-None-Match is shown as an error', await bannerText(page)));
    check(fake.requests.length > 0 && fake.requests.every((r) => r.inm === null), 'the page had no ETag to send', JSON.stringify(fake.requests));
    await page.close();
  } finally {
    await fake.close();
  }
}

async function authTests(chromium) {
  const daemon = await startVizfeed('auth', [
    `ui_dir: ${JSON.stringify(DIST)}`,
    `refresh: { interval: ${REFRESH_S}s }`,
    'auth: { username: viewer, password: "s3cret pass" }',
    'flows:',
    '  - { name: demo, type: demo }',
    '',
  ].join('\n'), { username: 'viewer', password: 's3cret pass' });
  const launch = (dir, extra) => chromium.launchPersistentContext(join(tmp, dir), Object.assign({
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 850 },
    args: ['--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  }, extra));
  try {
    // The browser holds the credentials (as after the user answered the login prompt).
    let context = await launch('profile-auth', { httpCredentials: { username: 'viewer', password: 's3cret pass' } });
    try {
      const page = await context.newPage();
      watchPage(page, 'auth');
      await page.goto(`${daemon.base}/?refresh=${REFRESH_S}`);
      await waitReady(page, 20_000).then(() => check(true, 'auth: the page behind Basic auth draws the graph'),
        async () => check(false, 'auth: the page behind Basic auth draws the graph', JSON.stringify(await page.evaluate(() => ({ error: window.__vizfeed.lastError })))));
      await sleep(2500);
      const s = await page.evaluate(() => ({ error: window.__vizfeed.lastError, polls: window.__vizfeed.polls, graphs: window.__vizfeed.graphs }));
      check(s.error === null && s.polls >= 2 && s.graphs >= 1, 'auth: the polls succeed with the browser\'s credentials', JSON.stringify(s));
      equal(await page.$eval('#banners', (e) => e.textContent), '', 'auth: no banner');
      await screenshot(page, 'auth.png');
      await page.close();
    } finally {
      await context.close();
    }
    // The credentials in the address: http://user:pass@host/.
    context = await launch('profile-userinfo', {});
    try {
      const page = await context.newPage();
      watchPage(page, 'userinfo');
      const url = new URL(`${daemon.base}/?refresh=${REFRESH_S}`);
      url.username = 'viewer';
      url.password = 's3cret pass';
      await page.goto(url.href);
      await waitReady(page, 20_000).then(() => check(true, 'auth: the page opened at http://user:pass@host/ draws the graph'),
        async () => check(false, 'auth: the page opened at http://user:pass@host/ draws the graph', JSON.stringify(await page.evaluate(() => ({ error: window.__vizfeed.lastError, href: location.href })))));
      const s = await page.evaluate(() => ({ error: window.__vizfeed.lastError, source: window.__vizfeed.source }));
      check(s.error === null && !s.source.includes('@'), 'auth: its polls go to a URL without credentials and succeed', JSON.stringify(s));
      await page.close();
    } finally {
      await context.close();
    }
  } finally {
    await stopProcess(daemon.child);
  }
}

/* ---------- latency (issue 17) ---------- */

async function latencyTests(browser) {
  // OpenTelemetry client spans with durations, inside the window for this whole part:
  // frontend -> checkout 50 ms, checkout -> payments 800 ms (max 1200), checkout -> orders 2 ms.
  const now = Date.now();
  const edges = [['frontend', 'checkout', [50, 50, 50, 50]], ['checkout', 'payments', [600, 600, 800, 1200]],
    ['checkout', 'orders', [2, 2, 2, 2]]];
  const lines = [];
  for (let i = 0; i < 200; i++) {
    for (const [from, to, ms] of edges) {
      lines.push(JSON.stringify({ '@timestamp': String(now - 60_000 + i * 200) + '.0', kind: 'Client', duration: ms[i % 4] * 1e6,
        status: {}, attributes: { 'service.target.name': to }, resource: { attributes: { 'service.name': from, 'cloud.region': 'eu' } } }));
    }
  }
  writeFileSync(join(tmp, 'spans.ndjson'), lines.join('\n') + '\n');
  const daemon = await startVizfeed('latency', [
    `ui_dir: ${JSON.stringify(DIST)}`,
    'refresh: { interval: 2s, window: 5m, lag: 0s }',
    'flows:',
    `  - { name: spans, type: file, path: ${JSON.stringify(join(tmp, 'spans.ndjson'))}, preset: otel-spans }`,
    '',
  ].join('\n'));
  try {
    const page = await browser.newPage();
    watchPage(page, 'latency');
    await page.goto(`${daemon.base}/?refresh=${REFRESH_S}#/eu`);
    await waitReady(page);
    await waitView(page, ['eu']);
    const json = (await page.evaluate(() => window.__vizfeed.graph)).nodes.find((n) => n.name === 'eu');
    const pay = json.connections.find((c) => c.source === 'checkout' && c.target === 'payments');
    equal(pay.metadata.latency_ms, { avg: 800, max: 1200 }, 'latency: the feed carries checkout -> payments avg 800 ms, max 1200 ms');
    await page.evaluate(() => {
      const viz = window.__vizfeed.viz;
      viz.setHighlightedConnection(viz.currentGraph.connections['checkout--payments']);
    });
    await page.waitForFunction(() => window.__vizfeed.highlighted && window.__vizfeed.highlighted.type === 'connection', null, { timeout: 5000 });
    const fields = await page.evaluate(() => {
      const out = {};
      for (const dd of document.querySelectorAll('#details dd[data-field]')) out[dd.dataset.field] = { value: Number(dd.dataset.value), text: dd.textContent };
      return out;
    });
    equal([fields.latency_avg && fields.latency_avg.text, fields.latency_max && fields.latency_max.text], ['800 ms', '1.2 s'],
      'latency: the connection panel shows avg 800 ms and max 1.2 s');
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => window.__vizfeed.highlighted === null, null, { timeout: 5000 });
    await page.evaluate(() => {
      const viz = window.__vizfeed.viz;
      viz.setHighlightedNode(viz.currentGraph.nodes.checkout);
    });
    await page.waitForFunction(() => window.__vizfeed.highlighted && window.__vizfeed.highlighted.type === 'node', null, { timeout: 5000 });
    const node = await page.evaluate(() => ({
      avg: (document.querySelector('#details [data-field="latency_avg"]') || {}).textContent,
      cells: Array.from(document.querySelectorAll('#details td.latency')).map((td) => td.textContent),
    }));
    equal(node.avg, '50 ms', 'latency: the service panel shows its incoming latency');
    equal(node.cells.slice().sort(), ['2 ms', '50 ms', '800 ms'], 'latency: the callers and callees lists show each edge\'s average');
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => window.__vizfeed.highlighted === null, null, { timeout: 5000 });
    // The latency companion of the minimum-traffic filter.
    await page.selectOption('#latency-filter', '500');
    await sleep(500);
    equal((await drawn(page)).connections, ['checkout--payments'], 'latency filter >= 500 ms: only the slow connection is drawn');
    await page.selectOption('#latency-filter', '100');
    await sleep(500);
    equal((await drawn(page)).connections, ['checkout--payments'], 'latency filter >= 100 ms: 50 ms and 2 ms are hidden');
    await page.selectOption('#latency-filter', '-1');
    await sleep(500);
    equal((await drawn(page)).connections.length, json.connections.length, 'latency filter "all": every connection again');
    await page.close();
  } finally {
    await stopProcess(daemon.child);
  }
}

async function srcPolicyTests(context, demo) {
  // A vizfeed that allows no ?src=, one that allows only the demo feeder's origin.
  const other = `${demo.base}/vizceral.json`;
  for (const [allow, shows] of [['false', false], [JSON.stringify([demo.base]), true], [JSON.stringify(['http://127.0.0.1:1']), false]]) {
    const daemon = await startVizfeed('src-' + (shows ? 'list' : 'off'), [
      `ui_dir: ${JSON.stringify(DIST)}`,
      `refresh: { interval: ${REFRESH_S}s }`,
      `ui: { allow_src: ${allow} }`,
      'flows:',
      '  - { name: demo, type: demo, seed: 7 }',
      '',
    ].join('\n'));
    try {
      const page = await context.newPage();
      watchPage(page, 'src-policy');
      await page.goto(`${daemon.base}/?refresh=${REFRESH_S}&src=${encodeURIComponent(other)}`);
      if (shows) {
        await waitReady(page);
        const text = await page.$eval('#banners', (e) => e.textContent);
        check(text.includes(`Showing the graph of ${demo.base}`), `ui.allow_src ${allow}: the allowed origin is shown, under a banner naming it`, text);
      } else {
        await page.waitForFunction(() => /Not showing/.test(document.getElementById('banners').textContent), null, { timeout: 10_000 }).catch(() => {});
        await sleep(1500);
        const s = await page.evaluate(() => ({ banner: document.getElementById('banners').textContent, polls: window.__vizfeed.polls, graph: window.__vizfeed.graph !== null }));
        check(s.banner.includes(`Not showing ${demo.base}`) && s.polls === 0 && s.graph === false,
          `ui.allow_src ${allow}: ?src= of another origin is refused, said in a banner, never fetched`, JSON.stringify(s));
        if (allow === 'false') {
          await screenshot(page, 'src-refused.png');
          // A reload of the configuration applies to the page's settings too.
          const cfg = join(tmp, 'src-off.yml');
          writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('allow_src: false', 'allow_src: true'));
          daemon.child.kill('SIGHUP');
          const until = Date.now() + 15_000;
          let settings = null;
          while (Date.now() < until) {
            settings = await fetch(daemon.base + '/ui-settings.json').then((r) => r.json()).catch(() => null);
            if (settings && settings.allow_src === true) break;
            await sleep(200);
          }
          equal(settings, { allow_src: true }, 'ui.allow_src: a reload (SIGHUP) changes /ui-settings.json');
          await page.reload();
          await waitReady(page).then(() => check(true, 'ui.allow_src: after the reload the page shows the other origin\'s graph'),
            () => check(false, 'ui.allow_src: after the reload the page shows the other origin\'s graph'));
        }
      }
      await page.close();
    } finally {
      await stopProcess(daemon.child);
    }
  }
}

/* ---------- time: the timeline strip, past moments, replay (issue 15) ---------- */

// What each part needs from the server, named in the failure of a test that lacks it.
const NEEDS = {
  timeline: 'the timeline server part (issue 15 item 3: GET /timeline.json)',
  at: 'the past-window server part (issue 15 item 2: GET /vizceral.json?at=T)',
  baseline: 'the baseline server part (issue 15 item 5: graph.baseline, metadata.change, metadata.baseline_rate)',
};
function needs(what, why, name) {
  return check(false, name, `needs ${NEEDS[what]}; this vizfeed lacks it: ${why}`);
}

async function getJson(url) {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(url);
    const text = await res.text();
    // The history pool may be busy (503 Retry-After): wait as a page would, a bounded number of times.
    if (res.status === 503 && attempt < 10) {
      await sleep(Math.min(10, Number(res.headers.get('Retry-After')) || 1) * 1000);
      continue;
    }
    let json = null;
    try { json = JSON.parse(text); } catch (e) { /* not JSON */ }
    return { status: res.status, json };
  }
}

/* null when the feeder has the part, else why it has not. */
async function probeTime(base) {
  const tl = await getJson(base + '/timeline.json?from=-1h&to=now&step=1m');
  const timeline = tl.status === 200 && tl.json && typeof tl.json.step_ms === 'number' && Array.isArray(tl.json.points) ? null
    : `GET /timeline.json?from=-1h&to=now&step=1m answered ${tl.status}${tl.json && tl.json.error ? ` (${tl.json.error})` : ''}`;
  const live = await getJson(base + '/vizceral.json');
  const at = live.json.updated - 3_600_000 - 1234;
  const past = await getJson(`${base}/vizceral.json?at=${at}`);
  let pastWhy = null;
  if (past.status !== 200 || !past.json) pastWhy = `GET /vizceral.json?at=${at} answered ${past.status}`;
  else if (!(past.json.updated <= at)) pastWhy = `GET /vizceral.json?at=${at} answered a window ending at ${past.json.updated}, after the moment asked for (its live graph)`;
  return { timeline, at: pastWhy };
}

const isoMoment = (ms) => new Date(ms).toISOString().replace('.000Z', 'Z');
const momentText = (ms) => isoMoment(ms).replace('T', ' ').replace('Z', ' UTC');
const timeState = (page) => page.evaluate(() => window.__vizfeed.time);
const levelEdges = (level) => (level.connections || []).map((c) => c.source + '--' + c.target).sort();

async function stripBox(page) {
  return page.$eval('#strip svg', (e) => { const r = e.getBoundingClientRect(); return { x: r.left, y: r.top, w: r.width, h: r.height }; });
}

/* Waits until the page shows a past moment other than `not` (its answer arrived). */
async function waitPast(page, not, timeout = 30_000) {
  return page.waitForFunction((n) => {
    const t = window.__vizfeed.time;
    return !t.live && !t.loading && t.past !== null && t.past !== n;
  }, not === undefined ? null : not, { timeout }).then(() => true, () => false);
}

/* The page's past graph is the one /vizceral.json?at= answers: same window end, same edges. */
async function samePastGraph(page, base, name) {
  const t = await timeState(page);
  const json = (await getJson(`${base}/vizceral.json?at=${t.moment}`)).json;
  const graph = await page.evaluate(() => window.__vizfeed.graph);
  const view = await page.evaluate(() => window.__vizfeed.view);
  // The level whose connections are drawn (a service view draws its region's).
  const level = view.length >= 2 ? view.slice(0, -1) : view;
  const pick = (g) => level.reduce((n, name) => n && n.nodes.find((x) => x.name === name), g);
  equal([graph.updated, levelEdges(pick(graph) || {})], [json && json.updated, levelEdges((json && pick(json)) || {})],
    `${name}: the page shows what /vizceral.json?at=${t.moment} answers (window end, connections)`);
}

async function timeTests(context) {
  const daemon = await startVizfeed('time', [
    `ui_dir: ${JSON.stringify(DIST)}`,
    `refresh: { interval: ${REFRESH_S}s }`,
    'flows:',
    '  - { name: demo, type: demo, seed: 3 }',
    '',
  ].join('\n'));
  try {
    const has = await probeTime(daemon.base);
    const page = await context.newPage();
    watchPage(page, 'time');
    await page.goto(`${daemon.base}/?refresh=${REFRESH_S}`);
    await waitReady(page);
    // Consecutive live graphs teach the page the interval (their `updated` differ by it).
    await page.waitForFunction(() => window.__vizfeed.graphs >= 3, null, { timeout: 20_000 }).catch(() => {});
    equal((await timeState(page)).intervalMs, REFRESH_S * 1000, 'time: the page learns the refresh interval from consecutive live graphs');

    // The strip.
    if (has.timeline) {
      needs('timeline', has.timeline, 'timeline: the strip draws the request and error sparklines of /timeline.json');
    } else {
      await page.waitForFunction(() => window.__vizfeed.time.timeline !== null, null, { timeout: 60_000 }).catch(() => {});
      const t = await timeState(page);
      const json = (await getJson(`${daemon.base}/timeline.json?from=-6h&to=now&step=1m`)).json;
      check(t.timeline && json && t.timeline.step_ms === json.step_ms && Math.abs(t.timeline.points - json.points.length) <= 1,
        'timeline: the strip holds /timeline.json\'s points of the last 6 h', JSON.stringify({ page: t.timeline, json: json && { step_ms: json.step_ms, points: json.points.length }, note: t.timelineNote }));
      const drawnStrip = await page.evaluate(() => ({ rps: document.querySelector('#strip path.rps').getAttribute('d') || '',
        errors: document.querySelector('#strip path.errors').getAttribute('d') || '', note: document.getElementById('timeline-note').hidden,
        peak: document.getElementById('strip-peak').textContent }));
      check(drawnStrip.rps.split('L').length > 100 && drawnStrip.errors.split('L').length > 100 && drawnStrip.note && /peak .* req\/s/.test(drawnStrip.peak),
        'timeline: the request and error sparklines are drawn, with their peaks', JSON.stringify(drawnStrip).slice(0, 300));
      await page.selectOption('#range', '1h');
      await page.waitForFunction(() => window.__vizfeed.time.timeline && window.__vizfeed.time.timeline.to - window.__vizfeed.time.timeline.from === 3_600_000,
        null, { timeout: 30_000 }).then(() => check(true, 'timeline: the range select shows the last hour'),
        async () => check(false, 'timeline: the range select shows the last hour', JSON.stringify(await timeState(page))));
      await page.selectOption('#range', '6h');
      await page.waitForFunction(() => window.__vizfeed.time.timeline && window.__vizfeed.time.timeline.to - window.__vizfeed.time.timeline.from === 6 * 3_600_000,
        null, { timeout: 30_000 }).catch(() => {});
    }

    if (has.at) {
      for (const name of ['step: the left arrow shows the window one interval back', 'scrub: a click on the strip shows that moment',
        'drag on the strip', 'Play replays at 60×', 'Live returns to polling', 'a shared ?at= link shows the same moment and level']) {
        needs('at', has.at, name);
      }
      await page.close();
      return;
    }

    // Step from live: one interval back, again, then forward.
    const live = await timeState(page);
    await page.locator('#strip').focus();
    await page.keyboard.press('ArrowLeft');
    let ok = await waitPast(page);
    let t = await timeState(page);
    // The live graph may move on between the two reads: one interval back from the one shown then.
    check(ok && t.past % (REFRESH_S * 1000) === 0 && t.past >= live.updated - REFRESH_S * 1000 && t.past < (await feed(daemon)).updated,
      'step: the left arrow shows the window one interval back from the live one (on the grid)', JSON.stringify({ live: live.updated, t }));
    const first = t.past;
    await page.keyboard.press('ArrowLeft');
    ok = await waitPast(page, first);
    t = await timeState(page);
    equal(ok && first - t.past, REFRESH_S * 1000, 'step: the left arrow again goes back exactly one interval');
    await page.keyboard.press('ArrowRight');
    ok = await waitPast(page, t.past);
    t = await timeState(page);
    equal(ok && t.past, first, 'step: the right arrow goes forward one interval');
    await samePastGraph(page, daemon.base, 'step');

    // Scrub: a click in the middle of the strip, then a drag.
    if (has.timeline) {
      needs('timeline', has.timeline, 'scrub: a click on the strip shows that moment');
      needs('timeline', has.timeline, 'drag on the strip');
    } else {
      let box = await stripBox(page);
      let tl = (await timeState(page)).timeline;
      await page.mouse.click(box.x + box.w * 0.5, box.y + box.h / 2);
      ok = await waitPast(page, first);
      t = await timeState(page);
      const wanted = tl.from + 0.5 * (tl.to - tl.from);
      check(ok && Math.abs(t.moment - wanted) < (tl.to - tl.from) / 200 && t.past <= t.moment && t.past > t.moment - 2 * REFRESH_S * 1000,
        'scrub: a click in the middle of the strip shows the moment 3 h ago (the window ending there, on the grid)', JSON.stringify({ wanted, t }));
      await samePastGraph(page, daemon.base, 'scrub');
      const shown = await page.evaluate(() => ({ url: window.location.href, banner: document.getElementById('banners').textContent,
        freshness: document.getElementById('freshness').textContent }));
      equal(new URL(shown.url).searchParams.get('at'), isoMoment(t.past), 'scrub: the moment is in the URL as ?at= (RFC 3339, the window end)');
      check(shown.banner.includes('Past moment, not live') && shown.banner.includes(momentText(t.past)) && shown.freshness === 'PAST: ' + momentText(t.past),
        'scrub: the banner and the freshness say it is a past moment, not live, and which', JSON.stringify(shown));
      await sleep(3 * REFRESH_S * 1000);
      equal((await timeState(page)).updated, t.past, 'scrub: no live poll replaces the past graph');

      box = await stripBox(page);
      tl = (await timeState(page)).timeline;
      const before = t.past;
      await page.mouse.move(box.x + box.w * 0.3, box.y + box.h / 2);
      await page.mouse.down();
      await page.mouse.move(box.x + box.w * 0.35, box.y + box.h / 2, { steps: 4 });
      await page.mouse.move(box.x + box.w * 0.4, box.y + box.h / 2, { steps: 4 });
      await page.mouse.up();
      ok = await waitPast(page, before);
      t = await timeState(page);
      const dragged = tl.from + 0.4 * (tl.to - tl.from);
      check(ok && Math.abs(t.moment - dragged) < (tl.to - tl.from) / 200, 'drag on the strip: the moment where the drag ends is shown',
        JSON.stringify({ dragged, t }));
    }

    // Play at 60×: 2 s windows, so about 30 windows a second of replay would be wanted; the
    // page fetches one at a time and keeps the pace by skipping.
    const start = (await timeState(page)).past;
    await page.selectOption('#speed', '60');
    await page.click('#play');
    await page.waitForFunction((s) => window.__vizfeed.time.past >= s + 10 * 2000, start, { timeout: 30_000 }).catch(() => {});
    t = await timeState(page);
    const playBanner = await page.$eval('#banners', (e) => e.textContent);
    check(t.playing === 60 && t.past > start && (t.past - start) % (REFRESH_S * 1000) === 0 && /Replaying at 60×/.test(playBanner),
      'Play replays at 60×: successive windows on the grid, said in the banner', JSON.stringify({ start, t, playBanner }));
    await page.click('#play');
    await sleep(500);
    const paused = await timeState(page);
    await sleep(2000);
    check(paused.playing === 0 && (await timeState(page)).past === paused.past, 'Play: pressed again, it pauses on the moment shown', JSON.stringify(paused));
    const link = new URL(page.url());

    // Live.
    const graphsBefore = await page.evaluate(() => window.__vizfeed.graphs);
    await page.click('#live');
    await page.waitForFunction((n) => window.__vizfeed.time.live && window.__vizfeed.graphs >= n + 2, graphsBefore, { timeout: 20_000 })
      .then(() => check(true, 'Live returns to polling: new live graphs arrive'), () => check(false, 'Live returns to polling: new live graphs arrive'));
    const back = await page.evaluate(() => ({ url: window.location.href, banner: document.getElementById('banners').textContent,
      freshness: document.getElementById('freshness').textContent, time: window.__vizfeed.time }));
    check(!new URL(back.url).searchParams.has('at') && !/Past moment/.test(back.banner) && /^data .* old$/.test(back.freshness) &&
      back.time.updated >= Date.now() - 60_000, 'Live: no ?at= in the URL, no past banner, the data\'s age again', JSON.stringify(back));
    await page.close();

    // A shared link: the moment and a region level (#/region), in a fresh page.
    const region = (await feed(daemon)).nodes.find((n) => Array.isArray(n.nodes)).name;
    link.hash = '#/' + encodeURIComponent(region);
    const other = await context.newPage();
    watchPage(other, 'time-link');
    await other.goto(link.href);
    await waitReady(other);
    await waitView(other, [region]);
    ok = await waitPast(other);
    t = await timeState(other);
    equal(ok && isoMoment(t.past), link.searchParams.get('at'), 'a shared ?at= link shows that moment');
    await samePastGraph(other, daemon.base, 'a shared ?at= link, region level');
    const linkBanner = await other.$eval('#banners', (e) => e.textContent);
    check(linkBanner.includes('Past moment, not live') && linkBanner.includes(momentText(t.past)), 'a shared ?at= link says it is a past moment', linkBanner);
    await sleep(3 * REFRESH_S * 1000);
    equal((await timeState(other)).updated, t.past, 'a shared ?at= link stays on its moment (no live poll)');
    await screenshot(other, 'past-moment.png');
    await other.close();
  } finally {
    await stopProcess(daemon.child);
  }
}

/* A feeder from before issue 15 (the fake: no /timeline.json, ?at= ignored): the page says so
   and stays live, with no uncaught error. Needs no new server part. */
async function timeFallbackTests(context) {
  const fake = await startFakeFeeder();
  try {
    fake.graph = makeGraph([{ name: 'eu', services: ['a', 'b'] }]);
    let page = await context.newPage();
    watchPage(page, 'time-fallback');
    await page.goto(`${fake.base}/?refresh=${REFRESH_S}`);
    await waitReady(page);
    await page.waitForFunction(() => /no \/timeline.json/.test(window.__vizfeed.time.timelineNote), null, { timeout: 10_000 }).catch(() => {});
    const strip = await page.evaluate(() => ({ note: document.getElementById('timeline-note').textContent, noteHidden: document.getElementById('timeline-note').hidden,
      svg: getComputedStyle(document.querySelector('#strip svg')).display, time: window.__vizfeed.time }));
    check(!strip.noteHidden && /no timeline: this feeder has no \/timeline.json/.test(strip.note) && strip.svg === 'none' && strip.time.timeline === null,
      'no /timeline.json (404): the strip shows a short note instead of sparklines', JSON.stringify(strip));
    await page.locator('#strip').focus();
    await page.keyboard.press('ArrowLeft');
    await page.waitForFunction(() => /cannot show past moments/.test(document.getElementById('banners').textContent), null, { timeout: 10_000 }).catch(() => {});
    const stepped = await page.evaluate(() => ({ banner: document.getElementById('banners').textContent, time: window.__vizfeed.time, url: window.location.href }));
    check(/cannot show past moments/.test(stepped.banner) && stepped.time.live && !new URL(stepped.url).searchParams.has('at'),
      '?at= ignored by the feeder (it answers its live graph): the page says so and stays live', JSON.stringify(stepped));
    const graphs = await page.evaluate(() => window.__vizfeed.graphs);
    fake.graph = makeGraph([{ name: 'eu', services: ['a', 'b', 'c'] }]);
    await page.waitForFunction((n) => window.__vizfeed.graphs > n, graphs, { timeout: 10_000 })
      .then(() => check(true, '?at= ignored: live polling goes on'), () => check(false, '?at= ignored: live polling goes on'));
    await page.close();

    // A link with ?at= to such a feeder, and one whose ?at= is not a time.
    for (const [at, want, name] of [[isoMoment(Date.now() - 3_600_000), /cannot show past moments/, 'a ?at= link to a feeder without ?at=: said, and live'],
      ['yesterday', /is not a time/, 'a ?at= that is not a time: said, and live']]) {
      page = await context.newPage();
      watchPage(page, 'time-fallback-link');
      await page.goto(`${fake.base}/?refresh=${REFRESH_S}&at=${encodeURIComponent(at)}#/eu`);
      await waitReady(page);
      await page.waitForFunction((re) => new RegExp(re).test(document.getElementById('banners').textContent), want.source, { timeout: 10_000 }).catch(() => {});
      const s = await page.evaluate(() => ({ banner: document.getElementById('banners').textContent, live: window.__vizfeed.time.live,
        freshness: document.getElementById('freshness').textContent }));
      check(want.test(s.banner) && s.live && !/Past moment/.test(s.banner) && !/PAST/.test(s.freshness), name, JSON.stringify(s));
      await page.close();
    }

    // A feeder that answers ?at= as the contract says, busy (503, Retry-After: 1) on every
    // third request: the page waits and asks again, and Play goes on.
    const grid = REFRESH_S * 1000;
    fake.past = (at, n) => (n % 3 === 1 ? { status: 503, headers: { 'Retry-After': '1' } }
      : { status: 200, graph: Object.assign(makeGraph([{ name: 'eu', services: ['a', 'b'] }]), { updated: Math.floor(at / grid) * grid }) });
    const moment = Math.floor((Date.now() - 3_600_000) / grid) * grid;
    page = await context.newPage();
    watchPage(page, 'time-busy');
    await page.goto(`${fake.base}/?refresh=${REFRESH_S}&at=${isoMoment(moment)}`);
    const busy = await page.waitForFunction(() => /busy with other past windows \(503\): asking again in \d+ s/.test(document.getElementById('banners').textContent),
      null, { timeout: 10_000 }).then(() => true, () => false);
    const shown = await waitPast(page, undefined, 15_000);
    const t = await timeState(page);
    check(busy && shown && t.past === moment && fake.pastRequests === 2,
      '503 Retry-After on a past moment: a banner says the feeder is busy, the page asks again after it and shows the moment',
      JSON.stringify({ busy, t, requests: fake.pastRequests }));
    await page.selectOption('#speed', '60');
    await page.click('#play');
    await page.waitForFunction((m) => window.__vizfeed.time.past >= m + 20 * 2000, moment, { timeout: 30_000 }).catch(() => {});
    const played = await timeState(page);
    check(played.playing === 60 && played.past >= moment + 20 * grid && fake.pastRequests >= 6,
      'Play at 60× through 503s: the replay waits them out and goes on', JSON.stringify({ played, requests: fake.pastRequests }));
    await page.click('#live');
    await page.waitForFunction(() => window.__vizfeed.time.live, null, { timeout: 10_000 }).catch(() => {});
    check((await timeState(page)).live, 'Live after a replay: live again');
    await page.close();
  } finally {
    await fake.close();
  }
}

/* ---------- the changes view (issue 15 item 5) ---------- */

/* Vizceral's class of each drawn connection and node of the current graph. */
function drawnClasses(page) {
  return page.evaluate(() => {
    const g = window.__vizfeed.viz.currentGraph;
    const cls = (o) => (typeof o.getClass === 'function' ? o.getClass() : o.class);
    const out = { connections: {}, nodes: {} };
    for (const c of Object.values(g.connections)) if (c.isVisible()) out.connections[c.source.getName() + '--' + c.target.getName()] = cls(c);
    for (const n of Object.values(g.nodes)) if (n.isVisible()) out.nodes[n.getName()] = cls(n);
    return out;
  });
}

const CHANGE_EDGES = {
  'frontend--checkout': null, 'checkout--payments': 'drop', 'checkout--fraud-v2': 'new', 'checkout--legacy': 'gone', 'frontend--search': 'surge',
};

/* What the page does with the baseline fields, from a fake feeder shaped as the contract says
   (needs no new server part). */
async function changesViewTests(context) {
  const fake = await startFakeFeeder();
  try {
    const connections = [['INTERNET', 'frontend', 10, 10, null], ['frontend', 'checkout', 5, 5, null], ['checkout', 'payments', 1, 5, 'drop'],
      ['checkout', 'fraud-v2', 4, 0, 'new'], ['checkout', 'legacy', 0, 12, 'gone'], ['frontend', 'search', 8.4, 2, 'surge']];
    const services = ['INTERNET', 'frontend', 'checkout', 'payments', 'fraud-v2', 'legacy', 'search'];
    fake.graph = {
      renderer: 'global', name: 'edge', entryNode: 'INTERNET', updated: Date.now(), metadata: { baseline: '1w' },
      nodes: [{ name: 'INTERNET', renderer: 'region', class: 'normal' }, {
        name: 'eu', renderer: 'region', class: 'normal', maxVolume: 20, entryNode: 'INTERNET', metadata: { baseline: '1w' },
        nodes: services.map((s) => ({ name: s, class: 'normal', renderer: 'focusedChild',
          ...(s === 'fraud-v2' ? { metadata: { change: 'new' } } : s === 'legacy' ? { metadata: { change: 'gone' } } : {}) })),
        connections: connections.map(([source, target, now, base, change]) => ({ source, target, class: change === 'gone' ? 'warning' : 'normal',
          metrics: now ? { normal: now } : {}, metadata: Object.assign({ baseline_rate: base }, change ? { change } : {}) })),
      }],
      connections: [{ source: 'INTERNET', target: 'eu', class: 'normal', metrics: { normal: 10 } }],
    };
    const page = await context.newPage();
    watchPage(page, 'changes-view');
    await page.goto(`${fake.base}/?refresh=${REFRESH_S}#/eu`);
    await waitReady(page);
    await waitView(page, ['eu']);
    let classes = await drawnClasses(page);
    equal(classes.connections['checkout--fraud-v2'], 'normal', 'changes view off: connections are coloured by errors (their class)');
    await page.selectOption('#colour', 'changes');
    await page.waitForFunction(() => window.__vizfeed.changes, null, { timeout: 5000 });
    await sleep(500);
    classes = await drawnClasses(page);
    const want = {};
    for (const edge of Object.keys(CHANGE_EDGES)) want[edge] = 'change-' + (CHANGE_EDGES[edge] || 'none');
    equal(Object.fromEntries(Object.keys(want).map((k) => [k, classes.connections[k]])), want,
      'changes view: each connection is coloured by metadata.change (new, gone, surge, drop; none)');
    equal([classes.nodes['fraud-v2'], classes.nodes.legacy, classes.nodes.checkout], ['change-new', 'change-gone', 'change-none'],
      'changes view: nodes too');
    const legend = await page.evaluate(() => ({ errors: document.getElementById('legend-errors').hidden, changes: document.getElementById('legend-changes').hidden,
      text: document.getElementById('legend-changes').textContent.replace(/\s+/g, ' '), url: window.location.href }));
    check(legend.errors && !legend.changes && /new gone surge drop no change/.test(legend.text) && /1w earlier/.test(legend.text) &&
      new URL(legend.url).searchParams.get('colour') === 'changes', 'changes view: its legend replaces the errors legend, and ?colour=changes is in the URL', JSON.stringify(legend));
    await page.evaluate(() => { const viz = window.__vizfeed.viz; viz.setHighlightedConnection(viz.currentGraph.connections['checkout--payments']); });
    await page.waitForFunction(() => window.__vizfeed.highlighted && window.__vizfeed.highlighted.type === 'connection', null, { timeout: 5000 });
    const fields = await page.evaluate(() => {
      const out = {};
      for (const dd of document.querySelectorAll('#details dd[data-field]')) out[dd.dataset.field] = dd.textContent;
      return { out, text: document.getElementById('details').textContent };
    });
    equal([fields.out.now_rate, fields.out.baseline_rate, fields.out.ratio, fields.out.change], ['1 /s', '5 /s', '0.2×', 'drop'],
      'changes view: the details panel shows now vs metadata.baseline_rate (1/s now, 5/s 1w ago, 0.2×, drop)');
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => window.__vizfeed.highlighted === null, null, { timeout: 5000 });
    await page.selectOption('#colour', 'errors');
    await sleep(500);
    classes = await drawnClasses(page);
    equal([classes.connections['checkout--legacy'], classes.connections['checkout--fraud-v2']], ['warning', 'normal'], 'changes view off again: colours by errors');
    await page.close();
    // A link with ?colour=changes opens in the changes view.
    const linked = await context.newPage();
    watchPage(linked, 'changes-link');
    await linked.goto(`${fake.base}/?refresh=${REFRESH_S}&colour=changes#/eu`);
    await waitReady(linked);
    await waitView(linked, ['eu']);
    await sleep(500);
    equal((await drawnClasses(linked)).connections['checkout--legacy'], 'change-gone', 'a link with ?colour=changes opens in the changes view');
    await linked.close();
  } finally {
    await fake.close();
  }
}

/* The same against vizfeed: a file flow whose last hour and the hour before hold a drop, a new,
   a gone and a surge edge (graph.baseline: 1h). Needs the baseline server part. */
async function changesTests(context) {
  const now = Date.now();
  const lines = [];
  // [from, to, events in the baseline window, events now]: window 30 min, so 1800 events = 1/s.
  const edges = [['frontend', 'checkout', 900, 900], ['checkout', 'payments', 1800, 360], ['checkout', 'fraud-v2', 0, 900],
    ['checkout', 'legacy', 900, 0], ['frontend', 'search', 360, 1800]];
  const span = (count, start, end) => Array.from({ length: count }, (_, i) => start + Math.floor(((end - start) * i) / count));
  for (const [from, to, base, current] of edges) {
    for (const [count, start, end] of [[base, now - 85 * 60_000, now - 65 * 60_000], [current, now - 25 * 60_000, now - 5 * 60_000]]) {
      for (const ts of span(count, start, end)) {
        lines.push(JSON.stringify({ '@timestamp': String(ts) + '.0', kind: 'Client', duration: 1e6, status: {},
          attributes: { 'service.target.name': to }, resource: { attributes: { 'service.name': from, 'cloud.region': 'eu' } } }));
      }
    }
  }
  writeFileSync(join(tmp, 'changes.ndjson'), lines.join('\n') + '\n');
  let daemon;
  try {
    daemon = await startVizfeed('changes', [
      `ui_dir: ${JSON.stringify(DIST)}`,
      'refresh: { interval: 2s, window: 30m, lag: 0s }',
      'graph: { baseline: 1h, thresholds: { surge: 3 } }',
      'flows:',
      `  - { name: spans, type: file, path: ${JSON.stringify(join(tmp, 'changes.ndjson'))}, preset: otel-spans }`,
      '',
    ].join('\n'));
  } catch (error) {
    needs('baseline', String(error.message).split('\n').find((l) => /baseline/.test(l)) || String(error.message).slice(0, 300),
      'changes view against vizfeed: new, gone, surge and drop edges of a file flow, coloured and detailed');
    return;
  }
  try {
    const json = (await feed(daemon)).nodes.find((n) => n.name === 'eu');
    const got = {};
    for (const edge of Object.keys(CHANGE_EDGES)) {
      const c = json && json.connections.find((x) => x.source + '--' + x.target === edge);
      got[edge] = c ? ((c.metadata && c.metadata.change) || null) : 'absent';
    }
    if (JSON.stringify(got) !== JSON.stringify(CHANGE_EDGES)) {
      needs('baseline', `its graph's metadata.change per edge is ${JSON.stringify(got)}, expected ${JSON.stringify(CHANGE_EDGES)}`,
        'changes view against vizfeed: new, gone, surge and drop edges of a file flow, coloured and detailed');
      return;
    }
    const page = await context.newPage();
    watchPage(page, 'changes');
    await page.goto(`${daemon.base}/?refresh=${REFRESH_S}&colour=changes#/eu`);
    await waitReady(page);
    await waitView(page, ['eu']);
    await sleep(500);
    const classes = await drawnClasses(page);
    const want = {};
    for (const edge of Object.keys(CHANGE_EDGES)) want[edge] = 'change-' + (CHANGE_EDGES[edge] || 'none');
    equal(Object.fromEntries(Object.keys(want).map((k) => [k, classes.connections[k]])), want,
      'changes view against vizfeed: the new, gone, surge and drop edges are drawn in their colours');
    await page.evaluate(() => { const viz = window.__vizfeed.viz; viz.setHighlightedConnection(viz.currentGraph.connections['checkout--payments']); });
    await page.waitForFunction(() => window.__vizfeed.highlighted && window.__vizfeed.highlighted.type === 'connection', null, { timeout: 5000 });
    const fields = await page.evaluate(() => Object.fromEntries(Array.from(document.querySelectorAll('#details dd[data-field]')).map((dd) => [dd.dataset.field, dd.dataset.value])));
    const pay = json.connections.find((c) => c.source === 'checkout' && c.target === 'payments');
    equal([Number(fields.now_rate), Number(fields.baseline_rate), fields.change], [total(pay.metrics), pay.metadata.baseline_rate, 'drop'],
      'changes view against vizfeed: the panel shows checkout → payments now vs its baseline_rate');
    await screenshot(page, 'changes.png');
    await page.close();
  } finally {
    await stopProcess(daemon.child);
  }
}

/* ---------- main ---------- */

async function main() {
  if (!existsSync(CHROMIUM)) {
    check(false, `chromium at ${CHROMIUM}`, 'install the Debian package chromium (apt-get install -y chromium)');
    return;
  }
  if (!existsSync(join(DIST, 'index.html')) || !existsSync(join(DIST, 'vizceral.js'))) {
    check(false, 'ui/dist is built', 'run `npm ci && npm run build` in ui/');
    return;
  }
  const require = createRequire(join(SRC, 'ui', 'package.json'));
  const { chromium } = require('playwright-core');

  const demo = await startVizfeed('demo', [
    `ui_dir: ${JSON.stringify(DIST)}`,
    `refresh: { interval: ${REFRESH_S}s }`,
    'flows:',
    `  - { name: demo, type: demo, seed: ${Number(process.env.VIZFEED_DEMO_SEED) || 1} }`,
    '',
  ].join('\n'));
  check(true, `vizfeed serves the page from ${DIST}`);

  const context = await chromium.launchPersistentContext(join(tmp, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 850 },
    args: ['--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
  try {
    for (const p of context.pages()) await p.close();
    const page = await demoTests(context, demo);
    await crossOriginTests(context, demo);
    await hostileTests(context);
    // A group that throws (a page that broke) fails alone; the others still run.
    for (const [name, group] of [['built-in names', () => builtinNameTests(context)], ['hostile feed', () => hostileFeedTests(context)],
      ['?src= policy', () => srcPolicyTests(context, demo)], ['latency', () => latencyTests(context)],
      ['time fallback', () => timeFallbackTests(context)], ['changes view', () => changesViewTests(context)],
      ['time', () => timeTests(context)], ['changes', () => changesTests(context)]]) {
      await group().catch((error) => check(false, `${name}: the group ran to its end`, error.stack || String(error)));
    }
    await unreachableTests(page, demo);
    check(consoleProblems.length === 0, 'no uncaught error and no console error or warning', consoleProblems.join('\n'));
  } finally {
    await context.close();
  }
  const seen = consoleProblems.length;
  await authTests(chromium).catch((error) => check(false, 'auth: the group ran to its end', error.stack || String(error)));
  check(consoleProblems.length === seen, 'auth: no uncaught error and no console error or warning', consoleProblems.slice(seen).join('\n'));
}

async function cleanup() {
  for (const child of Array.from(children)) await stopProcess(child);
  rmSync(tmp, { recursive: true, force: true });
}

const deadline = setTimeout(async () => {
  check(false, `the browser tests finish within ${DEADLINE_MS / 1000} s`);
  console.log(`1..${count}`);
  await cleanup();
  process.exit(1);
}, DEADLINE_MS);

try {
  await main();
} catch (error) {
  check(false, 'the browser tests ran to the end', error.stack || String(error));
} finally {
  clearTimeout(deadline);
  await cleanup();
}
console.log(`1..${count}`);
process.exit(failed ? 1 : 0);
