/*
 * vizfeed's page: polls the feeder's Vizceral graph and lets people move through it.
 *
 * Parameters (query string):
 *   ?src=URL       the graph to poll (default: vizceral.json beside this page). Another origin
 *                  works when the feeder sends CORS headers, as vizfeed does. A graph from another
 *                  origin is always labelled with that origin (a banner), so a crafted link cannot
 *                  pass another server's graph off as this one's; the server that serves the page
 *                  may restrict or forbid ?src= (ui-settings.json beside the page, which vizfeed
 *                  answers from its `ui.allow_src`; a static server without it allows any origin).
 *   ?refresh=SEC   the feeder's refresh interval (default 10, vizfeed's default). The page polls
 *                  every refresh/2 seconds, between 1 and 5 s: a 304 costs the feeder nothing,
 *                  and a new graph shows at most half an interval after it was built. Data
 *                  counts as old after 3 intervals without a newer graph.
 *
 *   ?at=TIME       show the past moment whose window ends at TIME (RFC 3339, epoch milliseconds, or
 *                  relative: -15m, -2h, -1d), from /vizceral.json?at=<epoch ms>, instead of polling
 *                  the live graph. The page keeps the window end it was answered (the root's
 *                  `updated`, on the feeder's grid) in the URL, so a link shows exactly that view.
 *   ?colour=changes colour nodes and connections by metadata.change (new, gone, surge, drop)
 *                  against the baseline instead of by errors.
 *
 * The current level lives in the URL hash (#/region/service), so a link or a reload shows it.
 *
 * The timeline strip under the graph draws /timeline.json (requests and error share over the last
 * hours); a click or drag there shows that moment, the arrow keys step one interval (the
 * feeder's refresh interval: the smallest difference seen between two graphs' `updated`, until
 * then ?refresh=), Live returns to polling, and Play replays from the moment shown at 1×, 10×
 * or 60×. A feeder without /timeline.json (404) gets the strip's note instead of sparklines; one
 * that ignores ?at= (it answers its live graph, whose window ends after the moment asked for) is
 * detected and said, and the page stays live.
 *
 * Everything from the data reaches the DOM through textContent, never as HTML. Vizceral itself
 * inserts notice titles and subtitles as HTML: the feeder escapes them, and the page puts them in
 * canonical escaped form once more (decode the five entities, escape again; a no-op on text that
 * was escaped properly) so that a feed given by ?src= cannot inject markup either.
 *
 * Polls send the browser's credentials to the page's own origin (credentials: 'same-origin'), so
 * a page behind vizfeed's Basic auth reaches /vizceral.json; the graph URL is built without the
 * user:password@ a page address may carry, which fetch refuses.
 *
 * Names from the data are never used as keys of plain objects here. Vizceral does use them as
 * keys of plain objects (nodes, graphs, volumes by class, renderers, layouts), so a name such as
 * "constructor" or "__proto__" would find Object.prototype's property there and break it for good.
 * Before a graph reaches Vizceral such names are given an invisible mark (a leading U+200B,
 * shown the same), classes and metric keys of that kind are dropped, and the numbers Vizceral
 * divides by (maxVolume) are checked against the rates, since a tiny or missing one makes it
 * launch particles without end and freezes the tab. Each correction is said in a banner.
 *
 * Tests read window.__vizfeed (a read-only view of the page's state).
 */
'use strict';

