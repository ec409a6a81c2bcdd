/**
 * The operator's view end to end: a hub with `httpPort` (in-process, the hub fixture's tiny dataset) and one real
 * `sitekd agent` process on site s1. `/metrics` shows the agent online with its telemetry and parses as Prometheus
 * text; `sitekd status --json` lists s1 with the agent online (exit 0); after the agent process is killed (SIGKILL:
 * no clean disconnect, so the broker publishes its last will) the gauge drops to 0 and `sitekd status` exits 2 with
 * an `agent-offline` alert. `/readyz` is 503 while the teacher trains and 200 once the hub serves. The dashboard
 * history (`/api/history`) is there again after the hub restarts on the same state dir.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { systemClock } from '../../shared/clock';
import { Hub } from '../../hub/hub';
import { makeFixture, startHub, testLogger, waitFor, type Fixture } from './hub-fixture';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus-text';

const CLI = path.resolve(__dirname, '../../bin/sitekd.js');
let fx: Fixture;
const logs: string[] = [];
const children: ChildProcess[] = [];

before(() => {
  fx = makeFixture('ops');
});

after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  fx.cleanup();
});

async function get(url: string): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(url);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function metric(base: string, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const r = await get(`${base}/metrics`);
  return sampleValue(parsePrometheusText(r.body), name, labels);
}

test('/readyz is 503 while the teacher trains, /healthz 200; the server closes with the hub', async () => {
  const hub = new Hub({ config: fx.config({ stateDir: path.join(fx.dir, 'slow'), teacherEpochs: 2000, httpPort: 0 }), log: testLogger(logs), hubVersion: 't', clock: systemClock });
  const started = hub.start().catch(() => undefined);
  try {
    const port = await waitFor('http server', () => hub.httpPort);
    await waitFor('teacher training', () => logs.some((l) => l.includes('training the teacher')));
    const ready = await get(`http://127.0.0.1:${port}/readyz`);
    assert.equal(ready.status, 503);
    assert.match(ready.body, /teacher and generic student not ready/);
    assert.equal((await get(`http://127.0.0.1:${port}/healthz`)).status, 200);
    assert.equal((await get(`http://127.0.0.1:${port}/nope`)).status, 404);
    await hub.stop();
    await started;
    await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`));
  } finally {
    await hub.stop();
  }
});

test('metrics and status follow an agent of s1 online, then killed', async () => {
  const stateDir = path.join(fx.dir, 'state-ops');
  const hub = await startHub(fx.config({ stateDir, sites: ['s1'], httpPort: 0 }), logs);
  try {
    const base = `http://127.0.0.1:${hub.httpPort as number}`;
    assert.equal((await get(`${base}/readyz`)).status, 200);
    assert.equal(await metric(base, 'sitekd_agents_online', { site: 's1' }), 0);
    const agent = spawn(process.execPath, [
      CLI, 'agent', '--site', 's1', '--id', 'gw-1', '--broker', hub.url, '--sensor-topic', 'plant/s1/imu',
      '--hub-key', path.join(stateDir, 'keys', 'hub-ed25519.pub.pem'), '--data-dir', path.join(fx.dir, 'agent'),
      '--telemetry-interval', '200', '--backend', 'cpu', '--log-level', 'warn',
    ], { stdio: 'ignore' });
    children.push(agent);
    await waitForAsync('agent online in /metrics', async () => (await metric(base, 'sitekd_agents_online', { site: 's1' })) === 1, 30_000);
    await waitForAsync('agent telemetry in /metrics', async () => (await metric(base, 'sitekd_agent_outbox_depth', { site: 's1', agent: 'gw-1' })) !== undefined, 30_000);
    const m = await get(`${base}/metrics`);
    assert.match(m.type, /^text\/plain; version=0\.0\.4/);
    const samples = parsePrometheusText(m.body); // throws on a line that is not exposition format
    assert.equal(sampleValue(samples, 'sitekd_agent_up', { site: 's1', agent: 'gw-1' }), 1);
    assert.equal(sampleValue(samples, 'sitekd_alert_agent_offline', { site: 's1', agent: 'gw-1' }), 0);
    assert.equal(sampleValue(samples, 'sitekd_rounds_total', { site: 's1', outcome: 'failed' }), 0);
    assert.equal(sampleValue(samples, 'sitekd_model_version_number', { site: 's1' }), 1);
    assert.equal(sampleValue(samples, 'sitekd_hub_ready', {}), 1);
    // The teacher and the generic student were trained in the hub's warm pool.
    assert.ok((sampleValue(samples, 'sitekd_worker_pool_events_total', { event: 'tasks' }) ?? 0) >= 2, 'pool tasks counted');
    assert.equal(sampleValue(samples, 'sitekd_worker_pool_events_total', { event: 'crashed' }), 0);
    assert.ok((sampleValue(samples, 'sitekd_worker_pool_warm', {}) ?? 0) >= 1, 'a warm worker');

    const st = await runCli(['status', '--broker', hub.url, '--json']);
    assert.equal(st.code, 0, st.stderr);
    const out = JSON.parse(st.stdout) as { sites: Array<{ site: string; agents: Array<{ agent: string; state: string }>; telemetry: Record<string, unknown> }>; alerts: unknown[] };
    const s1 = out.sites.find((s) => s.site === 's1');
    assert.deepEqual(s1?.agents.map((a) => [a.agent, a.state]), [['gw-1', 'online']]);
    assert.ok(s1?.telemetry['gw-1'] !== undefined);
    assert.deepEqual(out.alerts, []);

    agent.kill('SIGKILL');
    // The broker sees the socket close at once; the keep-alive (30 s) bounds it when the host itself disappears.
    const t0 = Date.now();
    await waitForAsync('agent offline in /metrics', async () => (await metric(base, 'sitekd_agents_online', { site: 's1' })) === 0, 30_000);
    assert.ok(Date.now() - t0 < 30_000);
    assert.equal(await metric(base, 'sitekd_alert_agent_offline', { site: 's1', agent: 'gw-1' }), 1);
    const st2 = await runCli(['status', '--broker', hub.url]);
    assert.equal(st2.code, 2, st2.stderr);
    assert.match(st2.stdout, /agent gw-1\s+offline/);
    assert.match(st2.stdout, /ALERT agent-offline: s1\/gw-1 is offline/);
  } finally {
    await hub.stop();
  }
  fs.rmSync(path.join(fx.dir, 'agent'), { recursive: true, force: true });

  // The dashboard history outlives the hub: written to the state dir at stop, served again after a restart.
  assert.ok(fs.existsSync(path.join(stateDir, 'ops-history.json')));
  const again = await startHub(fx.config({ stateDir, sites: ['s1'], httpPort: 0 }), logs);
  try {
    const h = JSON.parse((await get(`http://127.0.0.1:${again.httpPort as number}/api/history?site=s1`)).body) as { points: Array<{ agentsOnline: number | null }> };
    assert.ok(h.points.length >= 1, 'the points recorded before the restart');
    assert.equal(h.points.at(-1)?.agentsOnline, 0, 'the last observation, at stop: the agent was killed');
  } finally {
    await again.stop();
  }
});

async function waitForAsync(what: string, fn: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${logs.slice(-20).join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
