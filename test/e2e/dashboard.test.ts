/**
 * The web dashboard in a real headless browser (Debian's chromium driven by playwright-core): a hub in this process
 * with authentication on (the default) and `httpPort: 0` (the hub fixture's tiny dataset), one real agent on
 * site-1 and the simulator streaming site-1, each with its own identity in the hub's credentials store.
 *
 * It shows: the page at `/` loads, live updates (SSE) bring site-1 with its agent gw-1 online; a redistill without a
 * login is refused on the page (401), an agent's identity is refused (403); logged in as the operator, the button
 * queues a round and its outcome appears on the page with the gate figures. The plots are drawn from the hub-kept
 * history (one point per second here, `historyBucketSeconds: 1`): the confidence plot has points and the class mix
 * bars once telemetry arrived, they are there again after a reload, and the round appears as a marker (a published
 * version with its gate figures in the versions table, or a rejected round). A screenshot is saved as
 * test-output/dashboard.png. Without chromium the test skips, or fails when CI is set (test/helpers/requirements.ts).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before } from 'node:test';
import { chromium as pwChromium, type Browser, type Page } from 'playwright-core';
import { startAgent, type RunningAgent } from '../../agent/main';
import { parseAgentConfig } from '../../agent/config';
import { addCredential } from '../../hub/auth/credentials';
import type { Hub } from '../../hub/hub';
import { systemClock } from '../../shared/clock';
import { defaultSyntheticSpec } from '../../shared/data/synthetic';
import { silentLogger } from '../../shared/log';
import { MqttTransport } from '../../shared/transport/mqtt-transport';
import { Simulator } from '../../sim/simulator';
import { loadSimSites } from '../../sim/sources';
import { makeFixture, startHub, type Fixture } from '../integration/hub-fixture';
import { repoRoot } from '../helpers/repo-root';
import { chromium, chromiumPath, testNeeding } from '../helpers/requirements';

const SITE = 'site-1';
const OPERATOR = { user: 'ops', password: 'operator-password-1' };
const AGENT = { user: 'gw-1', password: 'agent-password-1' };
const SENSOR = { user: 'sim', password: 'sensor-password-1' };
const SCREENSHOT = path.join(repoRoot(__dirname), 'test-output', 'dashboard.png');

let fx: Fixture | undefined;
let hub: Hub | undefined;
let agent: RunningAgent | undefined;
let sim: Simulator | undefined;
let simTransport: MqttTransport | undefined;
let browser: Browser | undefined;
const logs: string[] = [];
const needed = chromium();

before(async () => {
  if (needed.missing !== undefined) return;
  fx = makeFixture('dash');
  const stateDir = path.join(fx.dir, 'state');
  const topic = `sim/${SITE}/imu`;
  const now = Date.now();
  await addCredential(stateDir, { user: OPERATOR.user, password: OPERATOR.password, role: 'operator' }, now);
  await addCredential(stateDir, { user: AGENT.user, password: AGENT.password, role: 'agent', site: SITE, topics: [topic] }, now);
  await addCredential(stateDir, { user: SENSOR.user, password: SENSOR.password, role: 'sensor', topics: [topic], read: ['sitekd/v1/+/+/predictions'] }, now);
  hub = await startHub(fx.config({ allowAnonymous: false, sites: [SITE], httpPort: 0, historyBucketSeconds: 1 }), logs);
  const url = hub.url;

  const spec = { ...defaultSyntheticSpec.harLike, sites: 3, trainPerClass: 12, testPerClass: 4 };
  const sites = loadSimSites({ sites: 1, synthetic: true, syntheticSpec: spec, split: 'train' }).sites;
  simTransport = await MqttTransport.connect({ url, clientId: SENSOR.user, username: SENSOR.user, password: SENSOR.password, protocol: 4, reconnectPeriodMs: 200 });
  sim = new Simulator({ sites, transport: simTransport, speed: 20, scoreIntervalMs: 0, clock: systemClock });
  assert.equal(sim.readingsTopic(SITE), topic);
  agent = await startAgent(parseAgentConfig({
    site: SITE, id: AGENT.user,
    broker: { url, protocol: 4, reconnectPeriodMs: 200, username: AGENT.user, password: AGENT.password },
    sensors: [{ topic }], dataDir: path.join(fx.dir, 'agent'), hubPublicKeyFile: hub.key?.publicKeyFile, backend: 'cpu',
    stride: 128, maxClockSkewMs: 86_400_000, telemetryIntervalMs: 500,
    upload: { intervalMs: 250, maxBatch: 16, budgetBytesPerMinute: 30_000_000, ackTimeoutMs: 5000 },
  }), { log: silentLogger });
  await sim.start();
  browser = await pwChromium.launch({ executablePath: chromiumPath(), headless: true, args: ['--no-sandbox'] });
}, { timeout: 120_000 });

after(async () => {
  await browser?.close().catch(() => undefined);
  await sim?.stop().catch(() => undefined);
  await simTransport?.close().catch(() => undefined);
  await agent?.stop().catch(() => undefined);
  await hub?.stop().catch(() => undefined);
  fx?.cleanup();
});

/** The site's card. */
const card = (page: Page) => page.locator(`section.site[data-site="${SITE}"]`);

