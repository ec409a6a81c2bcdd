/**
 * The embedded broker's TLS listener (a self-signed certificate made by openssl here), and the Mosquitto files of
 * `sitekd credentials export` enforced by the real Mosquitto: the same identities, passwords ($7$ lines) and policy
 * as the embedded broker, with `use_username_as_clientid` binding client ids as the embedded broker does.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { addCredential } from '../../hub/auth/credentials';
import { mosquitto, testNeeding, type Requirement } from '../helpers/requirements';
import { CLI, login, publishAccepted, runProgram, sleep, subscribeGranted, tryLogin } from './auth-helpers';
import { makeFixture, startHub, type Fixture } from './hub-fixture';

const OPENSSL: Requirement = {
  what: 'openssl', requiredInCi: true,
  missing: spawnSync('sh', ['-c', 'command -v openssl'], { stdio: 'ignore' }).status === 0 ? undefined : 'openssl is not on PATH',
};
let fx: Fixture;

before(() => {
  fx = makeFixture('tls');
});
after(() => fx.cleanup());

testNeeding(OPENSSL, 'with --tls-cert/--tls-key the embedded broker speaks only TLS, and the hub reaches it', {}, async () => {
  const cert = path.join(fx.dir, 'broker.crt');
  const key = path.join(fx.dir, 'broker.key');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=sitekd test broker',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'pipe' });
  assert.equal(r.status, 0, r.stderr.toString());
  const hub = await startHub(fx.config({ allowAnonymous: false, tlsCert: cert, tlsKey: key, stateDir: path.join(fx.dir, 'tls-state') }));
  try {
    assert.match(hub.url, /^mqtts:\/\//);
    await addCredential(path.join(fx.dir, 'tls-state'), { user: 'ops', role: 'operator', password: 'ops-password' }, 0);
    const ca = fs.readFileSync(cert, 'utf8');
    const ops = await login(hub.url, { clientId: 'ops', username: 'ops', password: 'ops-password', ca });
    assert.equal(await subscribeGranted(ops, 'sitekd/v1/hub/status'), 1);
    const status = await new Promise<string>((resolve) => ops.on('message', (t) => resolve(t)));
    assert.equal(status, 'sitekd/v1/hub/status');
    ops.end(true);
    const plain = await tryLogin(hub.url.replace('mqtts:', 'mqtt:'), { clientId: 'ops', username: 'ops', password: 'ops-password' }, 2000);
    assert.equal(plain.ok, false, 'plain MQTT is not served');
    const untrusted = await tryLogin(hub.url, { clientId: 'ops', username: 'ops', password: 'ops-password' }, 2000);
    assert.equal(untrusted.ok, false, 'a client that does not trust the certificate does not connect');
  } finally {
    await hub.stop();
  }
});

testNeeding(mosquitto(), 'Mosquitto with the exported password_file and acl_file enforces the same policy, client ids included', {}, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sitekd-mosq-export-'));
  fs.chmodSync(dir, 0o755); // Mosquitto started as root reads its files as the `mosquitto` user
  await addCredential(dir, { user: 'sitekd-hub', role: 'hub', password: 'hub-password' }, 0);
  await addCredential(dir, { user: 'gw-1', role: 'agent', site: 'site-a', password: 'gw1-password' }, 0);
  await addCredential(dir, { user: 'ops', role: 'operator', password: 'ops-password' }, 0);
  for (const format of ['passwd', 'acl']) {
    const r = await runProgram(process.execPath, [CLI, 'credentials', 'export', '--state-dir', dir, '--format', format]);
    assert.equal(r.code, 0, r.stderr);
    fs.writeFileSync(path.join(dir, format), r.stdout, { mode: 0o644 });
  }
  const port = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  fs.writeFileSync(path.join(dir, 'm.conf'), [
    'per_listener_settings true', `listener ${port} 127.0.0.1`, 'allow_anonymous false', `password_file ${path.join(dir, 'passwd')}`,
    `acl_file ${path.join(dir, 'acl')}`, 'use_username_as_clientid true', 'persistence false', '',
  ].join('\n'));
  const child = spawn('mosquitto', ['-c', path.join(dir, 'm.conf')], { stdio: 'ignore' });
  try {
    const url = `mqtt://127.0.0.1:${port}`;
    for (let i = 0; i < 100 && !(await tryLogin(url, { clientId: 'x', username: 'ops', password: 'ops-password' }, 500)).ok; i++) await sleep(50);
    assert.equal((await tryLogin(url, { clientId: 'anon' })).ok, false, 'anonymous refused');
    assert.equal((await tryLogin(url, { clientId: 'gw-1', username: 'gw-1', password: 'wrong-password' })).ok, false, 'wrong password refused');
    const hub = await login(url, { clientId: 'sitekd-hub', username: 'sitekd-hub', password: 'hub-password' });
    const got: string[] = [];
    hub.on('message', (t) => got.push(t));
    await subscribeGranted(hub, 'sitekd/v1/#');
    let hubClosed = 0;
    hub.on('close', () => hubClosed++);
    // gw-1 asking for the hub's client id is logged in as gw-1 (use_username_as_clientid): the hub stays connected.
    const gw = await login(url, { clientId: 'sitekd-hub', username: 'gw-1', password: 'gw1-password' });
    assert.equal(await publishAccepted(gw, 'sitekd/v1/site-a/gw-1/telemetry', '{}'), true);
    assert.equal(await publishAccepted(gw, 'sitekd/v1/hub/cmd', '{}'), true, 'Mosquitto acknowledges and drops');
    assert.equal(await publishAccepted(gw, 'sitekd/v1/site-a/model', 'x', { retain: true }), true);
    await sleep(300);
    assert.deepEqual(got, ['sitekd/v1/site-a/gw-1/telemetry'], 'only the allowed publish reached the hub');
    assert.equal(hubClosed, 0);
    gw.end(true);
    hub.end(true);
  } finally {
    child.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
