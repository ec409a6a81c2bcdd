/**
 * `sitekd hub` with its embedded broker as it starts by default: authentication on (issue 8). The Must-hold checks
 * with the real `mosquitto_sub`/`mosquitto_pub` clients, credentials made by the real `sitekd credentials add`, and
 * each hostile act of finding 1 (anonymous redistill, forged batches, invented sites, deleted manifests, oversize
 * publishes) and finding 2 (client-id takeover of the hub's session), each of which worked before authentication.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { encode } from '../../shared/protocol/codec';
import type { Hub } from '../../hub/hub';
import { mosquitto, testNeeding } from '../helpers/requirements';
import { addWithCli, CLI, login, publishAccepted, runProgram, sleep, subscribeGranted, tryLogin } from './auth-helpers';
import { makeBatch, makeFixture, startHub, waitFor, type Fixture } from './hub-fixture';

const MOSQUITTO = mosquitto();
let fx: Fixture;
let hub: Hub;
let port: string;
const logs: string[] = [];
const pw: Record<string, string> = {};

before(async () => {
  fx = makeFixture('hub-auth');
  hub = await startHub(fx.config({ allowAnonymous: false, sites: ['site-1'] }), logs);
  port = String(hub.brokerPort);
  pw['ops'] = await addWithCli(fx.stateDir, ['--user', 'ops', '--role', 'operator']);
  pw['gw-1'] = await addWithCli(fx.stateDir, ['--user', 'gw-1', '--role', 'agent', '--site', 'site-1', '--topic', 'plant/1/imu']);
  pw['gw-2'] = await addWithCli(fx.stateDir, ['--user', 'gw-2', '--role', 'agent', '--site', 'site-1']);
});

after(async () => {
  await hub.stop();
  fx.cleanup();
});

const agentLogin = (user: 'gw-1' | 'gw-2') => login(hub.url, { clientId: user, username: user, password: pw[user] as string });

testNeeding(MOSQUITTO, "an anonymous mosquitto_sub -t 'sitekd/v1/#' is refused", {}, async () => {
  const r = await runProgram('mosquitto_sub', ['-h', '127.0.0.1', '-p', port, '-t', 'sitekd/v1/#', '-W', '3']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /not authori[sz]ed/i);
  assert.equal(r.stdout, '');
});

testNeeding(MOSQUITTO, 'operator credentials from `sitekd credentials add` read sitekd/v1/hub/status with mosquitto_sub', {}, async () => {
  const r = await runProgram('mosquitto_sub', ['-h', '127.0.0.1', '-p', port, '-i', 'ops', '-u', 'ops', '-P', pw['ops'] as string, '-t', 'sitekd/v1/hub/status', '-C', '1', '-W', '10', '-F', '%t %l']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^sitekd\/v1\/hub\/status \d+/);
});

testNeeding(MOSQUITTO, "an agent's credentials cannot publish to another site's topics, to hub/cmd or to model topics (mosquitto_pub)", {}, async () => {
  for (const topic of ['sitekd/v1/site-2/gw-1/samples', 'sitekd/v1/hub/cmd', 'sitekd/v1/site-1/model', 'sitekd/v1/site-1/model/1-x/chunk/0']) {
    const r = await runProgram('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-i', 'gw-1', '-u', 'gw-1', '-P', pw['gw-1'] as string, '-q', '1', '-t', topic, '-m', '{"id":"x","cmd":"redistill","site":"site-1"}']);
    assert.notEqual(r.code, 0, `publish to ${topic} must fail`);
  }
  const ok = await runProgram('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-i', 'gw-1', '-u', 'gw-1', '-P', pw['gw-1'] as string, '-q', '1', '-t', 'sitekd/v1/site-1/gw-1/telemetry', '-m', '{}']);
  assert.equal(ok.code, 0, ok.stderr);
});

testNeeding(MOSQUITTO, "a client id of another identity is refused: no takeover of the hub's session (finding 2)", {}, async () => {
  const published = (): unknown => (hub.stats()['transport'] as { publishedMessages: number }).publishedMessages;
  const publishedBefore = published();
  for (let i = 0; i < 10; i++) {
    const r = await runProgram('mosquitto_sub', ['-h', '127.0.0.1', '-p', port, '-i', 'sitekd-hub', '-u', 'gw-2', '-P', pw['gw-2'] as string, '-t', 'sitekd/v1/site-1/model', '-W', '2']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /identifier rejected/i);
  }
  await sleep(300);
  // A takeover would cost a reconnect and a republish of every model (manifest + chunks + status); a periodic status may fall in.
  assert.ok(Number(published()) <= Number(publishedBefore) + 1, 'no reconnect, no republish');
  assert.equal(logs.some((l) => l.includes('reconnected to the broker')), false);
});

test('finding 1: an anonymous client cannot trigger a redistillation', async () => {
  const r = await runProgram(process.execPath, [CLI, 'redistill', '--site', 'site-1', '--broker', hub.url, '--timeout', '3']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /not authori[sz]ed|BROKER_UNREACHABLE/i);
  assert.equal(hub.stats()['commands'] !== undefined && (hub.stats()['commands'] as Record<string, number>)['received'], 0);
});

test('finding 1: nobody can store sample batches as another agent', async () => {
  const anonymous = await tryLogin(hub.url, { clientId: 'gw-2' });
  assert.equal(anonymous.ok, false);
  const c = await agentLogin('gw-1');
  const forged = makeBatch(fx.domains[1] as never, { site: 'site-1', agent: 'gw-2', batchId: 'forged-1', from: 0, n: 4 });
  assert.equal(await publishAccepted(c, 'sitekd/v1/site-1/gw-2/samples', Buffer.from(encode(forged))), false);
  const own = makeBatch(fx.domains[1] as never, { site: 'site-1', agent: 'gw-1', batchId: 'own-1', from: 0, n: 4 });
  const d = await agentLogin('gw-1');
  assert.equal(await publishAccepted(d, 'sitekd/v1/site-1/gw-1/samples', Buffer.from(encode(own))), true);
  await waitFor('the own batch stored', () => JSON.stringify(hub.stats()['store']).includes('"site-1"') || hub.servedSites().includes('site-1'));
  d.end(true);
});

test('finding 1: no client can invent sites, so the site slots cannot be exhausted', async () => {
  const before = hub.servedSites();
  const c = await agentLogin('gw-1');
  for (let i = 0; i < 20; i++) {
    const again = c.connected ? c : await agentLogin('gw-1');
    assert.equal(await publishAccepted(again, `sitekd/v1/fake-${i}/gw-1/status`, '{"state":"offline"}', { retain: true }), false);
  }
  assert.deepEqual(hub.servedSites(), before);
  // A site named by an agent credential is enrolled when that agent announces itself.
  pw['gw-9'] = await addWithCli(fx.stateDir, ['--user', 'gw-9', '--role', 'agent', '--site', 'site-9']);
  const gw9 = await login(hub.url, { clientId: 'gw-9', username: 'gw-9', password: pw['gw-9'] });
  const birth = { state: 'online', agentVersion: '0', modelVersion: null, backend: 'cpu', sensors: [], channels: 9, windowLength: 128, startedAt: 1, ts: 1 };
  assert.equal(await publishAccepted(gw9, 'sitekd/v1/site-9/gw-9/status', JSON.stringify(birth), { retain: true }), true);
  await waitFor('site-9 enrolled', () => hub.servedSites().includes('site-9'));
  gw9.end(true);
});

test("finding 1: an agent cannot delete or overwrite its site's retained manifest", async () => {
  const c = await agentLogin('gw-1');
  assert.equal(await publishAccepted(c, 'sitekd/v1/site-1/model', '', { retain: true }), false);
  const d = await agentLogin('gw-1');
  assert.equal(await subscribeGranted(d, 'sitekd/v1/site-1/model'), 1);
  const manifest = await new Promise<Buffer>((resolve) => d.on('message', (_t, p) => resolve(p)));
  assert.ok(manifest.length > 100, 'the retained manifest is still there');
  d.end(true);
});

test('finding 1: a 100 MB publish is cut off at its header and the hub does not grow', async () => {
  const rss = process.memoryUsage().rss;
  const c = await agentLogin('gw-1');
  assert.equal(await publishAccepted(c, 'sitekd/v1/site-1/gw-1/samples', Buffer.alloc(300 * 1024)), false);
  const closed = await new Promise<boolean>((resolve) => {
    const s = net.connect(Number(port), '127.0.0.1', () => s.write(Buffer.from([0x30, 0x80, 0xc2, 0xd7, 0x2f]))); // remaining length 100,000,000
    s.on('error', () => undefined);
    s.on('close', () => resolve(true));
    setTimeout(() => resolve(false), 3000);
  });
  assert.equal(closed, true);
  assert.ok(process.memoryUsage().rss - rss < 50 * 1024 * 1024);
});

test('the hub made its own identity at first start, and `credentials list` shows it with the others', async () => {
  const r = await runProgram(process.execPath, [CLI, 'credentials', 'list', '--state-dir', fx.stateDir, '--json']);
  const users = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { user: string; role: string });
  assert.deepEqual(users.filter((u) => u.role === 'hub').map((u) => u.user), ['sitekd-hub']);
  assert.ok(users.some((u) => u.user === 'ops'));
  assert.ok(path.isAbsolute(fx.stateDir));
});
