/**
 * The embedded broker's authentication, authorization and limits (hub/mqtt/broker-auth.ts, broker-limits.ts,
 * packet-guard.ts) on a real aedes broker with real MQTT.js clients and a real credentials file: each role's grants,
 * the client id bound to the user name, credentials changed under a running broker, and the limits a hostile client
 * used to exhaust (issue 8, finding 1: 100 MB publishes, 50 MB retained messages).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { credentialsPath } from '../../hub/auth/credentials-file';
import { addCredential, removeCredential } from '../../hub/auth/credentials';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../hub/mqtt/broker';
import { login, publishAccepted, sleep, subscribeGranted, tryLogin } from './auth-helpers';

let dir: string;
let broker: EmbeddedBroker;
const PW = { hub: 'hub-password-1', gw1: 'gw1-password-1', ops: 'ops-password-1', sensor: 'sensor-password-1' };

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sitekd-broker-auth-'));
  await addCredential(dir, { user: 'sitekd-hub', role: 'hub', password: PW.hub }, 0);
  await addCredential(dir, { user: 'gw-1', role: 'agent', site: 'site-a', topics: ['plant/a/#'], password: PW.gw1 }, 0);
  await addCredential(dir, { user: 'ops', role: 'operator', password: PW.ops }, 0);
  await addCredential(dir, { user: 'imu-a', role: 'sensor', topics: ['plant/a/imu'], password: PW.sensor }, 0);
  broker = await startEmbeddedBroker({
    port: 0, security: { credentialsFile: credentialsPath(dir), hubUser: 'sitekd-hub' },
    limits: { maxPacketBytes: 64 * 1024, maxConnections: 8, maxRetainedBytesPerClient: 100 * 1024, maxSubscriptionsPerClient: 12 },
  });
});

after(async () => {
  await broker.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a login needs a known user, its password, and the user name as client id', async () => {
  const anonymous = await tryLogin(broker.url, { clientId: 'x' });
  assert.equal(anonymous.ok, false);
  assert.equal(!anonymous.ok && anonymous.code, 5, 'not authorized');
  const wrong = await tryLogin(broker.url, { clientId: 'gw-1', username: 'gw-1', password: 'nope-nope' });
  assert.equal(!wrong.ok && wrong.code, 4, 'bad user name or password');
  const unknown = await tryLogin(broker.url, { clientId: 'who', username: 'who', password: PW.gw1 });
  assert.equal(!unknown.ok && unknown.code, 4);
  const otherId = await tryLogin(broker.url, { clientId: 'gw-1-b', username: 'gw-1', password: PW.gw1 });
  assert.equal(!otherId.ok && otherId.code, 2, 'identifier rejected');
  const ok = await login(broker.url, { clientId: 'gw-1', username: 'gw-1', password: PW.gw1 });
  ok.end(true);
});

test("another identity's client id is refused, so it cannot take over that session (finding 2)", async () => {
  const hub = await login(broker.url, { clientId: 'sitekd-hub', username: 'sitekd-hub', password: PW.hub });
  let hubClosed = 0;
  hub.on('close', () => hubClosed++);
  for (let i = 0; i < 5; i++) {
    const takeover = await tryLogin(broker.url, { clientId: 'sitekd-hub', username: 'gw-1', password: PW.gw1 });
    assert.equal(!takeover.ok && takeover.code, 2);
  }
  await sleep(200);
  assert.equal(hubClosed, 0, 'the hub was never disconnected');
  assert.equal(hub.connected, true);
  hub.end(true);
});

test("an agent writes only its own subtree and reads only its site's model, the hub's status and its sensors", async () => {
  const c = await login(broker.url, { clientId: 'gw-1', username: 'gw-1', password: PW.gw1 });
  assert.equal(await publishAccepted(c, 'sitekd/v1/site-a/gw-1/telemetry', '{}'), true);
  assert.equal(await subscribeGranted(c, 'sitekd/v1/site-a/gw-1/samples/ack'), 1);
  assert.equal(await subscribeGranted(c, 'sitekd/v1/site-a/model'), 1);
  assert.equal(await subscribeGranted(c, 'sitekd/v1/site-a/model/v1/chunk/+'), 1);
  assert.equal(await subscribeGranted(c, 'sitekd/v1/hub/status'), 1);
  assert.equal(await subscribeGranted(c, 'plant/a/imu'), 1);
  for (const filter of ['sitekd/v1/#', 'sitekd/v1/site-b/model', 'sitekd/v1/+/model', 'sitekd/v1/site-a/gw-2/samples/ack', 'plant/#', '#']) {
    assert.equal(await subscribeGranted(c, filter), 128, filter);
  }
  for (const topic of ['sitekd/v1/site-b/gw-1/samples', 'sitekd/v1/site-a/gw-2/samples', 'sitekd/v1/hub/cmd', 'sitekd/v1/site-a/model', 'sitekd/v1/site-a/model/v9/chunk/0', 'sitekd/v1/hub/status']) {
    const again = c.connected ? c : await login(broker.url, { clientId: 'gw-1', username: 'gw-1', password: PW.gw1 });
    assert.equal(await publishAccepted(again, topic, 'x'), false, `publish to ${topic} must be refused`);
  }
  assert.ok(broker.auth.stats.refusedPublish >= 6);
});

test('an operator reads everything and sends commands; a sensor only writes its topics', async () => {
  const ops = await login(broker.url, { clientId: 'ops', username: 'ops', password: PW.ops });
  assert.equal(await subscribeGranted(ops, 'sitekd/v1/#'), 1);
  assert.equal(await publishAccepted(ops, 'sitekd/v1/hub/cmd', '{}'), true);
  assert.equal(await publishAccepted(ops, 'sitekd/v1/site-a/model', 'x', { retain: true }), false);
  const sensor = await login(broker.url, { clientId: 'imu-a', username: 'imu-a', password: PW.sensor });
  assert.equal(await subscribeGranted(sensor, 'sitekd/v1/#'), 128);
  assert.equal(await publishAccepted(sensor, 'plant/a/imu', '{"ts":1,"values":[1]}'), true);
  assert.equal(await publishAccepted(sensor, 'plant/b/imu', 'x'), false);
  ops.end(true);
  sensor.end(true);
});

test('a delivery outside the read grants never reaches a client, and replies reach only their own client', async () => {
  const ops = await login(broker.url, { clientId: 'ops', username: 'ops', password: PW.ops });
  const gw = await login(broker.url, { clientId: 'gw-1', username: 'gw-1', password: PW.gw1 });
  assert.equal(await subscribeGranted(gw, 'sitekd/v1/hub/reply/gw-1'), 1);
  assert.equal(await subscribeGranted(gw, 'sitekd/v1/hub/reply/ops'), 128);
  ops.end(true);
  gw.end(true);
});

test('credentials added or removed under a running broker apply at once; a removed identity is disconnected', async () => {
  await addCredential(dir, { user: 'gw-9', role: 'agent', site: 'site-z', password: 'gw9-password' }, 0);
  const c = await login(broker.url, { clientId: 'gw-9', username: 'gw-9', password: 'gw9-password' });
  const closed = new Promise<void>((r) => c.once('close', () => r()));
  await removeCredential(dir, 'gw-9');
  await Promise.race([closed, sleep(5000).then(() => assert.fail('the removed identity stayed connected'))]);
  const again = await tryLogin(broker.url, { clientId: 'gw-9', username: 'gw-9', password: 'gw9-password' });
  assert.equal(again.ok, false);
  assert.equal(broker.auth.enrollable('site-z'), false);
  assert.equal(broker.auth.enrollable('site-a'), true);
});

test('a packet announcing more than the limit closes the connection before its body arrives (finding 1: 100 MB publishes)', async () => {
  const c = await login(broker.url, { clientId: 'gw-1', username: 'gw-1', password: PW.gw1 });
  assert.equal(await publishAccepted(c, 'sitekd/v1/site-a/gw-1/samples', Buffer.alloc(60 * 1024)), true, 'under the limit');
  assert.equal(await publishAccepted(c, 'sitekd/v1/site-a/gw-1/samples', Buffer.alloc(65 * 1024)), false, 'over the limit');
  // A raw socket announcing a 100 MB PUBLISH (remaining length 100,000,000) and sending only its first bytes.
  const rssBefore = process.memoryUsage().rss;
  const closedAfter = await new Promise<number>((resolve) => {
    const s = net.connect(broker.port, '127.0.0.1', () => {
      const len = 100_000_000;
      const header = [0x30];
      for (let x = len; ; ) {
        let b = x % 128;
        x = Math.floor(x / 128);
        if (x > 0) b |= 0x80;
        header.push(b);
        if (x === 0) break;
      }
      s.write(Buffer.from(header));
      s.write(Buffer.alloc(1024 * 1024));
    });
    let sent = 0;
    const t0 = Date.now();
    s.on('error', () => undefined);
    s.on('close', () => resolve(Date.now() - t0));
    const more = setInterval(() => {
      if (s.destroyed || sent > 50) return clearInterval(more);
      sent++;
      s.write(Buffer.alloc(1024 * 1024));
    }, 20);
  });
  assert.ok(closedAfter < 3000, `closed after ${closedAfter} ms`);
  assert.ok(process.memoryUsage().rss - rssBefore < 80 * 1024 * 1024, 'the broker did not buffer the announced 100 MB');
});

test('retained bytes are capped per identity (finding 1: 50 MB retained messages), and deleting frees the budget', async () => {
  const c = await login(broker.url, { clientId: 'gw-1', username: 'gw-1', password: PW.gw1 });
  const chunk = Buffer.alloc(40 * 1024, 1);
  assert.equal(await publishAccepted(c, 'sitekd/v1/site-a/gw-1/r/1', chunk, { retain: true }), true);
  assert.equal(await publishAccepted(c, 'sitekd/v1/site-a/gw-1/r/2', chunk, { retain: true }), true);
  assert.equal(await publishAccepted(c, 'sitekd/v1/site-a/gw-1/r/3', chunk, { retain: true }), false, 'over 100 KiB');
  const d = await login(broker.url, { clientId: 'gw-1', username: 'gw-1', password: PW.gw1 });
  assert.equal(await publishAccepted(d, 'sitekd/v1/site-a/gw-1/r/1', '', { retain: true }), true, 'deleting a retained message');
  assert.equal(await publishAccepted(d, 'sitekd/v1/site-a/gw-1/r/3', chunk, { retain: true }), true, 'fits again');
  // The hub's own retained messages (its models) are not bound by the per-identity cap.
  const hub = await login(broker.url, { clientId: 'sitekd-hub', username: 'sitekd-hub', password: PW.hub });
  for (let i = 0; i < 4; i++) assert.equal(await publishAccepted(hub, `sitekd/v1/site-a/model/v1/chunk/${i}`, chunk, { retain: true }), true);
  for (const x of [d, hub]) x.end(true);
});

test('subscriptions per client and sessions are capped', async () => {
  const c = await login(broker.url, { clientId: 'ops', username: 'ops', password: PW.ops });
  const granted: number[] = [];
  for (let i = 0; i < 14; i++) granted.push(await subscribeGranted(c, `sitekd/v1/site-${i}/+/status`));
  assert.deepEqual(granted.slice(0, 12), new Array(12).fill(1));
  assert.deepEqual(granted.slice(12), [128, 128]);
  c.end(true);
  // maxConnections = 8: with 8 sessions open the 9th is refused as "server unavailable".
  const ids = ['sitekd-hub', 'gw-1', 'ops', 'imu-a'];
  await addCredential(dir, { user: 'x1', role: 'operator', password: 'x-password' }, 0);
  await addCredential(dir, { user: 'x2', role: 'operator', password: 'x-password' }, 0);
  await addCredential(dir, { user: 'x3', role: 'operator', password: 'x-password' }, 0);
  await addCredential(dir, { user: 'x4', role: 'operator', password: 'x-password' }, 0);
  await addCredential(dir, { user: 'x5', role: 'operator', password: 'x-password' }, 0);
  const pw: Record<string, string> = { 'sitekd-hub': PW.hub, 'gw-1': PW.gw1, ops: PW.ops, 'imu-a': PW.sensor };
  const open = [];
  for (const u of [...ids, 'x1', 'x2', 'x3', 'x4']) open.push(await login(broker.url, { clientId: u, username: u, password: pw[u] ?? 'x-password' }));
  const ninth = await tryLogin(broker.url, { clientId: 'x5', username: 'x5', password: 'x-password' });
  assert.equal(!ninth.ok && ninth.code, 3);
  for (const o of open) o.end(true);
});
