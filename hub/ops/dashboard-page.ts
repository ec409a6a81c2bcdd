/**
 * The dashboard page served at `/` (hub/ops/dashboard.ts): HTML, CSS and script in one string, so the hub serves it
 * without a build step and the page loads nothing from anywhere else (a hub on an isolated network has no CDN).
 * The script listens to `/events` (SSE), draws one card per site from the `status` event, shows each job event on
 * its site's card, and fetches each site's hub-kept history (`/api/history`) for the plots of
 * hub/ops/dashboard-plots.ts: at most every HISTORY_REFRESH_MS per site and after each finished job, so a reload
 * shows the same plots. Everything from the hub is inserted as text (textContent), never as HTML.
 */
import { PLOTS_CSS, PLOTS_SCRIPT } from './dashboard-plots';

const CSS = `
body{font:14px system-ui,sans-serif;margin:0;background:#f4f5f7;color:#222}
header{display:flex;gap:1em;align-items:center;padding:.6em 1em;background:#243447;color:#fff}
header h1{font-size:1.1em;margin:0}
#conn{padding:.1em .5em;border-radius:.6em;background:#888}#conn.live{background:#2e8b57}
#login{margin-left:auto;display:none;gap:.4em}#login input{width:9em}
#sites{display:flex;flex-wrap:wrap;gap:1em;padding:1em}
.site{background:#fff;border-radius:6px;box-shadow:0 1px 3px #0002;padding:.8em 1em;min-width:34em}
.site h2{margin:0 0 .3em;font-size:1.2em}
table{border-collapse:collapse;margin:.4em 0}td,th{padding:.15em .6em;text-align:left;border-bottom:1px solid #eee}
.online{color:#2e8b57;font-weight:600}.offline,.stale{color:#b22222;font-weight:600}
.published,.done{color:#2e8b57}.rejected,.failed{color:#b22222}.skipped{color:#a07000}
.job{margin-top:.4em;min-height:1.2em}.alert{color:#b22222}.muted{color:#777}
`;