(function () {
  const FILTER_NAME = 'rps';
  const LATENCY_FILTER_NAME = 'latency';
  const MAX_ROWS = 40;               // rows per table in the details panel
  const FETCH_TIMEOUT_MS = 8000;
  const MAX_LAG_ESTIMATE_MS = 5 * 60 * 1000;
  const PAST_PROBLEM_SHOWN_MS = 30 * 1000; // a failed past moment is said this long once live again

  const params = new URLSearchParams(window.location.search);
  const refreshSeconds = clampNumber(Number(params.get('refresh')) || 10, 1, 3600);
  const pollMs = clampNumber(refreshSeconds / 2, 1, 5) * 1000;
  const oldAfterMs = 3 * refreshSeconds * 1000;
  const source = resolveSource(params.get('src'));
  const startAt = params.get('at');
  // The origin of a graph that is not this server's own, or null.
  const foreignOrigin = source && new URL(source).origin !== window.location.origin ? new URL(source).origin : null;

  const elements = {
    canvas: document.getElementById('canvas'),
    crumbs: document.getElementById('crumbs'),
    search: document.getElementById('search'),
    matches: document.getElementById('matches'),
    filter: document.getElementById('filter'),
    latencyFilter: document.getElementById('latency-filter'),
    freshness: document.getElementById('freshness'),
    banners: document.getElementById('banners'),
    loading: document.getElementById('loading'),
    details: document.getElementById('details'),
    colour: document.getElementById('colour'),
    legendErrors: document.getElementById('legend-errors'),
    legendChanges: document.getElementById('legend-changes'),
    legendBaseline: document.getElementById('legend-baseline'),
    timeline: document.getElementById('timeline'),
    live: document.getElementById('live'),
    play: document.getElementById('play'),
    speed: document.getElementById('speed'),
    range: document.getElementById('range'),
    strip: document.getElementById('strip'),
    stripFrom: document.getElementById('strip-from'),
    stripTo: document.getElementById('strip-to'),
    stripPeak: document.getElementById('strip-peak'),
    stripHover: document.getElementById('strip-hover'),
    timelineNote: document.getElementById('timeline-note'),
  };

  const state = {
    graph: null,            // the last graph handed to Vizceral (sanitised JSON)
    rootName: null,         // the root name of the first graph, kept for good (Vizceral issue #89)
    etag: null,
    view: [],
    ready: false,           // Vizceral has drawn a graph
    highlighted: null,      // {type:'node', name} or {type:'connection', source, target}
    lastError: null,        // why the last poll failed, or null
    unreachableSince: null, // Date.now() of the first failed poll in a row
    lagEstimateMs: null,    // smallest (arrival - updated) seen: the feeder's lag plus clock skew
    polls: 0,
    graphs: 0,              // graphs accepted (not counting 304s)
    search: { query: '', matches: [] },
    srcRefused: null,       // why ?src= may not be shown here, or null
    corrections: [],        // what the last graph needed before Vizceral could take it
    renames: new Map(),     // name from the data -> the name Vizceral was given
    // Time (see the header comment). moment === null: live, polling.
    moment: null,           // the moment asked for (epoch ms), or null when live
    past: null,             // `updated` (window end) of the past graph shown, or null
    momentSeq: 0,           // the latest past request; older answers are dropped
    momentAbort: null,
    momentLoading: false,
    pastProblem: null,      // why the last past moment could not be shown, or null
    pastProblemSince: null, // Date.now() when that was first shown
    pastProblemText: null,
    busyUntil: null,        // Date.now() until which the feeder asked to wait (503 Retry-After)
    liveGen: 0,             // the live polling loop's generation: a new one stops the old
    liveUpdated: null,      // `updated` of the newest live graph
    learnedIntervalMs: null, // smallest positive difference between two graphs' `updated`
    lastUpdated: null,
    play: null,             // {speed, playhead, lastTick, timer} while replaying
    timeline: null,         // {from, to, step_ms, points} drawn in the strip, or null
    timelineNote: 'loading the timeline…',
    timelineTimer: null,
    timelineSeq: 0,
    range: '6h',
    changes: params.get('colour') === 'changes',
  };

  /* ---------- text helpers ---------- */

  function clampNumber(value, low, high) {
    return Math.min(high, Math.max(low, value));
  }

  const ENTITY_TEXT = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'", '&#x27;': "'" };
  const TEXT_ENTITY = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

  /* One pass, so "&amp;lt;" becomes "&lt;" and never "<". */
  function decodeEntities(text) {
    return String(text).replace(/&(?:amp|lt|gt|quot|#39|#x27);/g, (entity) => ENTITY_TEXT[entity]);
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (c) => TEXT_ENTITY[c]);
  }

  /* An http(s) URL in canonical form (quotes percent-encoded), or null. */
  function safeLink(link) {
    if (typeof link !== 'string' || link === '') return null;
    try {
      const url = new URL(decodeEntities(link), window.location.href);
      return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  /* The graph's URL, without user:password@ (fetch refuses URLs holding credentials; the
     browser sends the ones it holds for this origin by itself). */
  function resolveSource(src) {
    try {
      const url = new URL(src || 'vizceral.json', window.location.href);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
      url.username = '';
      url.password = '';
      return url.href;
    } catch (e) { /* reported below */ }
    return null;
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  /* Rates as the feeder rounds them: at most 4 significant digits. */
  function formatRate(value) {
    if (typeof value !== 'number' || !Number.isFinite(value)) return '–';
    if (value === 0) return '0';
    return String(Number(value.toPrecision(4)));
  }

  function formatShare(value) {
    if (typeof value !== 'number' || !Number.isFinite(value)) return '–';
    if (value === 0) return '0%';
    return String(Number((value * 100).toPrecision(3))) + '%';
  }

  function formatAge(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 120) return s + ' s';
    if (s < 7200) return Math.round(s / 60) + ' min';
    return Math.round(s / 3600) + ' h';
  }

  function metricsTotal(metrics) {
    let total = 0;
    if (metrics && typeof metrics === 'object') {
      for (const key of Object.keys(metrics)) {
        const v = metrics[key];
        if (typeof v === 'number' && Number.isFinite(v) && v > 0) total += v;
      }
    }
    return total;
  }

  function metricValue(metrics, key) {
    const v = metrics && metrics[key];
    return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0;
  }

  function errorShare(metrics) {
    const total = metricsTotal(metrics);
    return total > 0 ? metricValue(metrics, 'danger') / total : 0;
  }

  /* metadata.latency_ms.avg / .max in ms, or null when the feeder sent none. */
  function latencyOf(metadata, key) {
    const lat = metadata && typeof metadata === 'object' ? metadata.latency_ms : null;
    const v = lat && typeof lat === 'object' ? lat[key || 'avg'] : null;
    return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null;
  }

  function formatLatency(ms) {
    if (ms === null) return '–';
    if (ms >= 1000) return String(Number((ms / 1000).toPrecision(3))) + ' s';
    return String(Number(ms.toPrecision(3))) + ' ms';
  }

  /* Both connection filters: minimum traffic and minimum average latency (a
     connection without latency data is hidden once a latency minimum is chosen). */
  function connectionFilters() {
    return [{
      name: FILTER_NAME,
      type: 'connection',
      passes: (connection, value) => connection.volumeTotal >= value,
      value: Number(elements.filter.value),
    }, {
      name: LATENCY_FILTER_NAME,
      type: 'connection',
      passes: (connection, value) => value < 0 || (latencyOf(connection.metadata) !== null &&
        latencyOf(connection.metadata) >= value),
      value: Number(elements.latencyFilter.value),
    }];
  }

  function knownClass(name) {
    return name === 'warning' || name === 'danger' ? name : 'normal';
  }

  /* ---------- the graph ---------- */

  /* Why Vizceral would reject or choke on this graph, or null when it is usable. */
  function graphProblem(graph) {
    if (!graph || typeof graph !== 'object' || Array.isArray(graph)) return 'not a JSON object';
    if (graph.renderer !== 'global' && graph.renderer !== 'region') return 'renderer is not "global" or "region"';
    if (typeof graph.name !== 'string' || graph.name === '') return 'no root name';
    if (!Array.isArray(graph.nodes) || graph.nodes.length === 0) return 'no nodes';
    for (const node of graph.nodes) {
      if (!node || typeof node.name !== 'string') return 'a node without a name';
    }
    if (graph.connections !== undefined && !Array.isArray(graph.connections)) return 'connections is not an array';
    return null;
  }

  /* ---------- names and numbers Vizceral can take ---------- */

  const RENDERERS = new Set(['global', 'region', 'focused', 'focusedChild', 'dns']);
  const MARK = '\u200b';
  const MAX_RATE = 1e12;          // req/s; beyond it a rate is an error of the feed, not traffic
  const MAX_VOLUME_RATIO = 100;   // a maxVolume this far below a level's busiest connection freezes particles

  /* A string that names a property every plain object has ("constructor", "__proto__"...). */
  function reservedKey(name) {
    return typeof name === 'string' && (name === '__proto__' || Object.prototype.hasOwnProperty.call(Object.prototype, name));
  }

  function collectNames(node, depth, names) {
    if (!node || typeof node !== 'object' || depth > 8) return;
    if (Array.isArray(node.nodes)) {
      for (const child of node.nodes) {
        if (child && typeof child.name === 'string') names.add(child.name);
        collectNames(child, depth + 1, names);
      }
    }
  }

  /* name -> safe name for every reserved name of the tree: a leading mark (more if that is
     taken too), so that it reads the same and no two names merge. */
  function renamesFor(graph) {
    const names = new Set();
    collectNames(graph, 0, names);
    const renames = new Map();
    for (const name of names) {
      if (!reservedKey(name)) continue;
      let safe = MARK + name;
      while (names.has(safe)) safe = MARK + safe;
      renames.set(name, safe);
    }
    return renames;
  }

  /* The name in the data of a name Vizceral was given (the hash shows the data's). */
  function originalName(name) {
    for (const [original, safe] of state.renames) if (safe === name) return original;
    return name;
  }

  function safeName(name) {
    return state.renames.get(name) || (reservedKey(name) ? MARK + name : name);
  }

  /* Total of the positive finite rates of a connection's metrics. */
  function connectionVolume(c) {
    return c && c.metrics && typeof c.metrics === 'object' ? metricsTotal(c.metrics) : 0;
  }

  /* Rewrites one level (and below) in place; notes what it changed in fixes. */
  function makeDrawable(node, depth, renames, fixes, where) {
    if (!node || typeof node !== 'object' || depth > 8) return;
    const rename = (name) => (renames.has(name) ? renames.get(name) : name);
    if (typeof node.name === 'string') node.name = rename(node.name);
    if (typeof node.entryNode === 'string') node.entryNode = rename(node.entryNode);
    if (typeof node.focusedNode === 'string') node.focusedNode = rename(node.focusedNode);
    if (node.renderer !== undefined && !(typeof node.renderer === 'string' && RENDERERS.has(node.renderer))) {
      fixes.add('renderer "' + String(node.renderer) + '" ignored');
      delete node.renderer;
    }
    if (node.layout !== undefined && (typeof node.layout !== 'string' || reservedKey(node.layout))) delete node.layout;
    if (reservedKey(node.class)) {
      fixes.add('class "' + node.class + '" taken as normal');
      node.class = 'normal';
    }
    let busiest = 0;
    if (Array.isArray(node.nodes)) {
      const before = node.nodes.length;
      node.nodes = node.nodes.filter((n) => n && typeof n === 'object' && typeof n.name === 'string');
      if (node.nodes.length !== before) fixes.add((before - node.nodes.length) + ' node(s) without a name dropped' + where);
    }
    if (node.connections !== undefined && !Array.isArray(node.connections)) {
      fixes.add('connections that are not a list dropped' + where);
      delete node.connections;
    }
    if (Array.isArray(node.connections)) {
      // Vizceral reads source, target and metrics of every entry: anything else is dropped.
      const kept = node.connections.filter((c) => c && typeof c === 'object' && typeof c.source === 'string' &&
        typeof c.target === 'string' && (c.metrics === undefined || (c.metrics && typeof c.metrics === 'object')));
      if (kept.length !== node.connections.length) {
        fixes.add((node.connections.length - kept.length) + ' connection(s) without source, target or metrics dropped' + where);
        node.connections = kept;
      }
      for (const c of node.connections) {
        if (typeof c.source === 'string') c.source = rename(c.source);
        if (typeof c.target === 'string') c.target = rename(c.target);
        if (reservedKey(c.class)) {
          fixes.add('class "' + c.class + '" taken as normal');
          c.class = 'normal';
        }
        if (c.metrics && typeof c.metrics === 'object') {
          const clean = {};
          for (const key of Object.keys(c.metrics)) {
            let v = c.metrics[key];
            if (reservedKey(key)) {
              fixes.add('metric "' + key + '" dropped');
              continue;
            }
            if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
              fixes.add('a rate that is not a finite number ≥ 0 dropped' + where);
              continue;
            }
            if (v > MAX_RATE) {
              fixes.add('a rate above ' + MAX_RATE.toExponential() + ' req/s cut to it' + where);
              v = MAX_RATE;
            }
            clean[key] = v;
          }
          c.metrics = clean;
        }
        busiest = Math.max(busiest, connectionVolume(c));
      }
    }
    if (Array.isArray(node.nodes)) {
      for (const child of node.nodes) {
        if (child && Array.isArray(child.connections)) makeDrawable(child, depth + 1, renames, fixes, ' in ' + (typeof child.name === 'string' ? child.name : '?'));
        else if (child && typeof child === 'object') {
          if (typeof child.name === 'string') child.name = rename(child.name);
          if (reservedKey(child.class)) {
            fixes.add('class "' + child.class + '" taken as normal');
            child.class = 'normal';
          }
          if (child.renderer !== undefined && !(typeof child.renderer === 'string' && RENDERERS.has(child.renderer))) delete child.renderer;
          if (child.maxVolume !== undefined && !(typeof child.maxVolume === 'number' && Number.isFinite(child.maxVolume) &&
            child.maxVolume >= 0 && child.maxVolume <= MAX_RATE)) delete child.maxVolume;
          if (Array.isArray(child.nodes)) makeDrawable(child, depth + 1, renames, fixes, '');
        }
      }
    }
    // After the children, whose maxVolume the global view may borrow.
    // Vizceral releases particles in proportion to volume / maxVolume, extrapolated beyond it:
    // a maxVolume far below the busiest connection (1e-300) or none at the root (which then
    // borrows the regions') makes it launch particles without end.
    if (busiest > 0) {
      const given = node.maxVolume;
      // Above MAX_RATE, Vizceral's own arithmetic (1.5 × maxVolume) can overflow to Infinity.
      const valid = typeof given === 'number' && Number.isFinite(given) && given > 0 && given <= MAX_RATE;
      if (given !== undefined && (!valid || busiest / given > MAX_VOLUME_RATIO)) {
        fixes.add('maxVolume ' + String(given) + ' raised to the busiest connection (' + formatRate(busiest) + ' req/s)' + where);
      }
      // Without one, the global view borrows the largest of its regions' (valid ones only).
      const borrowed = given === undefined && depth === 0 && Array.isArray(node.nodes)
        ? node.nodes.reduce((m, n) => (n && typeof n.maxVolume === 'number' && Number.isFinite(n.maxVolume) && n.maxVolume > m ? n.maxVolume : m), 0)
        : 0;
      if (given === undefined && borrowed >= busiest) {
        // Vizceral's own choice is safe: keep it.
      } else if (!valid || given < busiest) {
        node.maxVolume = busiest;
      }
    } else if (node.maxVolume !== undefined && !(typeof node.maxVolume === 'number' && Number.isFinite(node.maxVolume) && node.maxVolume >= 0)) {
      fixes.add('maxVolume ' + String(node.maxVolume) + ' ignored' + where);
      node.maxVolume = 0;
    }
  }

  function sanitizeNotices(notices) {
    if (!Array.isArray(notices)) return undefined;
    return notices.filter((n) => n && typeof n === 'object').map((n) => {
      const clean = { title: escapeHtml(decodeEntities(n.title === undefined ? '' : n.title)) };
      if (n.subtitle !== undefined && n.subtitle !== null && n.subtitle !== '') {
        clean.subtitle = escapeHtml(decodeEntities(n.subtitle));
      }
      const link = safeLink(n.link);
      if (link) clean.link = link;
      const severity = Math.round(Number(n.severity));
      clean.severity = Number.isFinite(severity) ? clampNumber(severity, 0, 2) : 0;
      return clean;
    });
  }

  /* Notices in canonical escaped form everywhere in the tree (see the header comment). */
  function sanitizeTree(node, depth) {
    if (!node || typeof node !== 'object' || depth > 8) return;
    if (node.notices !== undefined) node.notices = sanitizeNotices(node.notices);
    if (Array.isArray(node.connections)) {
      for (const c of node.connections) {
        if (c && c.notices !== undefined) c.notices = sanitizeNotices(c.notices);
      }
    }
    if (Array.isArray(node.nodes)) {
      for (const child of node.nodes) sanitizeTree(child, depth + 1);
    }
  }

  function findByName(nodes, name) {
    if (!Array.isArray(nodes)) return null;
    for (const n of nodes) if (n && n.name === name) return n;
    return null;
  }

  /* The JSON node a view array points at (the root for []). */
  function nodeAt(view) {
    let node = state.graph;
    for (const name of view) {
      node = node && findByName(node.nodes, name);
    }
    return node || null;
  }

  /* The JSON level whose nodes and connections the current view draws. A service view
     (focusedChild) draws its parent region's connections around the service. */
  function drawnLevel(view) {
    return view.length >= 2 ? nodeAt(view.slice(0, -1)) : nodeAt(view);
  }

  function connectionsOf(level) {
    return level && Array.isArray(level.connections) ? level.connections : [];
  }

  /* ---------- Vizceral ---------- */

  const viz = new Vizceral.default(elements.canvas);
  viz.setOptions({ showLabels: true, allowDraggingOfNodes: false });
  viz.setFilters(connectionFilters());

  viz.on('viewChanged', (event) => {
    const view = Array.isArray(event.view) ? event.view.slice() : [];
    state.view = view;
    state.highlighted = null;
    const hash = viewToHash(view);
    if (window.location.hash !== hash) {
      // Going somewhere new adds a history entry (Back goes up again); a redirect does not.
      if (event.redirectedFrom || !window.location.hash || hashNavigation) {
        window.history.replaceState(null, '', hash);
      } else {
        window.location.hash = hash;
      }
    }
    hashNavigation = false;
    renderCrumbs();
    applySearch();
    renderDetails();
    renderTimeline(); // a region's own figures
  });

  viz.on('viewUpdated', () => {
    if (state.graph && !state.ready) {
      state.ready = true;
      elements.loading.hidden = true;
    }
  });

  viz.on('objectHighlighted', (object) => {
    if (object && object.type === 'connection' && object.source && object.target) {
      state.highlighted = { type: 'connection', source: object.source.name, target: object.target.name };
    } else if (object && object.type === 'node') {
      state.highlighted = { type: 'node', name: object.name };
    } else {
      state.highlighted = null;
    }
    renderDetails();
  });

  /* ---------- the URL hash ---------- */

  let hashNavigation = false;

  function viewToHash(view) {
    return '#/' + view.map((name) => encodeURIComponent(originalName(name))).join('/');
  }

  function hashToView(hash) {
    const path = hash.replace(/^#\/?/, '');
    if (path === '') return [];
    try {
      return path.split('/').filter((part) => part !== '').map((part) => safeName(decodeURIComponent(part)));
    } catch (e) {
      return [];
    }
  }

  function sameView(a, b) {
    return a.length === b.length && a.every((name, i) => name === b[i]);
  }

  window.addEventListener('hashchange', () => {
    const view = hashToView(window.location.hash);
    if (!sameView(view, state.view)) {
      hashNavigation = true;
      viz.setView(view);
    }
  });

  /* ---------- polling ---------- */

  /* gen: the loop this poll belongs to (a timer of an older loop ends it). */
  async function poll(gen = state.liveGen) {
    if (state.srcRefused) {
      renderStatus();
      return;
    }
    // A past moment is shown, or Live started a newer loop: this loop ends here.
    if (state.moment !== null || gen !== state.liveGen) return;
    const current = () => state.moment === null && gen === state.liveGen;
    state.polls++;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), FETCH_TIMEOUT_MS);
    try {
      const headers = {};
      const conditional = Boolean(state.etag);
      if (conditional) headers['If-None-Match'] = state.etag;
      // A conditional header set by the page makes fetch bypass the HTTP cache, so a 304
      // reaches us as a 304. The browser's credentials go to this origin only: the page behind
      // vizfeed's auth needs them, another origin (?src=) gets none.
      const response = await fetch(source, { headers, cache: 'no-store', signal: controller.signal, credentials: 'same-origin' });
      if (response.status === 304 && !conditional) {
        // Nothing was asked conditionally: a broken cache or proxy, not "unchanged".
        reachable();
        state.lastError = 'answered 304 Not Modified to a request without If-None-Match (a broken cache or proxy?)';
        return;
      }
      if (response.status === 304) {
        reachable();
        return;
      }
      // The user went to a past moment while this poll was under way: not ours to draw.
      if (!current()) return;
      if (response.status === 503) {
        reachable();
        state.lastError = 'the feeder has no graph yet (503)';
        return;
      }
      if (!response.ok) throw new Error('HTTP ' + response.status);
      const text = await response.text();
      // The feeder answered: a body that is not JSON (a proxy's page) is its fault, not a
      // reachability problem.
      reachable();
      let graph;
      try {
        graph = JSON.parse(text);
      } catch (error) {
        state.lastError = 'the answer is not JSON (' + String(error.message || error).slice(0, 120) + ')';
        return;
      }
      const problem = graphProblem(graph);
      if (problem) {
        state.lastError = 'unusable graph: ' + problem;
        return;
      }
      if (!current()) return;
      try {
        accept(graph, response.headers.get('ETag'), false);
      } catch (error) {
        // The feeder answered; the page could not use the answer. Not a reachability problem.
        state.lastError = 'the page could not draw this graph: ' + String(error.message || error);
      }
    } catch (error) {
      state.lastError = error.name === 'AbortError' ? 'no answer within ' + FETCH_TIMEOUT_MS / 1000 + ' s'
        : String(error.message || error);
      if (state.unreachableSince === null) state.unreachableSince = Date.now();
      // A graph that did not parse is not a reachability problem, but it is reported the same way.
    } finally {
      clearTimeout(timer);
      renderStatus();
      if (current()) setTimeout(() => poll(gen), pollMs);
    }
  }

  function reachable() {
    state.unreachableSince = null;
    state.lastError = null;
  }

  /* past: the graph of a moment asked for with ?at= (no ETag kept, no lag learnt from it). */
  function accept(graph, etag, past) {
    const renames = renamesFor(graph);
    const fixes = new Set();
    makeDrawable(graph, 0, renames, fixes, ' at the top level');
    if (state.rootName === null) state.rootName = graph.name;
    // A new root name would make Vizceral build a new root graph behind the current view.
    graph.name = state.rootName;
    sanitizeTree(graph, 0);
    state.renames = renames;
    state.corrections = Array.from(fixes);
    if (renames.size) {
      state.corrections.unshift('names that are JavaScript built-ins (' + Array.from(renames.keys()).join(', ') +
        ') carry an invisible mark');
    }

    const first = state.graph === null;
    state.graph = graph;
    state.etag = past ? null : etag;
    state.graphs++;
    if (typeof graph.updated === 'number' && Number.isFinite(graph.updated)) {
      if (!past) {
        const lag = clampNumber(Date.now() - graph.updated, 0, MAX_LAG_ESTIMATE_MS);
        state.lagEstimateMs = state.lagEstimateMs === null ? lag : Math.min(state.lagEstimateMs, lag);
        state.liveUpdated = graph.updated;
        learnInterval(graph.updated);
      }
    }

    // Vizceral writes into the tree it is given (a service view replaces the service's
    // sub-nodes with the graph it draws), so it gets a copy and the panels read the original.
    viz.updateData(drawnCopy(graph));
    if (first) {
      // Connection notice icons are drawn from images that load asynchronously: they only show
      // from the second update on. Give them a moment, then update again with the same graph.
      setTimeout(() => { if (state.graph === graph) viz.updateData(drawnCopy(graph)); }, 400);
    }
    renderCrumbs();
    applySearch();
    renderDetails();
  }

  /* ---------- status: freshness and banners ---------- */

  function staleRegions() {
    const names = [];
    if (state.graph) {
      for (const node of state.graph.nodes) {
        if (node.metadata && node.metadata.stale === true) names.push(node.name);
      }
    }
    return names;
  }

  function renderStatus() {
    const now = Date.now();
    const banners = [];
    const updated = state.graph && state.graph.updated;

    if (!source) {
      banners.push({ cls: 'danger', text: 'The ?src= parameter is not an http(s) URL.' });
    }
    if (state.srcRefused) {
      banners.push({ cls: 'danger', text: state.srcRefused });
    } else if (foreignOrigin) {
      banners.push({ cls: 'foreign', text: 'Showing the graph of ' + foreignOrigin + ' (?src=), not of this server.' });
    }
    if (state.corrections.length) {
      banners.push({ cls: 'warning', text: 'The graph needed corrections before it could be drawn: ' +
        state.corrections.slice(0, 6).join('; ') + (state.corrections.length > 6 ? '; …' : '') + '.' });
    }
    if (state.moment !== null) {
      // A past moment: say so where the age would be, and in a banner of its own.
      const shown = typeof updated === 'number' && Number.isFinite(updated) && state.past !== null ? updated : null;
      elements.freshness.classList.remove('old');
      elements.freshness.classList.add('past');
      elements.freshness.textContent = 'PAST: ' + formatMomentText(shown !== null ? shown : state.moment);
      elements.freshness.title = 'A past moment, not live: the window ending at ' + formatMomentText(shown !== null ? shown : state.moment) +
        ' (' + new Date(shown !== null ? shown : state.moment).toLocaleString() + ' here)';
      let text = 'Past moment, not live: ' + (shown !== null ? 'the graph of the window ending ' + formatMomentText(shown) +
        ' (' + formatAge(now - shown) + ' ago)' : 'loading the window ending ' + formatMomentText(state.moment) + '…') + '.';
      if (state.play) text += ' Replaying at ' + state.play.speed + '×.';
      text += ' Live returns to the current graph.';
      banners.push({ cls: 'past', text });
      if (state.busyUntil !== null && state.busyUntil > now) {
        banners.push({ cls: 'warning', text: 'The feeder is busy with other past windows (503): asking again in ' +
          Math.ceil((state.busyUntil - now) / 1000) + ' s.' });
      }
    } else if (typeof updated === 'number' && Number.isFinite(updated)) {
      elements.freshness.classList.remove('past');
      const age = now - updated;
      const behind = age - (state.lagEstimateMs || 0);
      elements.freshness.textContent = 'data ' + formatAge(age) + ' old';
      elements.freshness.title = 'The graph covers a window ending at ' + new Date(updated).toLocaleString() +
        (state.graph.metadata && state.graph.metadata.window_s ? '; rates over ' + state.graph.metadata.window_s + ' s' : '');
      const old = behind > oldAfterMs;
      elements.freshness.classList.toggle('old', old);
      if (old) {
        banners.push({ cls: 'warning', text: 'Data is old: no newer graph for ' + formatAge(behind) +
          ' (the feeder refreshes every ' + refreshSeconds + ' s).' });
      }
    } else if (state.graph) {
      elements.freshness.classList.remove('past');
      elements.freshness.textContent = 'age unknown';
    }
    // Live again, a problem with a past moment is news for a while, not for good.
    if (state.pastProblem && state.moment === null && state.pastProblemSince !== null && now - state.pastProblemSince > PAST_PROBLEM_SHOWN_MS) {
      state.pastProblem = null;
    }
    if (state.pastProblem !== state.pastProblemText) {
      state.pastProblemText = state.pastProblem;
      state.pastProblemSince = state.pastProblem ? now : null;
    }
    if (state.pastProblem) banners.push({ cls: 'warning', text: state.pastProblem });
    if (state.unreachableSince !== null) {
      banners.push({ cls: 'danger', text: 'Cannot reach the feeder for ' + formatAge(now - state.unreachableSince) +
        ' (' + state.lastError + ')' + (state.graph ? ': showing the last graph received.' : '.') });
    } else if (state.lastError) {
      banners.push({ cls: 'warning', text: 'Feeder: ' + state.lastError + (state.graph ? '; showing the last good graph.' : '.') });
    }
    const stale = staleRegions();
    if (stale.length) {
      banners.push({ cls: 'warning', text: 'Stale data in ' + stale.join(', ') + ': its sources are failing.' });
    }

    const current = Array.from(elements.banners.children).map((b) => b.className + '\n' + b.textContent).join('\n');
    const wanted = banners.map((b) => 'banner ' + b.cls + '\n' + b.text).join('\n');
    if (current !== wanted) {
      elements.banners.replaceChildren(...banners.map((b) => element('div', 'banner ' + b.cls, b.text)));
    }
  }

  /* ---------- the changes view: colour by metadata.change ---------- */

  // Vizceral colours a node or connection by its class, looked up in its colorTraffic style:
  // the changes view gives each a class of its own. The colours are style.css's --change-*.
  const CHANGE_CLASSES = { new: 'change-new', gone: 'change-gone', surge: 'change-surge', drop: 'change-drop' };
  const CHANGE_COLOURS = {
    'change-new': 'rgb(88, 200, 120)',
    'change-gone': 'rgb(176, 128, 232)',
    'change-surge': 'rgb(255, 140, 50)',
    'change-drop': 'rgb(70, 170, 245)',
    'change-none': 'rgb(105, 105, 105)',
  };
  const CHANGE_WORDS = { new: 'new since the baseline', gone: 'no traffic now', surge: 'surge', drop: 'drop' };

  function changeOf(object) {
    const change = object && object.metadata && typeof object.metadata === 'object' ? object.metadata.change : null;
    return typeof change === 'string' && Object.prototype.hasOwnProperty.call(CHANGE_CLASSES, change) ? change : null;
  }

  function recolour(node, depth) {
    if (!node || typeof node !== 'object' || depth > 8) return;
    if (depth > 0) node.class = CHANGE_CLASSES[changeOf(node)] || 'change-none';
    if (Array.isArray(node.connections)) {
      for (const c of node.connections) c.class = CHANGE_CLASSES[changeOf(c)] || 'change-none';
    }
    if (Array.isArray(node.nodes)) for (const child of node.nodes) recolour(child, depth + 1);
  }

  /* What Vizceral gets: a copy (it writes into the tree), coloured by change in the changes view. */
  function drawnCopy(graph) {
    const copy = structuredClone(graph);
    if (state.changes) recolour(copy, 0);
    return copy;
  }

  /* The baseline as configured ("1w"), from the root or the region, or null when off. */
  function baselineName() {
    const g = state.graph;
    if (g && g.metadata && typeof g.metadata.baseline === 'string') return g.metadata.baseline;
    const region = g && state.view.length ? findByName(g.nodes, state.view[0]) : null;
    if (region && region.metadata && typeof region.metadata.baseline === 'string') return region.metadata.baseline;
    return null;
  }

  function setChanges(on) {
    state.changes = on;
    elements.colour.value = on ? 'changes' : 'errors';
    elements.legendErrors.hidden = on;
    elements.legendChanges.hidden = !on;
    const baseline = baselineName();
    elements.legendBaseline.textContent = 'colours by change against ' + (baseline ? 'the same window ' + baseline + ' earlier' :
      'the baseline (none in this graph: graph.baseline is off, or this feeder has no baseline)') +
      '; dots are requests, coloured by outcome';
    updateUrl();
    if (state.graph) viz.updateData(drawnCopy(state.graph));
    applySearch();
    renderDetails();
  }

  /* ---------- time: past moments, the timeline strip, replay ---------- */

  const UNIT_MS = { ms: 1, s: 1000, m: 60000, h: 3600000, d: 86400000, w: 604800000 };
  const RANGES = { '1h': 3600000, '6h': 6 * 3600000, '24h': 24 * 3600000, '7d': 7 * 86400000 };
  const RANGE_FROM = { '1h': '-1h', '6h': '-6h', '24h': '-24h', '7d': '-7d' };
  const TIMELINE_POINTS = 360;             // points wanted per range: one per few pixels of the strip
  const NICE_STEPS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  const TIMELINE_EVERY_MS = 60000;         // the strip is fetched again this often while live
  const PAST_TIMEOUT_MS = 30000;           // a past window may need a full query: more time than a poll
  const MAX_RETRY_AFTER_S = 60;
  const STEP_TRIES = 4;                    // a step forward that lands on the same window tries further

  /* "2026-05-04T09:12:00Z", epoch ms, "-15m", "now" -> epoch ms, or null. */
  function parseMoment(text, now) {
    if (typeof text !== 'string') return null;
    const s = text.trim();
    if (s === 'now') return now;
    const relative = /^-(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(s);
    if (relative) return now - Number(relative[1]) * UNIT_MS[relative[2]];
    if (/^\d{1,15}(\.\d+)?$/.test(s)) return Math.floor(Number(s));
    if (/^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d(:\d\d(\.\d+)?)?([Zz]|[+-]\d\d:?\d\d)$/.test(s)) {
      const t = Date.parse(s.replace(' ', 'T'));
      return Number.isFinite(t) ? t : null;
    }
    return null;
  }

  /* RFC 3339 in UTC, without milliseconds when there are none: the form links carry. */
  function formatMoment(ms) {
    return new Date(ms).toISOString().replace('.000Z', 'Z');
  }

  function formatMomentText(ms) {
    return formatMoment(ms).replace('T', ' ').replace('Z', ' UTC');
  }

  /* From consecutive live graphs only: a jump to a past moment is no interval. */
  function learnInterval(updated) {
    if (state.lastUpdated !== null && updated !== state.lastUpdated) {
      const d = Math.abs(updated - state.lastUpdated);
      if (d > 0 && (state.learnedIntervalMs === null || d < state.learnedIntervalMs)) state.learnedIntervalMs = d;
    }
    state.lastUpdated = updated;
  }

  /* One step of the arrow keys and of Play: the feeder's refresh interval (the grid of windows). */
  function intervalMs() {
    return state.learnedIntervalMs !== null ? state.learnedIntervalMs : refreshSeconds * 1000;
  }

  /* The newest window end the feeder has: the live graph's, or now minus the lag seen. */
  function liveEdge() {
    return Math.max(state.liveUpdated || 0, Date.now() - (state.lagEstimateMs || 0) - intervalMs());
  }

  /* ?at= and ?colour= in the address, the hash kept; replaced, not pushed, so that dragging and
     replaying do not fill the history. */
  function updateUrl() {
    const url = new URL(window.location.href);
    const shown = state.moment === null ? null : (state.past !== null ? state.past : state.moment);
    if (shown === null) url.searchParams.delete('at');
    else url.searchParams.set('at', formatMoment(shown));
    if (state.changes) url.searchParams.set('colour', 'changes');
    else url.searchParams.delete('colour');
    const text = url.pathname + (url.searchParams.toString() ? '?' + url.searchParams.toString().replace(/%3A/gi, ':') : '') + url.hash;
    if (text !== window.location.pathname + window.location.search + window.location.hash) window.history.replaceState(null, '', text);
  }

  function retryAfterMs(response) {
    const value = Number(response.headers.get('Retry-After'));
    return clampNumber(Number.isFinite(value) && value > 0 ? value : 2, 1, MAX_RETRY_AFTER_S) * 1000;
  }

  async function errorText(response) {
    try {
      const body = await response.text();
      const json = JSON.parse(body);
      if (json && typeof json.error === 'string') return json.error.slice(0, 200);
    } catch (e) { /* not JSON: the status says enough */ }
    return '';
  }

  /* Shows the moment whose window ends at `at`: one GET /vizceral.json?at=. Resolves to
     'ok', 'busy' (503: state.busyUntil says until when), 'stale' (a newer request took over),
     'live' (the feeder cannot show past moments, or at is beyond its newest window) or 'error'.
     options.retry: on 503, ask again by itself after Retry-After (not during Play, which paces
     itself). */
  async function showMoment(at, options = {}) {
    if (state.srcRefused || !source) return 'error';
    if (at >= liveEdge() + intervalMs()) {
      setLive();
      return 'live';
    }
    state.moment = at;
    state.liveGen++;
    const seq = ++state.momentSeq;
    if (state.momentAbort) state.momentAbort.abort();
    const controller = new AbortController();
    state.momentAbort = controller;
    state.momentLoading = true;
    if (options.play === undefined) stopPlay();
    updateUrl();
    renderStatus();
    renderTimeline();
    const timer = setTimeout(() => controller.abort(), PAST_TIMEOUT_MS);
    const url = new URL(source);
    url.searchParams.set('at', String(Math.floor(at)));
    try {
      const response = await fetch(url.href, { signal: controller.signal, credentials: 'same-origin' });
      if (seq !== state.momentSeq) return 'stale';
      if (response.status === 503) {
        const wait = retryAfterMs(response);
        state.busyUntil = Date.now() + wait;
        if (options.retry !== false) {
          setTimeout(() => { if (seq === state.momentSeq && state.moment !== null) showMoment(at, options); }, wait);
        }
        return 'busy';
      }
      state.busyUntil = null;
      if (!response.ok) {
        const why = await errorText(response);
        state.pastProblem = 'The feeder could not show ' + formatMomentText(at) + ': HTTP ' + response.status + (why ? ' (' + why + ')' : '') +
          (state.graph && state.past !== null ? '; still showing ' + formatMomentText(state.past) + '.' : '.');
        return 'error';
      }
      const text = await response.text();
      if (seq !== state.momentSeq) return 'stale';
      let graph;
      try {
        graph = JSON.parse(text);
      } catch (error) {
        state.pastProblem = 'The answer for ' + formatMomentText(at) + ' is not JSON.';
        return 'error';
      }
      const problem = graphProblem(graph);
      if (problem) {
        state.pastProblem = 'Unusable graph for ' + formatMomentText(at) + ': ' + problem + '.';
        return 'error';
      }
      // A past window ends at `at` rounded down to the grid: one that ends later is the live
      // graph of a feeder that does not know ?at=. Never show it as the past.
      if (typeof graph.updated === 'number' && graph.updated > at) {
        state.pastProblem = 'This feeder cannot show past moments: asked for ' + formatMomentText(at) +
          ', it answered its live graph (a vizfeed without ?at=). Showing live.';
        setLive(true);
        return 'live';
      }
      state.pastProblem = null;
      state.past = typeof graph.updated === 'number' && Number.isFinite(graph.updated) ? graph.updated : at;
      reachable();
      accept(graph, null, true);
      updateUrl();
      return 'ok';
    } catch (error) {
      if (seq !== state.momentSeq) return 'stale';
      state.pastProblem = 'Could not load ' + formatMomentText(at) + ': ' +
        (error.name === 'AbortError' ? 'no answer within ' + PAST_TIMEOUT_MS / 1000 + ' s' : String(error.message || error)) + '.';
      return 'error';
    } finally {
      clearTimeout(timer);
      if (seq === state.momentSeq) {
        state.momentLoading = false;
        state.momentAbort = null;
      }
      renderStatus();
      renderTimeline();
    }
  }

  /* Back to the live graph: a new polling loop (the old one ends at its next turn). */
  function setLive(keepProblem) {
    stopPlay();
    if (state.momentAbort) state.momentAbort.abort();
    state.momentSeq++;
    state.momentLoading = false;
    const wasPast = state.moment !== null;
    state.moment = null;
    state.past = null;
    state.busyUntil = null;
    if (!keepProblem) state.pastProblem = null;
    state.liveGen++;
    state.lastUpdated = null;
    state.etag = null; // the graph shown is not the live one: ask for it in full
    updateUrl();
    renderStatus();
    renderTimeline();
    if (wasPast || keepProblem) poll();
  }

  /* One interval back (-1) or forward (+1) from the moment shown (from the live graph when live).
     A step forward that lands on the same window (the interval guessed too short) goes further. */
  async function step(direction) {
    stopPlay();
    const from = state.moment !== null ? (state.past !== null ? state.past : state.moment)
      : (state.graph && typeof state.graph.updated === 'number' ? state.graph.updated : null);
    if (from === null) return;
    if (direction > 0 && state.moment === null) return; // live is the newest
    for (let k = 1; k <= STEP_TRIES; k++) {
      const at = from + direction * k * intervalMs();
      if (direction > 0 && at > liveEdge()) {
        setLive();
        return;
      }
      const result = await showMoment(at, { retry: true });
      if (result !== 'ok' || direction < 0 || state.past !== from) return;
    }
  }

  /* ---------- replay ---------- */

  /* Play: a playhead moves from the moment shown at speed × real time; each window it reaches
     is fetched in turn (one request at a time; at 60× with slow answers some windows are
     skipped so the replay keeps its pace). A 503 stops the clock for its Retry-After. At the
     live edge the page goes live. */
  function startPlay() {
    if (state.moment === null) return;
    stopPlay();
    const from = state.past !== null ? state.past : state.moment;
    state.play = { speed: Number(elements.speed.value) || 1, playhead: from, lastTick: Date.now(), timer: null, shown: from };
    renderTimeline();
    renderStatus();
    playTick();
  }

  function stopPlay() {
    if (!state.play) return;
    clearTimeout(state.play.timer);
    state.play = null;
    renderTimeline();
  }

  async function playTick() {
    const play = state.play;
    if (!play || play !== state.play) return;
    const now = Date.now();
    play.playhead += Math.max(0, now - play.lastTick) * play.speed;
    play.lastTick = now;
    const next = play.shown + intervalMs();
    if (play.playhead < next) {
      play.timer = setTimeout(playTick, clampNumber((next - play.playhead) / play.speed, 20, 1000));
      return;
    }
    if (play.playhead > liveEdge()) {
      setLive();
      return;
    }
    const result = await showMoment(Math.max(next, play.playhead), { play: true, retry: false });
    if (play !== state.play) return;
    if (result === 'ok') {
      if (state.past !== null && state.past > play.shown) play.shown = state.past;
      else play.shown = next; // the same window again (interval guessed short): go on from the next
      play.timer = setTimeout(playTick, 0);
    } else if (result === 'busy') {
      const wait = Math.max(0, (state.busyUntil || now) - Date.now());
      play.lastTick = Date.now() + wait; // the replay's clock stands still while the feeder is busy
      play.timer = setTimeout(playTick, wait);
    } else if (result !== 'stale') {
      stopPlay();
      renderStatus();
    }
  }

  /* ---------- the timeline strip ---------- */

  const SVG = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 1000 100');
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('aria-hidden', 'true');
  const svgRps = document.createElementNS(SVG, 'path');
  svgRps.setAttribute('class', 'rps');
  const svgErrors = document.createElementNS(SVG, 'path');
  svgErrors.setAttribute('class', 'errors');
  const svgBand = document.createElementNS(SVG, 'line');
  svgBand.setAttribute('class', 'band');
  const svgCursor = document.createElementNS(SVG, 'line');
  svgCursor.setAttribute('class', 'cursor');
  for (const line of [svgRps, svgErrors, svgBand, svgCursor]) {
    line.setAttribute('vector-effect', 'non-scaling-stroke');
    svg.append(line);
  }
  svgBand.setAttribute('x1', '0');
  svgBand.setAttribute('x2', '1000');
  svgBand.setAttribute('y1', '62');
  svgBand.setAttribute('y2', '62');
  elements.strip.prepend(svg);

  function niceStepSeconds(rangeMs) {
    const wanted = Math.max(rangeMs / TIMELINE_POINTS / 1000, intervalMs() / 1000);
    return NICE_STEPS_S.find((s) => s >= wanted) || NICE_STEPS_S[NICE_STEPS_S.length - 1];
  }

  function durationText(seconds) {
    if (seconds % 3600 === 0) return seconds / 3600 + 'h';
    if (seconds % 60 === 0) return seconds / 60 + 'm';
    return seconds + 's';
  }

  async function loadTimeline() {
    clearTimeout(state.timelineTimer);
    if (state.srcRefused || !source) return;
    const seq = ++state.timelineSeq;
    const range = state.range;
    const url = new URL('timeline.json', source);
    url.search = '';
    url.searchParams.set('from', RANGE_FROM[range]);
    url.searchParams.set('to', 'now');
    url.searchParams.set('step', durationText(niceStepSeconds(RANGES[range])));
    let again = TIMELINE_EVERY_MS;
    try {
      const response = await fetch(url.href, { cache: 'no-store', credentials: 'same-origin' });
      if (seq !== state.timelineSeq) return;
      const to = Date.now();
      if (response.status === 404) {
        // A feeder from before the timeline: the rest of the page works as ever.
        state.timeline = null;
        state.timelineNote = 'no timeline: this feeder has no /timeline.json (an older vizfeed)';
        again = 10 * TIMELINE_EVERY_MS;
      } else if (response.status === 503) {
        again = retryAfterMs(response);
        if (!state.timeline) state.timelineNote = 'the feeder is busy; the timeline follows shortly';
      } else if (!response.ok) {
        const why = await errorText(response);
        state.timeline = null;
        state.timelineNote = 'no timeline: HTTP ' + response.status + (why ? ' (' + why + ')' : '');
      } else {
        const json = await response.json();
        if (!json || typeof json.step_ms !== 'number' || !(json.step_ms > 0) || !Array.isArray(json.points)) {
          state.timeline = null;
          state.timelineNote = 'no timeline: the answer is not a timeline';
        } else {
          const points = json.points.filter((p) => p && typeof p.t === 'number' && Number.isFinite(p.t));
          state.timeline = { from: to - RANGES[range], to, step_ms: json.step_ms, points };
          state.timelineNote = points.length ? '' : 'no traffic in this range';
        }
      }
    } catch (error) {
      if (seq !== state.timelineSeq) return;
      if (!state.timeline) state.timelineNote = 'no timeline: ' + String(error.message || error);
    }
    renderTimeline();
    // While live the strip moves on with time; a past moment keeps the range it was picked in.
    state.timelineTimer = setTimeout(() => { if (state.moment === null) loadTimeline(); else state.timelineTimer = setTimeout(loadTimeline, again); }, again);
  }

  function finite(v) {
    return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0;
  }

  /* The series the strip draws: the whole graph's, or the region's in a region. */
  function seriesOf(point) {
    const region = state.view.length ? originalName(state.view[0]) : null;
    if (region === null) return { rps: finite(point.rps), share: finite(point.error_share) };
    const regions = point.regions && typeof point.regions === 'object' ? point.regions : null;
    const r = regions && Object.prototype.hasOwnProperty.call(regions, region) ? regions[region] : null;
    return r && typeof r === 'object' ? { rps: finite(r.rps), share: finite(r.error_share) } : { rps: 0, share: 0 };
  }

  function timeToX(t) {
    const tl = state.timeline;
    return ((t - tl.from) / (tl.to - tl.from)) * 1000;
  }

  function renderTimeline() {
    const tl = state.timeline;
    elements.live.classList.toggle('on', state.moment === null);
    elements.live.classList.toggle('off', state.moment !== null);
    elements.live.textContent = state.moment === null ? 'Live' : 'Back to live';
    elements.play.disabled = state.moment === null;
    elements.play.title = state.moment === null ? 'Pick a moment on the timeline first, then Play replays from it' : 'Replay from the moment shown';
    elements.play.textContent = state.play ? 'Pause' : 'Play';
    elements.play.classList.toggle('playing', Boolean(state.play));
    elements.timelineNote.hidden = Boolean(tl) && state.timelineNote === '';
    elements.timelineNote.textContent = state.timelineNote;
    svg.style.display = tl ? '' : 'none';
    if (!tl) {
      elements.stripFrom.textContent = '';
      elements.stripTo.textContent = '';
      elements.stripPeak.textContent = '';
      return;
    }
    const series = tl.points.map((p) => Object.assign({ t: p.t }, seriesOf(p)));
    const maxRps = series.reduce((m, p) => Math.max(m, p.rps), 0);
    const maxShare = series.reduce((m, p) => Math.max(m, p.share), 0);
    // Requests fill the upper band (0..60), the error share the lower (64..100), each to its peak
    // (errors to at least 5 %, so a trace of errors stays a trace).
    const rpsY = (v) => 60 - (maxRps > 0 ? (v / maxRps) * 56 : 0);
    const shareY = (v) => 100 - (v / Math.max(maxShare, 0.05)) * 34;
    const xs = series.map((p) => clampNumber(timeToX(p.t + tl.step_ms / 2), 0, 1000));
    const path = (y, base) => (series.length === 0 ? '' : 'M' + xs[0].toFixed(1) + ',' + base +
      series.map((p, i) => 'L' + xs[i].toFixed(1) + ',' + y(p).toFixed(1)).join('') + 'L' + xs[xs.length - 1].toFixed(1) + ',' + base + 'Z');
    svgRps.setAttribute('d', path((p) => rpsY(p.rps), 60));
    svgErrors.setAttribute('d', path((p) => shareY(p.share), 100));
    const shown = state.moment === null ? null : (state.past !== null ? state.past : state.moment);
    if (shown !== null && shown >= tl.from && shown <= tl.to) {
      const x = timeToX(shown).toFixed(1);
      svgCursor.setAttribute('x1', x);
      svgCursor.setAttribute('x2', x);
      svgCursor.setAttribute('y1', '0');
      svgCursor.setAttribute('y2', '100');
      svgCursor.style.display = '';
    } else {
      svgCursor.style.display = 'none';
    }
    const region = state.view.length ? originalName(state.view[0]) + ': ' : '';
    elements.stripFrom.textContent = formatMomentText(tl.from).slice(5, 16);
    elements.stripTo.textContent = 'now';
    elements.stripPeak.textContent = region + 'peak ' + formatRate(maxRps) + ' req/s · errors peak ' + formatShare(maxShare) +
      ' · step ' + durationText(Math.round(tl.step_ms / 1000));
  }

  /* The moment under a pointer position on the strip. */
  function stripTime(clientX) {
    const tl = state.timeline;
    if (!tl) return null;
    const rect = svg.getBoundingClientRect(); // what is drawn: inside the strip's border
    if (!(rect.width > 0)) return null;
    const f = clampNumber((clientX - rect.left) / rect.width, 0, 1);
    return Math.round(tl.from + f * (tl.to - tl.from));
  }

  function showHover(clientX, t) {
    const rect = elements.strip.getBoundingClientRect();
    elements.stripHover.hidden = false;
    elements.stripHover.textContent = formatMomentText(t);
    elements.stripHover.style.left = clampNumber(clientX - rect.left + 6, 0, Math.max(0, rect.width - 150)) + 'px';
  }

  let dragging = false;
  elements.strip.addEventListener('pointerdown', (event) => {
    const t = stripTime(event.clientX);
    if (t === null || event.button !== 0) return;
    dragging = true;
    elements.strip.setPointerCapture(event.pointerId);
    elements.strip.focus();
    stopPlay();
    showHover(event.clientX, t);
  });
  elements.strip.addEventListener('pointermove', (event) => {
    const t = stripTime(event.clientX);
    if (t !== null) showHover(event.clientX, t);
  });
  elements.strip.addEventListener('pointerleave', () => { if (!dragging) elements.stripHover.hidden = true; });
  elements.strip.addEventListener('pointerup', (event) => {
    if (!dragging) return;
    dragging = false;
    elements.stripHover.hidden = true;
    const t = stripTime(event.clientX);
    if (t === null) return;
    // The right end of the strip is now: going there is going live.
    if (t >= liveEdge()) setLive();
    else showMoment(t, { retry: true });
  });
  elements.strip.addEventListener('pointercancel', () => { dragging = false; elements.stripHover.hidden = true; });

  elements.live.addEventListener('click', () => setLive());
  elements.play.addEventListener('click', () => (state.play ? stopPlay() : startPlay()));
  elements.speed.addEventListener('change', () => {
    if (state.play) state.play.speed = Number(elements.speed.value) || 1;
    renderStatus();
  });
  elements.range.addEventListener('change', () => {
    state.range = Object.prototype.hasOwnProperty.call(RANGES, elements.range.value) ? elements.range.value : '6h';
    loadTimeline();
  });
  elements.colour.addEventListener('change', () => setChanges(elements.colour.value === 'changes'));

  document.addEventListener('keydown', (event) => {
    if (event.key !== 'ArrowLeft' && event.key !== 'ArrowRight') return;
    const tag = event.target && event.target.tagName;
    if (tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA' || event.altKey || event.ctrlKey || event.metaKey) return;
    event.preventDefault();
    step(event.key === 'ArrowLeft' ? -1 : 1);
  });

  /* ---------- breadcrumbs ---------- */

  function renderCrumbs() {
    const parts = [];
    const labels = [state.rootName || 'graph'].concat(state.view);
    labels.forEach((label, i) => {
      if (i > 0) parts.push(element('span', 'sep', '›'));
      if (i === labels.length - 1) {
        parts.push(element('span', 'current', label));
      } else {
        const button = element('button', null, label);
        button.type = 'button';
        const target = state.view.slice(0, i);
        button.addEventListener('click', () => viz.setView(target));
        parts.push(button);
      }
    });
    elements.crumbs.replaceChildren(...parts);
  }

  /* ---------- search and filter ---------- */

  function nodeMatches(node, query) {
    const targets = [node.name];
    if (node.displayName) targets.push(node.displayName);
    if (node.metadata && node.metadata.owner) targets.push(node.metadata.owner);
    if (Array.isArray(node.nodes)) for (const sub of node.nodes) if (sub && sub.name) targets.push(sub.name);
    return targets.join().toLowerCase().indexOf(query.toLowerCase()) !== -1;
  }

  function applySearch() {
    const query = elements.search.value.trim();
    const graph = viz.currentGraph;
    if (!graph || !state.graph) return;
    viz.findNodes(query);
    const matches = [];
    if (query) {
      // Vizceral's own counts are overwritten by the graph's node counts (an upstream bug),
      // so count the visible matching nodes the way it matches them.
      for (const name of Object.keys(graph.nodes)) {
        const node = graph.nodes[name];
        if (node.isVisible() && nodeMatches(node, query)) matches.push(name);
      }
    }
    state.search = { query, matches };
    elements.matches.textContent = query ? (matches.length === 1 ? '1 match' : matches.length + ' matches') : '';
  }

  let searchTimer = null;
  elements.search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(applySearch, 120);
  });

  elements.filter.addEventListener('change', () => {
    viz.setFilters(connectionFilters());
    applySearch();
  });

  elements.latencyFilter.addEventListener('change', () => {
    viz.setFilters(connectionFilters());
    applySearch();
  });

  document.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape') return;
    if (event.target === elements.search && elements.search.value) {
      elements.search.value = '';
      applySearch();
      elements.search.blur();
      return;
    }
    if (event.target === elements.search) elements.search.blur();
    viz.zoomOutViewLevel();
  });

  window.addEventListener('resize', () => viz.updateBoundingRectCache());

  /* ---------- details panel ---------- */

  function heading(kind, title, cls) {
    const frag = document.createDocumentFragment();
    frag.append(element('div', 'kind', kind));
    const h = element('h2', cls ? 'class-' + knownClass(cls) : null, title);
    frag.append(h);
    return frag;
  }

  /* A definition list; each row is [label, text, field, raw value]. */
  function facts(rows) {
    const dl = element('dl');
    for (const [label, text, field, value, cls] of rows) {
      dl.append(element('dt', null, label));
      const dd = element('dd', cls || null, text);
      if (field) {
        dd.dataset.field = field;
        if (value !== undefined) dd.dataset.value = String(value);
      }
      dl.append(dd);
    }
    return dl;
  }

  function noticeList(notices) {
    const frag = document.createDocumentFragment();
    if (!Array.isArray(notices) || notices.length === 0) return frag;
    frag.append(element('h3', null, 'Notices'));
    const ul = element('ul', 'notices');
    for (const notice of notices) {
      const li = element('li', 'sev-' + (notice.severity || 0));
      const title = decodeEntities(notice.title || '');
      const link = safeLink(notice.link);
      if (link) {
        const a = element('a', null, title || link);
        a.href = link;
        a.target = '_blank';
        a.rel = 'noopener noreferrer';
        li.append(a);
      } else {
        li.append(element('span', null, title));
      }
      if (notice.subtitle) li.append(element('span', 'subtitle', decodeEntities(notice.subtitle)));
      ul.append(li);
    }
    frag.append(ul);
    return frag;
  }

  /* A table of [name, rate, error share, class] rows, the busiest first. */
  function rateTable(title, rows, emptyText) {
    const frag = document.createDocumentFragment();
    frag.append(element('h3', null, title + (rows.length ? ' (' + rows.length + ')' : '')));
    if (rows.length === 0) {
      frag.append(element('div', 'empty', emptyText));
      return frag;
    }
    rows.sort((a, b) => b.rate - a.rate || (a.name < b.name ? -1 : 1));
    // A latency column only when some row has one (flows that read a duration).
    const withLatency = rows.some((row) => typeof row.latency === 'number');
    const withBaseline = rows.some((row) => typeof row.baseline === 'number');
    const table = element('table');
    const head = element('tr');
    head.append(element('td', 'more', 'name'), element('td', 'num more', 'req/s'), element('td', 'num more', 'errors'));
    if (withLatency) head.append(element('td', 'num more', 'avg'));
    if (withBaseline) head.append(element('td', 'num more', (baselineName() || 'baseline') + ' ago'));
    table.append(head);
    for (const row of rows.slice(0, MAX_ROWS)) {
      const tr = element('tr');
      const nameClass = state.changes ? (row.change ? ' ' + CHANGE_CLASSES[row.change] : '') : (row.cls ? ' class-' + knownClass(row.cls) : '');
      tr.append(element('td', 'name' + nameClass, row.name),
        element('td', 'num', formatRate(row.rate)),
        element('td', 'num', formatShare(row.share)));
      if (withLatency) {
        tr.append(element('td', 'num latency', formatLatency(typeof row.latency === 'number' ? row.latency : null)));
      }
      if (withBaseline) tr.append(element('td', 'num baseline', typeof row.baseline === 'number' ? formatRate(row.baseline) : '–'));
      table.append(tr);
    }
    frag.append(table);
    if (rows.length > MAX_ROWS) frag.append(element('div', 'more', '… and ' + (rows.length - MAX_ROWS) + ' more'));
    return frag;
  }

  function connectionRows(level, name, direction) {
    const rows = [];
    for (const c of connectionsOf(level)) {
      if ((direction === 'in' ? c.target : c.source) !== name) continue;
      rows.push({ name: direction === 'in' ? c.source : c.target, rate: metricsTotal(c.metrics), share: errorShare(c.metrics), cls: c.class,
        latency: latencyOf(c.metadata), change: changeOf(c),
        baseline: c.metadata && typeof c.metadata.baseline_rate === 'number' && Number.isFinite(c.metadata.baseline_rate) ? c.metadata.baseline_rate : undefined });
    }
    return rows;
  }

  function sumRows(rows) {
    return rows.reduce((sum, r) => sum + r.rate, 0);
  }

  function numberOr(value, fallback) {
    return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
  }

  function serviceDetails(level, node) {
    const incoming = connectionRows(level, node.name, 'in');
    const outgoing = connectionRows(level, node.name, 'out');
    const metadata = node.metadata || {};
    const dangerIn = connectionsOf(level).filter((c) => c.target === node.name)
      .reduce((sum, c) => sum + metricValue(c.metrics, 'danger'), 0);
    const computedIn = sumRows(incoming);
    const rateIn = numberOr(metadata.rate_in, computedIn);
    const rateOut = numberOr(metadata.rate_out, sumRows(outgoing));
    const share = numberOr(metadata.error_share, computedIn > 0 ? dangerIn / computedIn : 0);
    const isEntry = level && level.entryNode === node.name;

    const frag = document.createDocumentFragment();
    frag.append(heading(isEntry ? 'entry' : 'service', node.displayName || node.name, node.class));
    const rows = [
      ['requests in', formatRate(rateIn) + ' /s', 'rate_in', rateIn],
      ['requests out', formatRate(rateOut) + ' /s', 'rate_out', rateOut],
      ['error share (in)', formatShare(share), 'error_share', share, 'class-' + knownClass(node.class)],
    ];
    if (latencyOf(metadata) !== null) {
      const max = latencyOf(metadata, 'max');
      rows.push(['latency in (avg)', formatLatency(latencyOf(metadata)), 'latency_avg', latencyOf(metadata)]);
      if (max !== null) rows.push(['latency in (max)', formatLatency(max), 'latency_max', max]);
    }
    if (metadata.owner) rows.push(['owner', metadata.owner]);
    if (typeof metadata.self_calls === 'number') rows.push(['calls to itself', String(metadata.self_calls)]);
    frag.append(facts(rows));
    // The baseline of the requests in: the sum of the incoming connections' baselines.
    const withBaseline = connectionsOf(level).filter((c) => c.target === node.name && c.metadata &&
      typeof c.metadata.baseline_rate === 'number' && Number.isFinite(c.metadata.baseline_rate));
    frag.append(baselineFacts(rateIn, withBaseline.length ? withBaseline.reduce((sum, c) => sum + c.metadata.baseline_rate, 0) : null,
      changeOf(node)));
    frag.append(noticeList(node.notices));
    frag.append(rateTable('Callers', incoming, 'none'));
    frag.append(rateTable('Callees', outgoing, 'none'));
    const hosts = (Array.isArray(node.nodes) ? node.nodes : []).filter((h) => h && typeof h.name === 'string')
      .map((h) => ({ name: h.name, rate: metricsTotal(h.metrics), share: errorShare(h.metrics) }));
    if (!isEntry) frag.append(rateTable('Hosts', hosts, 'no host reported'));
    return frag;
  }

  /* Now against the baseline (metadata.baseline_rate), with the change the feeder found. */
  function baselineFacts(now, baseline, change) {
    const frag = document.createDocumentFragment();
    if (baseline === null && change === null) return frag;
    const name = baselineName();
    frag.append(element('h3', null, 'Now vs baseline' + (name ? ' (' + name + ' ago)' : '')));
    const rows = [['now', formatRate(now) + ' /s', 'now_rate', now]];
    if (baseline !== null) {
      rows.push([name ? name + ' ago' : 'baseline', formatRate(baseline) + ' /s', 'baseline_rate', baseline]);
      rows.push(['ratio', baseline > 0 ? String(Number((now / baseline).toPrecision(3))) + '×' : (now > 0 ? 'new' : '–'), 'ratio',
        baseline > 0 ? now / baseline : '']);
    }
    rows.push(['change', change ? CHANGE_WORDS[change] : 'none', 'change', change || 'none', change ? CHANGE_CLASSES[change] : null]);
    frag.append(facts(rows));
    return frag;
  }

  function connectionDetails(level, c) {
    const total = metricsTotal(c.metrics);
    const share = errorShare(c.metrics);
    const frag = document.createDocumentFragment();
    frag.append(heading('connection', c.source + ' → ' + c.target, c.class));
    const rows = [
      ['requests', formatRate(total) + ' /s', 'total', total],
      ['normal', formatRate(metricValue(c.metrics, 'normal')) + ' /s', 'normal', metricValue(c.metrics, 'normal'), 'class-normal'],
      ['warning', formatRate(metricValue(c.metrics, 'warning')) + ' /s', 'warning', metricValue(c.metrics, 'warning'), 'class-warning'],
      ['danger', formatRate(metricValue(c.metrics, 'danger')) + ' /s', 'danger', metricValue(c.metrics, 'danger'), 'class-danger'],
      ['error share', formatShare(share), 'error_share', share, 'class-' + knownClass(c.class)],
    ];
    const m = c.metadata || {};
    const window = level && level.metadata && level.metadata.window_s;
    if (['normal', 'warning', 'danger'].some((k) => typeof m[k] === 'number')) {
      const counts = ['normal', 'warning', 'danger'].map((k) => numberOr(m[k], 0));
      rows.push(['requests in window' + (window ? ' (' + window + ' s)' : ''), counts.join(' / ')]);
    }
    if (latencyOf(m) !== null) {
      rows.push(['latency (avg)', formatLatency(latencyOf(m)), 'latency_avg', latencyOf(m)]);
      if (latencyOf(m, 'max') !== null) rows.push(['latency (max)', formatLatency(latencyOf(m, 'max')), 'latency_max', latencyOf(m, 'max')]);
    }
    frag.append(facts(rows));
    frag.append(baselineFacts(total, typeof m.baseline_rate === 'number' && Number.isFinite(m.baseline_rate) ? m.baseline_rate : null, changeOf(c)));
    frag.append(noticeList(c.notices));
    return frag;
  }

  function regionDetails(root, region) {
    const ingress = connectionRows(root, region.name, 'in');
    // Nodes standing for other regions (metadata.region) are not services of this one.
    const services = (region.nodes || []).filter(
      (n) => n.name !== region.entryNode && !(n.metadata && n.metadata.region === true));
    const metadata = region.metadata || {};
    const frag = document.createDocumentFragment();
    frag.append(heading('region', region.displayName || region.name, region.class));
    const ingressRate = sumRows(ingress);
    const rows = [
      ['requests in', formatRate(ingressRate) + ' /s', 'rate_in', ingressRate],
      ['services', String(services.length), 'services', services.length],
    ];
    if (typeof metadata.window_s === 'number') rows.push(['rates over', metadata.window_s + ' s']);
    if (typeof metadata.hidden_services === 'number' && metadata.hidden_services > 0) {
      rows.push(['merged into "other"', String(metadata.hidden_services)]);
    }
    if (Array.isArray(metadata.flows)) rows.push(['flows', metadata.flows.join(', ')]);
    if (metadata.stale === true) rows.push(['data', 'stale', null, undefined, 'class-danger']);
    if (typeof metadata.baseline === 'string') rows.push(['baseline', metadata.baseline + ' earlier', 'baseline', metadata.baseline]);
    if (typeof metadata.history === 'string' && metadata.history) rows.push(['history', metadata.history, 'history', undefined, 'class-warning']);
    frag.append(facts(rows));
    frag.append(noticeList(region.notices));
    const busiest = services.map((s) => {
      const incoming = connectionRows(region, s.name, 'in');
      const rate = sumRows(incoming);
      const danger = connectionsOf(region).filter((c) => c.target === s.name)
        .reduce((sum, c) => sum + metricValue(c.metrics, 'danger'), 0);
      return { name: s.name, rate, share: rate > 0 ? danger / rate : 0, cls: s.class, latency: latencyOf(s.metadata) };
    });
    frag.append(rateTable('Services by requests in', busiest, 'none'));
    return frag;
  }

  function globalDetails(root) {
    const frag = document.createDocumentFragment();
    frag.append(heading('graph', root.name));
    const regions = root.nodes.filter((n) => n.name !== root.entryNode);
    const ingress = connectionsOf(root).filter((c) => c.source === root.entryNode);
    const total = ingress.reduce((sum, c) => sum + metricsTotal(c.metrics), 0);
    const danger = ingress.reduce((sum, c) => sum + metricValue(c.metrics, 'danger'), 0);
    const rows = [
      ['requests in', formatRate(total) + ' /s', 'rate_in', total],
      ['error share (in)', formatShare(total > 0 ? danger / total : 0), 'error_share', total > 0 ? danger / total : 0],
      ['regions', String(regions.length), 'regions', regions.length],
    ];
    if (root.metadata && typeof root.metadata.window_s === 'number') rows.push(['rates over', root.metadata.window_s + ' s']);
    frag.append(facts(rows));
    frag.append(noticeList(root.notices));
    const regionRows = regions.map((r) => {
      const incoming = connectionRows(root, r.name, 'in');
      const rate = sumRows(incoming);
      const d = connectionsOf(root).filter((c) => c.target === r.name).reduce((sum, c) => sum + metricValue(c.metrics, 'danger'), 0);
      return { name: r.name + (r.metadata && r.metadata.stale ? ' (stale)' : ''), rate, share: rate > 0 ? d / rate : 0, cls: r.class };
    });
    frag.append(rateTable('Regions by requests in', regionRows, 'none'));
    return frag;
  }

  function renderDetails() {
    const panel = elements.details;
    if (!state.graph) {
      panel.replaceChildren(element('div', 'empty', 'No graph yet.'));
      return;
    }
    const view = state.view;
    const level = drawnLevel(view);
    let content = null;
    const h = state.highlighted;
    if (h && h.type === 'connection') {
      const c = connectionsOf(nodeAt(view)).find((x) => x.source === h.source && x.target === h.target) ||
        connectionsOf(level).find((x) => x.source === h.source && x.target === h.target);
      if (c) content = connectionDetails(nodeAt(view) || level, c);
    } else if (h && h.type === 'node') {
      const here = nodeAt(view);
      const node = findByName(here && here.nodes, h.name);
      if (node && view.length === 0) content = regionDetails(state.graph, node);
      else if (node) content = serviceDetails(here, node);
    }
    if (!content) {
      if (view.length === 0) content = globalDetails(state.graph);
      else if (view.length === 1 && nodeAt(view)) content = regionDetails(state.graph, nodeAt(view));
      else if (view.length >= 2 && nodeAt(view)) content = serviceDetails(level, nodeAt(view));
      else content = element('div', 'empty', 'This level is not in the current graph.');
    }
    panel.replaceChildren(content);
    panel.dataset.kind = h ? h.type : 'view';
  }

  /* ---------- start ---------- */

  window.__vizfeed = Object.freeze({
    get graph() { return state.graph; },
    get view() { return state.view.slice(); },
    get ready() { return state.ready; },
    get highlighted() { return state.highlighted ? Object.assign({}, state.highlighted) : null; },
    get lastError() { return state.lastError; },
    get unreachable() { return state.unreachableSince !== null; },
    get search() { return { query: state.search.query, matches: state.search.matches.slice() }; },
    get polls() { return state.polls; },
    get graphs() { return state.graphs; },
    get source() { return source; },
    get foreignOrigin() { return foreignOrigin; },
    get srcRefused() { return state.srcRefused; },
    get corrections() { return state.corrections.slice(); },
    get pollMs() { return pollMs; },
    get viz() { return viz; },
    get changes() { return state.changes; },
    get time() {
      return {
        live: state.moment === null,
        moment: state.moment,
        updated: state.graph && typeof state.graph.updated === 'number' ? state.graph.updated : null,
        past: state.past,
        loading: state.momentLoading,
        playing: state.play ? state.play.speed : 0,
        intervalMs: intervalMs(),
        problem: state.pastProblem,
        busyUntil: state.busyUntil,
        timeline: state.timeline ? { from: state.timeline.from, to: state.timeline.to, step_ms: state.timeline.step_ms, points: state.timeline.points.length } : null,
        timelineNote: state.timelineNote,
      };
    },
  });

  // The changes view's classes, known to Vizceral before any graph uses them.
  viz.updateStyles({ colorTraffic: CHANGE_COLOURS });
  renderCrumbs();
  renderDetails();
  viz.setView(hashToView(window.location.hash));
  viz.animate();
  setInterval(renderStatus, 1000);
  setChanges(state.changes);
  /* ?at= in the address: that moment instead of the live graph. One that cannot be read is said,
     and the page is live. */
  function begin() {
    const at = startAt !== null ? parseMoment(startAt, Date.now()) : null;
    if (startAt !== null && at === null) {
      state.pastProblem = 'The address\'s ?at=' + startAt.slice(0, 60) + ' is not a time (RFC 3339 such as 2026-05-04T09:12:00Z, ' +
        'epoch milliseconds, or -15m): showing live.';
    }
    // A moment older than the default range: the smallest range that shows it on the strip.
    if (at !== null) {
      const age = Date.now() - at;
      state.range = Object.keys(RANGES).find((r) => RANGES[r] > age * 1.05 && RANGES[r] >= RANGES['6h']) || '7d';
      elements.range.value = state.range;
    }
    loadTimeline();
    renderTimeline();
    if (at !== null) showMoment(at, { retry: true });
    else poll();
  }
  /* What the server that serves this page allows for ?src= (vizfeed's ui.allow_src). A page
     on a static server has no such file: any origin then, always labelled. */
  async function loadSettings() {
    try {
      const url = new URL('ui-settings.json', window.location.href);
      url.username = '';
      url.password = '';
      const response = await fetch(url.href, { cache: 'no-store', credentials: 'same-origin' });
      if (response.status === 404) return { allow_src: true };
      if (!response.ok) return { error: 'HTTP ' + response.status };
      return await response.json();
    } catch (e) {
      return { error: String(e.message || e) };
    }
  }

  function srcRefusal(settings) {
    if (settings.error) return 'Not showing ' + foreignOrigin + ' (?src=): the page\'s settings could not be read (' + settings.error + ').';
    const allow = settings.allow_src;
    if (allow === true || allow === undefined) return null;
    if (Array.isArray(allow)) {
      const origins = allow.map((a) => { try { return new URL(a).origin; } catch (e) { return null; } });
      if (origins.includes(foreignOrigin)) return null;
      return 'Not showing ' + foreignOrigin + ' (?src=): this server shows only its own graph' +
        (origins.length ? ' and those of ' + origins.filter(Boolean).join(', ') : '') + ' (ui.allow_src).';
    }
    return 'Not showing ' + foreignOrigin + ' (?src=): this server shows only its own graph (ui.allow_src: false).';
  }

  if (source && foreignOrigin) {
    loadSettings().then((settings) => {
      state.srcRefused = srcRefusal(settings);
      if (state.srcRefused) elements.loading.textContent = 'no graph: ?src= is not allowed here';
      begin();
    });
  } else if (source) {
    begin();
  } else {
    renderStatus();
  }
})();
