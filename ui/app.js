// Meridian's status page: polls the proxy's /status every second and draws it. No build step:
// plain browser JavaScript, with d3-geo, topojson-client and uPlot loaded before it (index.html).
// Everything is built through the DOM (never from HTML strings), styled by classes and the CSSOM:
// the page runs under a Content-Security-Policy of 'self' only.
(function main() {
  'use strict';

  const { d3, topojson, uPlot } = window;
  const SVG = 'http://www.w3.org/2000/svg';
  const POLL_MS = 1000;
  const MAP_W = 960;
  const MAP_H = 470;
  /** The part of the world the map shows: no Antarctica, nor the Arctic Ocean. */
  const MAP_EXTENT = [[-180, -58], [180, 84]];
  /** Co-located clusters (the zones of one region) are spread on a ring this wide (px). */
  const RING_PX = 11;
  const PALETTE = ['#4ea8de', '#3fb950', '#d29922', '#a371f7', '#f778ba', '#56d4dd', '#e3b341', '#ff7b72', '#7ee787', '#79c0ff', '#d2a8ff', '#ffa657'];

  const $ = (sel) => document.querySelector(sel);

  /** An element with attributes and children; text children become text nodes. */
  function el(tag, attrs, ...children) {
    const e = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs ?? {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.setAttribute('class', v);
      else if (k === 'dataset') Object.assign(e.dataset, v);
      else e.setAttribute(k, String(v));
    }
    for (const c of children.flat()) if (c !== undefined && c !== null) e.append(c instanceof Node ? c : String(c));
    return e;
  }

  function fmtRate(v) {
    if (v === null || v === undefined) return '–';
    return v >= 100 ? String(Math.round(v)) : v >= 10 ? v.toFixed(1) : v.toFixed(2).replace(/\.?0+$/, '') || '0';
  }

  function fmtAge(s) {
    if (s === null || s === undefined || !Number.isFinite(s)) return '–';
    if (s < 120) return `${Math.floor(s)}s`;
    if (s < 7200) return `${Math.floor(s / 60)}m`;
    if (s < 172800) return `${Math.floor(s / 3600)}h`;
    return `${Math.floor(s / 86400)}d`;
  }

  function pct(v) {
    return `${Math.round(v * 100)} %`;
  }

  /** A horizontal bar with a caption: `value` of `max` (max 0 draws an empty bar). */
  function bar(value, max, caption, cls) {
    const fill = el('span');
    fill.style.width = `${max > 0 ? Math.min(100, (100 * value) / max) : 0}%`;
    return el('div', { class: `bar ${cls ?? ''}` }, fill, el('em', {}, caption));
  }

  /**
   * Keeps one child of `layer` per item, by key: new ones are added, gone ones removed, the rest
   * updated in place — so a marker's colour change can transition and a flow's animation runs on
   * rather than restarting every second.
   */
  function keyed(layer, items, keyOf, make, update) {
    const existing = new Map([...layer.children].map((c) => [c.dataset.key, c]));
    const seen = new Set();
    for (const item of items) {
      const k = keyOf(item);
      seen.add(k);
      let e = existing.get(k);
      if (!e) {
        e = make(item);
        e.dataset.key = k;
        layer.append(e);
      }
      update(e, item);
    }
    for (const [k, c] of existing) if (!seen.has(k)) c.remove();
  }

  function fillBody(table, rows, emptyText, columns) {
    const body = table.tBodies[0];
    body.replaceChildren(...(rows.length ? rows : [el('tr', { class: 'empty' }, el('td', { colspan: columns }, emptyText))]));
  }

  // ---- the map -------------------------------------------------------------------------------

  const map = {
    svg: $('#map'),
    projection: d3.geoNaturalEarth1(),
    path: null,
    layers: {},
    /** Cluster name → its location, for the flows and the route line. */
    locations: new Map(),
  };

  function setupMap(world) {
    const { svg, projection } = map;
    svg.setAttribute('viewBox', `0 0 ${MAP_W} ${MAP_H}`);
    projection.fitExtent([[4, 4], [MAP_W - 4, MAP_H - 4]], d3.geoGraticule().extentMajor(MAP_EXTENT).outline());
    map.path = d3.geoPath(projection);
    const base = el('svg:g', { class: 'base' },
      el('svg:path', { class: 'sphere', d: map.path({ type: 'Sphere' }) }),
      el('svg:path', { class: 'graticule', d: map.path(d3.geoGraticule10()) }));
    if (world) base.append(el('svg:path', { class: 'land', d: map.path(topojson.feature(world, world.objects.countries)) }));
    for (const name of ['flows', 'clients', 'route', 'clusters', 'labels']) map.layers[name] = el('svg:g', { class: name });
    svg.replaceChildren(base, ...Object.values(map.layers));
  }

  const keyOf = (loc) => `${loc.lat.toFixed(1)},${loc.lon.toFixed(1)}`;

  function drawMap(doc) {
    if (!map.path) return;
    const { projection, layers } = map;
    // Markers: clusters at one place (a region's zones) on a small ring around it.
    const groups = new Map();
    const unplaced = [];
    for (const c of doc.clusters) {
      if (!c.location) {
        unplaced.push(c.name);
        continue;
      }
      const k = keyOf(c.location);
      if (!groups.has(k)) groups.set(k, []);
      groups.get(k).push(c);
    }
    map.locations.clear();
    const markers = [];
    const labels = [];
    /** Where cluster groups are on screen: client labels keep clear of them. */
    const places = [];
    for (const members of groups.values()) {
      members.sort((a, b) => a.name.localeCompare(b.name));
      const [x, y] = projection([members[0].location.lon, members[0].location.lat]);
      const n = members.length;
      members.forEach((c, i) => {
        const a = -Math.PI / 2 + (2 * Math.PI * i) / n;
        const cx = n === 1 ? x : x + RING_PX * Math.cos(a);
        const cy = n === 1 ? y : y + RING_PX * Math.sin(a);
        map.locations.set(c.name, c.location);
        markers.push({ c, cx, cy });
      });
      const regions = [...new Set(members.map((c) => c.region))].join(', ');
      labels.push(el('svg:text', { class: 'region-label', x: x.toFixed(1), y: (y + (n === 1 ? 0 : RING_PX) + 18).toFixed(1) }, regions));
      places.push({ key: keyOf(members[0].location), x, y });
    }
    keyed(layers.clusters, markers, (m) => m.c.name, () => el('svg:circle', { class: 'cluster', r: 6.5 }, el('svg:title')), (e, { c, cx, cy }) => {
      e.setAttribute('cx', cx.toFixed(1));
      e.setAttribute('cy', cy.toFixed(1));
      e.dataset.cluster = c.name;
      e.dataset.state = c.state;
      e.firstChild.textContent = `${c.name} (${c.region}${c.zone ? `, ${c.zone}` : ''}): ${c.state}, ${c.reason}; ${fmtRate(c.rateRps)} req/s`;
    });
    layers.labels.replaceChildren(...labels);

    // Flows of the last minute: a great-circle arc per client region → cluster, width by rate.
    const flows = doc.flows.flows.filter((f) => f.fromLocation && map.locations.has(f.to));
    const max = Math.max(1, ...flows.map((f) => f.rps));
    const clients = new Map();
    for (const f of flows) clients.set(f.from, f.fromLocation);
    keyed(layers.flows, flows, (f) => `${f.from}>${f.to}`, () => el('svg:path', { class: 'flow' }, el('svg:title')), (e, f) => {
      const to = map.locations.get(f.to);
      e.setAttribute('d', map.path({ type: 'LineString', coordinates: [[f.fromLocation.lon, f.fromLocation.lat], [to.lon, to.lat]] }) ?? '');
      e.dataset.from = f.from;
      e.dataset.to = f.to;
      e.style.strokeWidth = `${(1 + 5 * Math.sqrt(f.rps / max)).toFixed(2)}px`;
      e.firstChild.textContent = `${f.from} → ${f.to}: ${f.requests} requests in the last minute, ${fmtRate(f.rps)}/s`;
    });
    const clientMarks = [];
    for (const [name, loc] of clients) {
      const [x, y] = projection([loc.lon, loc.lat]);
      clientMarks.push(el('svg:circle', { class: 'client', cx: x.toFixed(1), cy: y.toFixed(1), r: 2.5 }, el('svg:title', {}, `clients in ${name}`)));
      // Clients where clusters are: the region's label names the place already.
      if (places.some((p) => p.key === keyOf(loc))) continue;
      // Else the label goes on the side away from the nearest clusters.
      const near = places.reduce((best, p) => (!best || Math.hypot(p.x - x, p.y - y) < Math.hypot(best.x - x, best.y - y) ? p : best), null);
      const left = near !== null && near.x > x;
      clientMarks.push(el('svg:text', { class: 'client-label', x: (left ? x - 5 : x + 5).toFixed(1), y: (y - 4).toFixed(1), 'text-anchor': left ? 'end' : 'start' }, name));
    }
    layers.clients.replaceChildren(...clientMarks);
    drawRouteLine();

    const absent = doc.clusters.filter((c) => c.state === 'absent').length;
    const notes = [];
    if (unplaced.length) notes.push(`Not on the map (no known location): ${unplaced.join(', ')}.`);
    if (absent) notes.push(`${absent} cluster(s) left the routing table recently (the controller lists Ready members only).`);
    if (!flows.length) notes.push(`No traffic through ${flowsScope(doc)} in the last minute.`);
    $('#map-note').textContent = notes.join(' ');
  }

  // ---- tables and the chart ----------------------------------------------------------------

  function drawClusters(doc) {
    const rows = doc.clusters.map((c) =>
      el('tr', { dataset: { cluster: c.name, state: c.state } },
        el('td', { class: 'mono' }, c.name),
        el('td', {}, c.region),
        el('td', {}, c.state === 'absent' || c.state === 'idle' ? '–' : `${c.healthy}/${c.endpoints}`),
        el('td', {}, c.state === 'absent' ? '–' : `${fmtRate(c.rateRps)}/s`),
        el('td', { title: c.reason }, el('span', { class: 'state-cell' }, el('span', { class: `dot ${c.state}` }), c.state === 'absent' ? 'left the table' : c.state))));
    fillBody($('#clusters'), rows, 'No clusters in the routing table yet.', 5);
  }

  function drawShards(doc) {
    const rows = doc.shards.map((s) => {
      const health = bar(s.healthy, s.endpoints, `${s.healthy}/${s.endpoints}${s.drained ? ' · drained' : ''}`, s.healthy === 0 ? 'bad' : s.healthy < s.endpoints || s.drained ? 'over' : '');
      const unlimited = s.capacityRps === 'unlimited';
      const rate = unlimited
        ? bar(0, 0, `${fmtRate(s.rateRps)}/s of unlimited`, 'rate')
        : bar(s.rateRps, s.capacityRps, `${fmtRate(s.rateRps)}/s of ${fmtRate(s.capacityRps)}/s`, s.rateRps > s.capacityRps ? 'rate over' : 'rate');
      return el('tr', { dataset: { backend: s.backend, cluster: s.cluster } },
        el('td', { class: 'mono' }, s.backend),
        el('td', { class: 'mono' }, s.cluster),
        el('td', {}, health),
        el('td', {}, rate),
        el('td', { class: 'num' }, pct(s.admitShare)),
        el('td', { class: 'num' }, pct(s.regionAdmitShare)));
    });
    fillBody($('#shards'), rows, 'No shards: no federated Ingress has endpoints yet.', 6);
  }

  function drawFlows(doc) {
    const rows = doc.flows.flows.slice(0, 12).map((f) =>
      el('tr', {},
        el('td', {}, f.from ?? 'unknown place'),
        el('td', { class: 'mono' }, f.to),
        el('td', { class: 'num' }, String(f.requests)),
        el('td', { class: 'num' }, fmtRate(f.rps))));
    fillBody($('#flows'), rows, 'No requests in the last minute.', 4);
  }

  /** Marks this proxy in the fleet's list, or with `--workers N` each of this host's workers that answered. */
  function selfMark(doc, id) {
    const worker = doc.workers?.answeredBy.find((w) => w.proxy === id);
    if (worker) return ` (worker ${worker.worker} here)`;
    return id === doc.proxy.id ? ' (this one)' : '';
  }

  function drawFleet(doc) {
    const f = doc.fleet;
    $('#fleet-line').textContent = f.mode === 'standalone'
      ? 'standalone: no fleet store'
      : `fleet "${f.name}" at ${f.store}: ${f.inSync ? 'in sync' : 'OUT OF SYNC'}, last read ${f.syncLagSeconds === null ? 'never' : `${f.syncLagSeconds.toFixed(1)} s ago`}`;
    const rows = f.proxies.map((p) =>
      el('tr', { dataset: { proxy: p.id } },
        el('td', { class: 'mono' }, p.id, selfMark(doc, p.id)),
        el('td', {}, p.host),
        el('td', {}, p.region ?? '–'),
        el('td', { class: 'mono' }, p.tableVersion || '–'),
        el('td', { class: 'num' }, f.mode === 'standalone' ? '–' : p.syncLagSeconds === null ? 'never' : `${p.syncLagSeconds.toFixed(1)} s`),
        el('td', { class: 'num' }, f.mode === 'standalone' ? `${p.probing.endpoints}` : `${p.probing.endpoints} (${p.probing.assigned} voting)`),
        el('td', { class: 'num' }, fmtAge(p.ageSeconds))));
    fillBody($('#fleet'), rows, 'No proxies.', 7);
  }

  /** Where a certificate (or a refused one) came from, in words. */
  function certSource(c) {
    if (c.source === 'file') return c.certFile;
    return `Secret ${c.secret}${c.ingresses?.length ? ` (Ingress ${c.ingresses.join(', ')})` : ''}`;
  }

  const DEFAULT_RULES = { 'first-static': 'yes: the first of its own', 'federation-default': 'yes: the federation\'s --default-certificate' };

  /** The proxy's TLS certificates: hidden when it has no `tls: true` listener (no `tls` in the document). */
  function drawTls(doc) {
    const panel = $('#tls-panel');
    const t = doc.tls;
    panel.hidden = !t;
    if (!t) return;
    $('#tls-strict').hidden = !t.strictSni;
    const fed = t.federationDefaultSecret ? ` · federation's default: ${t.federationDefaultSecret}` : '';
    $('#tls-line').textContent = `${t.certificates.length} in use · session-ticket key ${t.ticketKeyGeneration === 0 ? 'of this process (generation 0)' : `generation ${t.ticketKeyGeneration} (the fleet's)`}${fed}`;
    const rows = t.certificates.map((c) => {
      const shadowed = new Map(c.shadowed.map((s) => [s.name, s.servedBy]));
      return el('tr', { class: c.expiresSoon ? 'expires-soon' : '', dataset: { fingerprint: c.fingerprint, source: c.source, default: String(c.default) } },
        el('td', {}, el('span', { class: 'names mono' }, c.names.map((n) => (shadowed.has(n)
          ? el('span', { class: 'shadowed', title: `served by ${shadowed.get(n)}, listed earlier` }, n)
          : el('span', {}, n))))),
        el('td', { class: 'mono' }, certSource(c)),
        el('td', {}, c.keyType.toUpperCase()),
        el('td', { class: 'expiry', title: c.notAfter }, c.notAfter.slice(0, 10)),
        el('td', { class: 'num expiry' }, String(c.daysLeft), c.expiresSoon ? ' · renew' : ''),
        el('td', { class: 'mono fingerprint', title: c.fingerprint }, c.fingerprint),
        el('td', {}, c.default ? DEFAULT_RULES[c.defaultRule] ?? 'yes' : '–'));
    });
    fillBody($('#tls'), rows, 'No certificate yet: the federation has sent none (no federated Ingress names a TLS Secret).', 7);
    const box = $('#tls-rejected');
    box.hidden = t.rejected.length === 0;
    box.querySelector('tbody').replaceChildren(...t.rejected.map((r) =>
      el('tr', {},
        el('td', { class: 'mono code' }, r.code),
        el('td', { class: 'mono' }, certSource(r)),
        el('td', { title: r.at }, new Date(r.at).toLocaleString()),
        el('td', {}, r.message, r.keeping ? ` (keeping ${r.keeping.slice(0, 17)}…)` : ' (its names have no certificate)'))));
  }

  const chart = { plot: null, names: '', colors: new Map() };

  function colorOf(name) {
    if (!chart.colors.has(name)) chart.colors.set(name, PALETTE[chart.colors.size % PALETTE.length]);
    return chart.colors.get(name);
  }

  function drawChart(doc) {
    const t = doc.flows;
    const names = Object.keys(t.timeline).sort();
    const x = Array.from({ length: t.seconds }, (_, i) => t.from / 1000 + i);
    const data = [x, ...names.map((n) => t.timeline[n])];
    const box = $('#chart');
    const width = Math.max(300, box.clientWidth);
    if (!chart.plot || chart.names !== names.join('\n')) {
      chart.plot?.destroy();
      chart.names = names.join('\n');
      chart.plot = new uPlot({
        width,
        height: 220,
        series: [{}, ...names.map((n) => ({ label: n, stroke: colorOf(n), width: 1.5, points: { show: false } }))],
        axes: [
          // Whole seconds: the counts are per second.
          { stroke: '#8b97a8', grid: { stroke: '#1f2833' }, ticks: { stroke: '#263041' }, incrs: [1, 2, 5, 10, 15, 30, 60] },
          { stroke: '#8b97a8', grid: { stroke: '#1f2833' }, ticks: { stroke: '#263041' }, size: 44 },
        ],
        scales: { y: { range: (_u, _min, max) => [0, Math.max(5, max * 1.1)] } },
        legend: { live: false },
        cursor: { drag: { x: false, y: false } },
      }, data, box);
    } else {
      chart.plot.setData(data);
      if (Math.abs(chart.plot.width - width) > 2) chart.plot.setSize({ width, height: 220 });
    }
  }

  // ---- route this IP -----------------------------------------------------------------------

  const route = { chosen: null, client: null };

  function drawRouteLine() {
    const layer = map.layers.route;
    if (!layer) return;
    for (const c of map.layers.clusters.children) c.classList.toggle('chosen', c.dataset.cluster === route.chosen);
    const to = route.chosen && map.locations.get(route.chosen);
    if (!route.client || !to) return layer.replaceChildren();
    const d = map.path({ type: 'LineString', coordinates: [[route.client.lon, route.client.lat], [to.lon, to.lat]] });
    const [x, y] = map.projection([route.client.lon, route.client.lat]);
    layer.replaceChildren(el('svg:path', { class: 'route-line', d }), el('svg:circle', { class: 'client', cx: x.toFixed(1), cy: y.toFixed(1), r: 4 }));
  }

  function showRoute(r) {
    const box = $('#route-result');
    route.chosen = r.choice ? r.choice.cluster : null;
    route.client = r.location;
    const where = r.client.sourceCluster
      ? `inside cluster ${r.client.sourceCluster}`
      : r.location ? `at ${r.location.lat.toFixed(2)}, ${r.location.lon.toFixed(2)}` : 'at an unknown place';
    const head = el('p', { class: 'muted small' }, `Client ${r.clientIp}, ${where}: nearest region ${r.client.cell ?? 'unknown'}. Backend ${r.backend}.`);
    const choice = r.choice
      ? el('p', { class: 'choice' }, 'Goes to ', el('strong', { class: 'mono' }, r.choice.cluster), ` ${r.choice.endpoint} (${r.choice.reason}${r.choice.spilled ? ', spilled' : ''}${r.choice.panic ? ', panic' : ''})`)
      : el('p', { class: 'choice error' }, 'No endpoint at all: the proxy answers 503.');
    const table = el('table', { class: 'grid' },
      el('thead', {}, el('tr', {}, ['#', 'Cluster', 'RTT', 'Healthy', 'Reason'].map((h) => el('th', {}, h)))),
      el('tbody', {}, r.ranked.map((s, i) =>
        el('tr', { class: r.choice && s.cluster === r.choice.cluster ? 'picked' : '' },
          el('td', {}, String(i + 1)),
          el('td', { class: 'mono' }, s.cluster),
          el('td', { title: `from ${s.rttSource}` }, s.estimatedRttMs === null ? '?' : `${s.estimatedRttMs} ms`),
          el('td', {}, `${s.healthy}/${s.endpoints}`),
          el('td', {}, s.reason)))));
    box.dataset.choice = route.chosen ?? '';
    box.dataset.ip = r.clientIp;
    box.replaceChildren(head, choice, table);
    drawRouteLine();
  }

  async function askRoute(event) {
    event?.preventDefault();
    const q = new URLSearchParams({ ip: $('#route-ip').value.trim() });
    if ($('#route-host').value.trim()) q.set('host', $('#route-host').value.trim());
    if ($('#route-path').value.trim()) q.set('path', $('#route-path').value.trim());
    const box = $('#route-result');
    try {
      const res = await fetch(`../status/route?${q}`, { cache: 'no-store' });
      const body = await res.json();
      if (!res.ok) throw Object.assign(new Error(body.error?.message ?? res.statusText), { code: body.error?.code, hint: body.error?.hint });
      showRoute(body);
      history.replaceState(null, '', `?${q}`);
    } catch (err) {
      route.chosen = null;
      route.client = null;
      drawRouteLine();
      delete box.dataset.choice;
      box.replaceChildren(el('p', { class: 'error' }, `${err.code ? `${err.code}: ` : ''}${err.message}`), err.hint ? el('p', { class: 'muted small' }, err.hint) : null);
    }
  }

  // ---- the poll loop -----------------------------------------------------------------------

  let last = 0;

  function setLive(state, text) {
    const live = $('#live');
    live.dataset.live = state;
    live.textContent = text;
  }

  /** Whose traffic the flows are: this proxy's, or (`--workers N`) the sum of the workers that answered. */
  function flowsScope(doc) {
    const w = doc.workers;
    return w ? `this host's ${w.answered} of ${w.asked} workers` : 'this proxy';
  }

  function draw(doc) {
    const p = doc.proxy;
    const w = doc.workers;
    $('#proxy-line').textContent = `proxy ${p.id}${w ? ` (1 of ${w.answered} workers answering; flows summed over them)` : ''} · ${p.region ?? 'no region'} · table ${p.hasTable ? p.tableVersion : '(none yet)'}${p.draining ? ' · DRAINING' : ''} · v${p.version}`;
    for (const e of document.querySelectorAll('.flows-scope')) e.textContent = flowsScope(doc);
    document.title = `Meridian · ${p.id}`;
    drawMap(doc);
    drawClusters(doc);
    drawShards(doc);
    drawFlows(doc);
    drawFleet(doc);
    drawTls(doc);
    drawChart(doc);
  }

  async function poll() {
    try {
      const res = await fetch('../status', { cache: 'no-store', signal: AbortSignal.timeout(3000) });
      const body = await res.json();
      if (!res.ok) throw new Error(`${body.error?.code ?? res.status}: ${body.error?.message ?? res.statusText}`);
      draw(body);
      last = Date.now();
      setLive('live', `live · ${new Date(body.proxy.now).toLocaleTimeString()}`);
    } catch (err) {
      setLive('stale', last ? `stale: ${err.message}` : `no answer: ${err.message}`);
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  async function start() {
    let world = null;
    try {
      const res = await fetch('vendor/countries-110m.json');
      if (res.ok) world = await res.json();
    } catch {
      // The map draws without land; the rest of the page works.
    }
    setupMap(world);
    $('#route-form').addEventListener('submit', askRoute);
    const q = new URLSearchParams(location.search);
    if (q.get('ip')) {
      $('#route-ip').value = q.get('ip');
      $('#route-host').value = q.get('host') ?? '';
      $('#route-path').value = q.get('path') ?? '';
    }
    await poll();
    if (q.get('ip')) void askRoute();
  }

  void start();
})();