/** Resolves once the site's plot `key` has at least `n` points (the SVG's data-points). */
async function plotPoints(page: Page, key: string, n: number, timeout = 60_000): Promise<number> {
  const sel = `section.site[data-site="${SITE}"] [data-plot="${key}"] svg`;
  await page.waitForFunction(`Number(document.querySelector(${JSON.stringify(sel)})?.getAttribute('data-points') ?? 0) >= ${n}`, undefined, { timeout });
  return Number(await page.locator(sel).getAttribute('data-points'));
}

/** Logs in (or not), clicks the site's redistill button and waits until the job line says `expected`. */
async function clickRedistill(page: Page, login: { user: string; password: string } | undefined, expected: RegExp, timeout = 10_000): Promise<string> {
  await page.fill('#user', login?.user ?? '');
  await page.fill('#password', login?.password ?? '');
  await card(page).locator('button.redistill').click();
  const job = card(page).locator('.job', { hasText: expected });
  await job.waitFor({ timeout });
  return (await job.textContent()) ?? '';
}

testNeeding(needed, 'the dashboard shows site-1 with its agent online; a redistill from the page shows its outcome', { timeout: 240_000 }, async () => {
  const page = await (browser as Browser).newPage({ viewport: { width: 1100, height: 600 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await page.goto(`http://127.0.0.1:${hub?.httpPort as number}/`);
    await page.locator('#conn.live').waitFor({ timeout: 10_000 });
    // Live updates: the agent goes online and its telemetry arrives after the page loaded.
    const row = card(page).locator('tr[data-agent="gw-1"]');
    await row.locator('td.online').waitFor({ timeout: 60_000 });
    await row.locator('td', { hasText: /^\d+\.\d$/ }).first().waitFor({ timeout: 60_000 });
    assert.match((await card(page).locator('.model').textContent()) ?? '', /model \d+-[0-9a-f]+ - \d+ windows stored/);
    assert.ok(await page.locator('#login').isVisible(), 'the login shows: authentication is on');
    // The hub-kept history: confidence and windows/s plotted over time, the class mix as stacked bars.
    await plotPoints(page, 'confidence', 3);
    await plotPoints(page, 'windowsPerSec', 3);
    assert.ok((await card(page).locator('[data-plot="confidence"] circle.pt').count()) >= 3);
    await card(page).locator('[data-plot="classMix"] rect.share').first().waitFor({ timeout: 10_000 });
    // Kept by the hub, not the page: after a reload the plots come back with their points at once.
    await page.reload();
    await page.locator('#conn.live').waitFor({ timeout: 10_000 });
    assert.ok((await plotPoints(page, 'confidence', 3, 10_000)) >= 3);

    await clickRedistill(page, undefined, /refused \(401\): operator credentials required/);
    await clickRedistill(page, { ...OPERATOR, password: 'wrong-password' }, /refused \(401\): unknown user or wrong password/);
    await clickRedistill(page, AGENT, /refused \(403\): gw-1 has the role agent, not operator/);

    // Enough windows stored that the round trains and judges instead of skipping.
    await card(page).locator('.model', { hasText: /([4-9]\d|\d{3,}) windows stored/ }).waitFor({ timeout: 90_000 });
    const text = await clickRedistill(page, OPERATOR, /^job \S+: (done|rejected|skipped|failed)/, 120_000);
    assert.match(text, /: (done|rejected)/, `the round ran to the gate: ${text}\n${logs.slice(-20).join('\n')}`);
    assert.match(text, /candidate \d+\.\d % vs current \d+\.\d %/);
    // The status pushed after the job shows the round as the site's last one.
    await card(page).locator('.round', { hasText: /last round: (published|rejected)/ }).waitFor({ timeout: 10_000 });
    // The round on the plots: a new version's marker and its gate figures in the versions table, or a rejected round.
    const version = /: done (\S+)/.exec(text)?.[1];
    if (version !== undefined) {
      await card(page).locator('[data-plot="confidence"] line.marker.published').first().waitFor({ state: 'attached', timeout: 15_000 });
      const row = card(page).locator(`table.versions tr[data-version="${version}"]`);
      await row.waitFor({ timeout: 15_000 });
      assert.match((await row.textContent()) ?? '', /round \S+\d+\.\d %\d+\.\d %\d+/);
    } else {
      await card(page).locator('[data-plot="confidence"] line.marker.rejected').first().waitFor({ state: 'attached', timeout: 15_000 });
    }
    fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
  }
});

testNeeding(needed, 'POST /api/redistill: refused without the request header, 404 for an unknown site, 405 for GET', {}, async () => {
  const api = `http://127.0.0.1:${hub?.httpPort as number}/api/redistill`;
  const auth = `Basic ${Buffer.from(`${OPERATOR.user}:${OPERATOR.password}`).toString('base64')}`;
  const post = async (site: string, headers: Record<string, string>): Promise<{ status: number; code: string }> => {
    const res = await fetch(`${api}?site=${site}`, { method: 'POST', headers });
    return { status: res.status, code: ((await res.json()) as { error?: { code: string } }).error?.code ?? '' };
  };
  // A cross-site form can carry remembered credentials but not a custom header.
  assert.deepEqual(await post(SITE, { Authorization: auth }), { status: 403, code: 'SITEKD_ERR_HTTP_REFUSED' });
  assert.deepEqual(await post('nowhere', { Authorization: auth, 'X-Sitekd-Request': '1' }), { status: 404, code: 'SITEKD_ERR_SITE_UNKNOWN' });
  assert.equal((await fetch(api)).status, 405);
  // The history API: the query checked (400 with a code), an unknown site 404, a known one its series.
  const history = async (query: string): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await fetch(`http://127.0.0.1:${hub?.httpPort as number}/api/history${query}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  for (const q of ['', '?site=', '?site=a/b', `?site=${SITE}&extra=1`]) {
    const r = await history(q);
    assert.deepEqual([r.status, (r.body['error'] as { code: string }).code], [400, 'SITEKD_ERR_HTTP_BAD_REQUEST'], q);
  }
  assert.equal((await history('?site=nowhere')).status, 404);
  const metrics = await (await fetch(`http://127.0.0.1:${hub?.httpPort as number}/metrics`)).text();
  assert.match(metrics, /^sitekd_ops_errors_total\{code="SITEKD_ERR_HTTP_BAD_REQUEST"\} 4$/m, 'each refused query is counted');
  const ok = await history(`?site=${SITE}`);
  assert.equal(ok.status, 200);
  assert.deepEqual(Object.keys(ok.body).sort(), ['bucketSeconds', 'classNames', 'models', 'points', 'rounds', 'since', 'site']);
  const points = ok.body['points'] as { t: number }[];
  assert.ok(points.length >= 2);
  const since = (points.at(-2) as { t: number }).t;
  const recent = (await history(`?site=${SITE}&since=${since}`)).body['points'] as { t: number }[];
  assert.ok(recent.length >= 1 && recent.length < points.length && recent.every((p) => p.t >= since), 'since= returns only the newer points');
  assert.equal((await history(`?site=${SITE}&since=yesterday`)).status, 400);
  assert.ok((ok.body['models'] as unknown[]).length >= 1, 'the generic student at least');
  const events = await fetch(`http://127.0.0.1:${hub?.httpPort as number}/events`);
  assert.match(events.headers.get('content-type') ?? '', /^text\/event-stream/);
  await events.body?.cancel();
});
