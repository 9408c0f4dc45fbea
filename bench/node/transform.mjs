// bench/node/transform.mjs - the same transformation as bench/jq/transform.jq,
// written the way the earlier Vizceral feeders were: plain Node.js, no
// packages. Reads recorded pages, writes Vizceral JSON to standard output.
//
//   node transform.mjs bench.json DIR/edge/000001 DIR/mesh/000001 ...
//   node transform.mjs bench.json --ndjson FILE
//
// Each directory holds one flow's pages (NNNN.response.json, "HTTP 200\n" then
// the body); the flow is the directory's parent's name. It does what vizfeed
// and the jq script do to the rows (topology in order with CIDRs, exact
// addresses and regexes with \1..\9, entry node, drops, self calls, sums,
// counts per edge, rates to 4 significant digits, classes, root and region
// levels, maxVolume) and, like the jq script, not the rest: no `other` cap,
// hosts, notices, metadata, stale marks, sorting, name cuts or IPv6.
//
// With --ndjson, the input is one file of event documents (bench/gen_ndjson.py)
// instead: each line is parsed, kept when its @timestamp is in the window, and
// counted into a bucket per (from service, from region, to service, to region)
// as a composite aggregation would, danger when its outcome field says so; the
// buckets then go through the same transformation.
import { readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const rules = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const window = rules.window_s;
const t = rules.thresholds;

function ipv4(s) {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  return m ? ((+m[1] * 256 + +m[2]) * 256 + +m[3]) * 256 + +m[4] : null;
}

const topology = rules.topology.map((e) => {
  const m = e.match;
  if (m.length > 1 && m.startsWith('/') && m.endsWith('/')) return { ...e, kind: 're', re: new RegExp(m.slice(1, -1)) };
  if (/^[0-9.]+(\/[0-9]+)?$/.test(m)) {
    const [addr, len] = m.split('/');
    const size = 2 ** (32 - (len === undefined ? 32 : +len));
    const a = ipv4(addr);
    return { ...e, kind: 'net', low: a - (a % size), size };
  }
  return { ...e, kind: 'name' };
});

function lookup(v) {
  const ip = ipv4(v);
  const r = { matched: false, ip: ip !== null, service: null, region: null };
  for (const e of topology) {
    if (r.service !== null && r.region !== null) break;
    if (r.matched && (r.service !== null || !e.service) && (r.region !== null || !e.region)) continue;
    let caps = null;
    let hit;
    if (e.kind === 'net') hit = ip !== null && ip >= e.low && ip < e.low + e.size;
    else if (e.kind === 'name') hit = v === e.match;
    else hit = (caps = e.re.exec(v)) !== null;
    if (!hit) continue;
    r.matched = true;
    if (r.service === null && e.service) r.service = caps ? e.service.replace(/\\([1-9])/g, (_, n) => caps[n] ?? '') : e.service;
    if (r.region === null && e.region) r.region = e.region;
  }
  return r;
}

const round4 = (x) => (x === 0 ? 0 : +x.toPrecision(4));
const empty = (s) => s === null || s === undefined || s === '';
const sums = Object.fromEntries(rules.flows.map((f) => [f.name, f.sum]));

const edges = new Map(); // "fr\0fs\0tr\0ts" -> [normal, warning, danger]
function* pages() {
  for (const dir of process.argv.slice(3)) {
    const sum = sums[basename(dirname(dir))];
    for (const name of readdirSync(dir).filter((n) => n.endsWith('.response.json')).sort()) {
      const text = readFileSync(join(dir, name), 'utf8');
      const doc = JSON.parse(text.slice(text.indexOf('\n') + 1));
      yield [sum, doc.aggregations?.edges?.buckets ?? []];
    }
  }
}
function get(doc, path) {
  let v = doc;
  for (const part of path.split('.')) v = v?.[part];
  return v ?? null;
}
function* events(file) {
  const n = rules.ndjson;
  const buckets = new Map();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    let doc;
    try {
      doc = JSON.parse(line);
    } catch {
      continue;
    }
    const ts = Date.parse(doc['@timestamp']);
    if (!(ts >= n.start_ms && ts < n.end_ms)) continue;
    const key = { from_service: get(doc, n.from_service), from_region: get(doc, n.from_region),
      to_service: get(doc, n.to_service), to_region: get(doc, n.to_region) };
    const id = `${key.from_service}\0${key.from_region}\0${key.to_service}\0${key.to_region}`;
    const b = buckets.get(id) ?? buckets.set(id, { key, doc_count: 0, danger: { doc_count: 0 } }).get(id);
    b.doc_count++;
    if (get(doc, n.danger.field) === n.danger.equals) b.danger.doc_count++;
  }
  yield [false, buckets.values()];
}
const input = process.argv[3] === '--ndjson' ? events(process.argv[4]) : pages();
for (const [sum, buckets] of input) {
  {
    for (const b of buckets) {
      const k = b.key;
      const total = sum ? b.count?.value ?? 0 : b.doc_count;
      const warning = (sum ? b.warning?.count?.value : b.warning?.doc_count) ?? 0;
      const danger = (sum ? b.danger?.count?.value : b.danger?.doc_count) ?? 0;
      if (empty(k.to_service)) continue;
      const to = lookup(k.to_service);
      const ts = to.service ?? k.to_service;
      const tr = !empty(k.to_region) ? k.to_region : to.region ?? rules.default_region;
      let fr, fs;
      const from = empty(k.from_service) ? null : lookup(k.from_service);
      if (from === null || (from.ip && !from.matched)) [fr, fs] = [tr, rules.entry];
      else [fr, fs] = [!empty(k.from_region) ? k.from_region : from.region ?? rules.default_region, from.service ?? k.from_service];
      if (fr === tr && fs === ts) continue;
      const key = `${fr}\0${fs}\0${tr}\0${ts}`;
      const c = edges.get(key) ?? [0, 0, 0];
      c[0] += total - warning - danger;
      c[1] += warning;
      c[2] += danger;
      edges.set(key, c);
    }
  }
}

