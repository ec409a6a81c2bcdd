/**
 * The dashboard's plots (script for the page of hub/ops/dashboard-page.ts), drawn as inline SVG from the hub-kept
 * history (`GET /api/history?site=S`, hub/ops/site-history.ts), so they survive a reload and need no library:
 *  - one line plot each of windows/s, mean confidence, drift and uploads over time, with the site's model versions
 *    (and rejected rounds) as vertical markers;
 *  - the predicted class mix as stacked bars, one per history point, shares of that point's windows;
 *  - the model history as a table with each version's gate figures.
 * Every figure from the hub goes in as text or as a number attribute, never as markup.
 */
export const PLOTS_CSS = `
.plots{display:grid;grid-template-columns:repeat(2,auto);gap:.3em 1em;margin:.4em 0}
.plot-title{font-size:.85em;color:#555}svg.plot{background:#f8f9fb;border:1px solid #eee}
.legend{font-size:.8em;color:#555}.legend span{display:inline-block;margin-right:.6em}
.legend i{display:inline-block;width:.8em;height:.8em;margin-right:.2em;vertical-align:middle}
table.versions{font-size:.85em}
`;

export const PLOTS_SCRIPT = `
const NS = 'http://www.w3.org/2000/svg';
const PALETTE = ['#2a6fdb', '#e07b39', '#3aa657', '#c23b5a', '#8a5cc7', '#8c6d3f', '#d46fb2', '#7f7f7f', '#b5b82f', '#2bb5c2'];
const svgEl = (tag, attrs) => { const e = document.createElementNS(NS, tag); for (const k in attrs) e.setAttribute(k, String(attrs[k])); return e; };
const PW = 260, PH = 64;

/** x in pixels for time t over the history's span. */
function xScale(h) {
  const t0 = h.points.length ? h.points[0].t : Date.now();
  const t1 = Math.max(t0 + h.bucketSeconds * 1000, h.points.length ? h.points[h.points.length - 1].t + h.bucketSeconds * 1000 : t0);
  return { t0, t1, x: (t) => ((t - t0) / (t1 - t0)) * PW };
}

/** Published versions, rollbacks and rejected rounds as markers inside the plotted span. */
function markers(h) {
  const out = (h.models || []).map((m) => ({ t: m.at, cls: m.kind === 'rollback' ? 'rollback' : 'published', label: (m.kind === 'rollback' ? 'rollback to ' : '') + m.version }));
  for (const r of h.rounds || []) if (r.outcome === 'rejected' || r.outcome === 'failed') out.push({ t: r.finishedAt, cls: r.outcome, label: r.outcome + ' round ' + r.jobId });
  return out;
}

function drawMarkers(svg, h, sc) {
  for (const m of markers(h)) {
    if (m.t < sc.t0 || m.t > sc.t1) continue;
    const x = sc.x(m.t).toFixed(1);
    const line = svgEl('line', { class: 'marker ' + m.cls, x1: x, x2: x, y1: 0, y2: PH, stroke: m.cls === 'published' ? '#2e8b57' : '#b22222', 'stroke-dasharray': '3,2' });
    const title = svgEl('title', {}); title.textContent = m.label; line.appendChild(title);
    svg.appendChild(line);
  }
}

/** A line plot of h.points[*][key]; null values break nothing (they are left out). */
function linePlot(h, key, label, digits) {
  const box = el('div', 'plotbox'); box.dataset.plot = key;
  const vals = h.points.filter((p) => typeof p[key] === 'number');
  const last = vals.length ? vals[vals.length - 1][key] : null;
  box.appendChild(el('div', 'plot-title', label + ' ' + (last === null ? '-' : last.toFixed(digits))));
  const svg = svgEl('svg', { class: 'plot', width: PW, height: PH, 'data-points': vals.length });
  const sc = xScale(h);
  if (vals.length) {
    const ys = vals.map((p) => p[key]);
    const lo = Math.min(0, ...ys), hi = Math.max(...ys, lo + 1e-9);
    const y = (v) => (PH - 4 - ((v - lo) / (hi - lo)) * (PH - 8)).toFixed(1);
    const pts = vals.map((p) => sc.x(p.t).toFixed(1) + ',' + y(p[key]));
    svg.appendChild(svgEl('polyline', { points: pts.join(' '), fill: 'none', stroke: '#2a6fdb', 'stroke-width': 1.5 }));
    for (const p of vals) svg.appendChild(svgEl('circle', { class: 'pt', cx: sc.x(p.t).toFixed(1), cy: y(p[key]), r: 1.8, fill: '#2a6fdb' }));
    const axis = svgEl('text', { x: 2, y: 10, 'font-size': 9, fill: '#888' }); axis.textContent = hi.toFixed(digits); svg.appendChild(axis);
  }
  drawMarkers(svg, h, sc);
  box.appendChild(svg);
  return box;
}

/** Stacked bars of each point's class shares. */
function mixPlot(h) {
  const box = el('div', 'plotbox'); box.dataset.plot = 'classMix';
  box.appendChild(el('div', 'plot-title', 'predicted class mix'));
  const svg = svgEl('svg', { class: 'plot mix', width: PW, height: PH });
  const sc = xScale(h);
  const bw = Math.max(1, (h.bucketSeconds * 1000 / (sc.t1 - sc.t0)) * PW - 1);
  const seen = new Set();
  for (const p of h.points) {
    const total = p.classCounts.reduce((a, b) => a + b, 0);
    if (!total) continue;
    let y = PH;
    p.classCounts.forEach((c, i) => {
      if (!c) return;
      const hgt = (c / total) * PH; y -= hgt; seen.add(i);
      const r = svgEl('rect', { class: 'share', x: sc.x(p.t).toFixed(1), y: y.toFixed(1), width: bw.toFixed(1), height: hgt.toFixed(1), fill: PALETTE[i % PALETTE.length] });
      const title = svgEl('title', {}); title.textContent = className(h, i) + ' ' + pct(c / total); r.appendChild(title);
      svg.appendChild(r);
    });
  }
  drawMarkers(svg, h, sc);
  box.appendChild(svg);
  const legend = el('div', 'legend');
  for (const i of [...seen].sort((a, b) => a - b)) { const s = el('span', '', className(h, i)); const sw = el('i'); sw.style.background = PALETTE[i % PALETTE.length]; s.prepend(sw); legend.appendChild(s); }
  box.appendChild(legend);
  return box;
}

const className = (h, i) => (h.classNames && h.classNames[i]) || 'class ' + i;

/** The newest model records with their gate figures. */
function versionsTable(h) {
  const t = el('table', 'versions');
  const head = el('tr'); ['version', 'when', 'how', 'candidate', 'current', 'held-out', 'rollout'].forEach((c) => head.appendChild(el('th', '', c))); t.appendChild(head);
  for (const m of (h.models || []).slice(-8).reverse()) {
    const g = m.gate || {};
    const tr = el('tr'); tr.dataset.version = m.version;
    [m.version, new Date(m.at).toLocaleString(), m.kind === 'rollback' ? 'rollback from ' + m.from : (m.gate ? 'round ' + g.jobId : 'published'),
      pct(g.candidateAgreement), pct(g.currentAgreement), g.heldOut ?? '-', m.rollout || '-'].forEach((v) => tr.appendChild(el('td', '', v)));
    t.appendChild(tr);
  }
  return t;
}

function plots(h) {
  const box = el('div', 'history');
  if (!h) { box.appendChild(el('div', 'muted', 'history loading')); return box; }
  const grid = el('div', 'plots');
  grid.appendChild(linePlot(h, 'windowsPerSec', 'windows/s', 1));
  grid.appendChild(linePlot(h, 'confidence', 'confidence', 3));
  grid.appendChild(linePlot(h, 'drift', 'drift', 3));
  grid.appendChild(linePlot(h, 'uploads', 'windows uploaded per ' + h.bucketSeconds + ' s', 0));
  grid.appendChild(mixPlot(h));
  box.appendChild(grid);
  box.appendChild(versionsTable(h));
  return box;
}
`;