const SCRIPT = `
'use strict';
const $ = (sel, el = document) => el.querySelector(sel);
const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = String(text); return e; };
const histories = new Map(); const fetchedAt = new Map(); const jobs = new Map(); let authNeeded = false;
const pct = (x) => (typeof x === 'number' ? (100 * x).toFixed(1) + ' %' : '-');
const ago = (ms) => { if (typeof ms !== 'number') return '-'; const s = Math.max(0, (Date.now() - ms) / 1000); return s < 90 ? s.toFixed(0) + ' s ago' : (s / 60).toFixed(0) + ' min ago'; };
const num = (x, d) => (typeof x === 'number' ? x.toFixed(d) : '-');
const HISTORY_REFRESH_MS = 5000;
${PLOTS_SCRIPT}

function agentsTable(site) {
  const t = el('table', 'agents');
  const head = el('tr'); ['agent', 'state', 'last seen', 'model', 'windows/s', 'p99 ms', 'drift'].forEach((c) => head.appendChild(el('th', '', c))); t.appendChild(head);
  for (const a of site.agents || []) {
    const tel = (site.telemetry || {})[a.agent] || {};
    const tr = el('tr'); tr.dataset.agent = a.agent;
    [[a.agent], [a.state, a.state], [ago(a.lastSeenAt)], [a.modelVersion || '-'], [num(tel.windowsPerSec, 1)], [num(tel.inferP99Ms, 1)], [num(tel.driftScore, 3)]]
      .forEach(([v, cls]) => tr.appendChild(el('td', cls, v)));
    t.appendChild(tr);
  }
  return t;
}

function roundLine(r) {
  if (!r) return el('div', 'round muted', 'no round since the hub started');
  const d = el('div', 'round');
  d.appendChild(el('span', r.outcome, 'last round: ' + r.outcome));
  d.appendChild(el('span', '', ' - candidate ' + pct(r.candidateAgreement) + ' vs current ' + pct(r.currentAgreement) +
    (r.heldOut !== null && r.heldOut !== undefined ? ' on ' + r.heldOut + ' held-out windows' : '') + (r.version ? ', published ' + r.version : '') +
    (r.reasons && r.reasons.length ? ' (' + r.reasons.join('; ') + ')' : '') + (r.error ? ' ' + r.error.code : '')));
  return d;
}

function jobText(e) {
  if (!e) return '';
  if (e.refused) return e.refused;
  const r = e.result || {};
  const gate = r.candidateAgreement !== undefined ? ' - candidate ' + pct(r.candidateAgreement) + ' vs current ' + pct(r.currentAgreement) : '';
  return 'job ' + e.jobId + ': ' + e.state + (e.state === 'running' ? ' ' + pct(e.progress || 0) : '') + (r.version ? ' ' + r.version : '') + gate + (e.message ? ' (' + e.message + ')' : '');
}

function card(site) {
  const c = el('section', 'site'); c.dataset.site = site.site;
  c.appendChild(el('h2', '', site.site));
  c.appendChild(el('div', 'model', 'model ' + (site.modelVersion || '-') + ' - ' + site.windowsStored + ' windows stored, ' + (site.newWindows ?? 0) + ' new'));
  c.appendChild(agentsTable(site));
  c.appendChild(plots(histories.get(site.site)));
  c.appendChild(roundLine(site.lastRound));
  for (const a of site.alerts || []) c.appendChild(el('div', 'alert', 'ALERT ' + a.kind + ': ' + (a.message || '')));
  const b = el('button', 'redistill', 'redistill'); b.onclick = () => redistill(site.site); c.appendChild(b);
  const last = jobs.get(site.site);
  c.appendChild(el('div', 'job ' + (last ? last.state : ''), jobText(last)));
  return c;
}

function onStatus(s) {
  const hub = s.hub || {};
  $('#hub').textContent = 'hub ' + (hub.hubVersion || '') + ' - teacher ' + (hub.teacherVersion || '-') + ' - jobs running ' + (hub.jobs && hub.jobs.running ? hub.jobs.running : 'none');
  const box = $('#sites'); box.replaceChildren();
  for (const site of s.sites || []) {
    box.appendChild(card(site));
    if (Date.now() - (fetchedAt.get(site.site) || 0) > HISTORY_REFRESH_MS) loadHistory(site.site);
  }
}

/** Fetches the site's history and redraws only its plots (the rest of the card is redrawn by status events). */
async function loadHistory(site) {
  fetchedAt.set(site, Date.now());
  const had = histories.get(site);
  // Only the points from the newest one on (it was the open bucket, it may have grown): the rest did not change.
  const since = had && had.points.length ? had.points[had.points.length - 1].t : 0;
  try {
    const res = await fetch('/api/history?site=' + encodeURIComponent(site) + '&since=' + since);
    if (!res.ok) return;
    const h = await res.json();
    if (had && since) h.points = had.points.filter((p) => p.t < since).concat(h.points).slice(-100000);
    histories.set(site, h);
    const old = document.querySelector('section.site[data-site="' + CSS.escape(site) + '"] .history');
    if (old) old.replaceWith(plots(histories.get(site)));
  } catch (err) { fetchedAt.delete(site); }
}

function onJob(e) {
  jobs.set(e.site, e);
  const c = document.querySelector('section.site[data-site="' + CSS.escape(e.site) + '"] .job');
  if (c) { c.className = 'job ' + e.state; c.textContent = jobText(e); }
  if (e.state !== 'running' && e.state !== 'queued') loadHistory(e.site);
}

async function redistill(site) {
  const headers = { 'X-Sitekd-Request': '1' };
  if (authNeeded) headers.Authorization = 'Basic ' + btoa($('#user').value + ':' + $('#password').value);
  try {
    const res = await fetch('/api/redistill?site=' + encodeURIComponent(site), { method: 'POST', headers });
    const body = await res.json();
    if (!res.ok) { onJob({ site, state: 'failed', refused: 'refused (' + res.status + '): ' + body.error.message }); return; }
    if (!jobs.has(site) || jobs.get(site).jobId !== body.jobId || jobs.get(site).refused) onJob({ jobId: body.jobId, site, state: body.state });
  } catch (err) { onJob({ site, state: 'failed', refused: 'request failed: ' + err }); }
}

function connect() {
  const es = new EventSource('/events');
  es.addEventListener('hello', (m) => { authNeeded = JSON.parse(m.data).auth === 'operator'; $('#login').style.display = authNeeded ? 'flex' : 'none'; });
  es.addEventListener('status', (m) => { $('#conn').className = 'live'; $('#conn').textContent = 'live'; onStatus(JSON.parse(m.data)); });
  es.addEventListener('job', (m) => onJob(JSON.parse(m.data)));
  es.onerror = () => { $('#conn').className = ''; $('#conn').textContent = 'reconnecting'; };
}
connect();
`;

export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sitekd fleet</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>${CSS}${PLOTS_CSS}</style></head>
<body><header><h1>sitekd fleet</h1><span id="conn">connecting</span><span id="hub"></span>
<form id="login" onsubmit="return false"><label>operator <input id="user" autocomplete="username"></label>
<label>password <input id="password" type="password" autocomplete="current-password"></label></form></header>
<main id="sites"></main>
<script>${SCRIPT}</script></body></html>
`;