function klass(c) {
  const total = c[0] + c[1] + c[2];
  if (total === 0 || total / window < t.min_rate) return 'normal';
  const share = c[2] / total;
  return share >= t.danger ? 'danger' : share >= t.warning ? 'warning' : 'normal';
}
const metrics = (c) => ({ normal: round4(c[0] / window), warning: round4(c[1] / window), danger: round4(c[2] / window) });
function add(map, source, target, c) {
  const key = `${source}\0${target}`;
  const e = map.get(key) ?? { source, target, c: [0, 0, 0] };
  for (let i = 0; i < 3; i++) e.c[i] += c[i];
  map.set(key, e);
}
const connection = (e) => ({ source: e.source, target: e.target, metrics: metrics(e.c), class: klass(e.c) });

const regions = new Map(); // name -> Map of its connections
const root = new Map();
const region = (name) => regions.get(name) ?? regions.set(name, new Map()).get(name);
for (const [key, c] of edges) {
  const [fr, fs, tr, ts] = key.split('\0');
  if (fs === rules.entry) {
    add(region(tr), fs, ts, c);
    add(root, fs, tr, c);
  } else if (fr === tr) {
    add(region(tr), fs, ts, c);
  } else {
    add(region(fr), fs, tr, c);
    add(region(tr), fr, ts, c);
    add(root, fr, tr, c);
  }
}

const now = Date.now();
const graph = {
  renderer: 'global', name: 'edge', entryNode: rules.entry, updated: now,
  nodes: [{ renderer: 'region', name: rules.entry, class: 'normal' }],
  connections: [...root.values()].map(connection),
};
for (const [name, conns] of regions) {
  const incoming = new Map();
  let max = 0;
  for (const e of conns.values()) {
    incoming.has(e.source) || incoming.set(e.source, [0, 0, 0]);
    const c = incoming.get(e.target) ?? [0, 0, 0];
    for (let i = 0; i < 3; i++) c[i] += e.c[i];
    incoming.set(e.target, c);
    max = Math.max(max, e.c[0] + e.c[1] + e.c[2]);
  }
  graph.nodes.push({
    renderer: 'region', name, updated: now, maxVolume: round4((5 * max) / window),
    nodes: [...incoming].map(([n, c]) => ({ name: n, class: klass(c) })),
    connections: [...conns.values()].map(connection),
  });
}
process.stdout.write(JSON.stringify(graph) + '\n');
