/**
 * deploy/ as shipped, run: Mosquitto with deploy/mosquitto/mosquitto.conf and acl (ports, certificate, password,
 * persistence and log paths moved to a temp dir, nothing else), its password_file from `sitekd credentials export`,
 * and the three programs as separate processes through it: the hub from deploy/config/hub.example.json (data and
 * broker port adapted; the fixture's tiny dataset instead of HAR), the agent gw-1 from agent.example.json over TLS
 * with a client certificate made here by openssl (broker URL and file paths adapted), and `sitekd sim` with its
 * defaults (topic root `sim`, sites site-1 …) as the ACL's sitekd-sim user. It passes when gw-1 publishes predictions
 * from the readings the simulator sends — i.e. when the ACL, the simulator's defaults and the example configs agree —
 * and the hub's /metrics (the port prometheus.yml scrapes, here a free one) shows the agent online.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after } from 'node:test';
import { addCredential } from '../../hub/auth/credentials';
import { repoRoot } from '../helpers/repo-root';
import { mosquitto, testNeeding, type Requirement } from '../helpers/requirements';
import { CLI, login, runProgram, sleep, subscribeGranted, tryLogin } from './auth-helpers';
import { makeFixture } from './hub-fixture';

const OPENSSL: Requirement = {
  what: 'openssl', requiredInCi: true,
  missing: spawnSync('sh', ['-c', 'command -v openssl'], { stdio: 'ignore' }).status === 0 ? undefined : 'openssl is not on PATH',
};
const both: Requirement = (() => {
  const m = mosquitto();
  return m.missing !== undefined ? m : OPENSSL;
})();

const ROOT = repoRoot(__dirname);
const DEPLOY = path.join(ROOT, 'deploy');
const PW = { hub: 'hub-password-1', ops: 'ops-password-1', sim: 'sim-password-1' };
const children: ChildProcess[] = [];
const fx = makeFixture('deploy');

after(async () => {
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
  fx.cleanup();
});

const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });

function openssl(dir: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  assert.equal(r.status, 0, r.stderr.toString());
}

/** A fleet CA, the broker's certificate for 127.0.0.1 and gw-1's client certificate, as deploy/mosquitto/README.md. */
function makeCertificates(dir: string): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(dir, ['req', '-x509', ...ec, '-days', '1', '-subj', '/CN=sitekd test CA', '-keyout', 'sitekd-ca.key', '-out', 'sitekd-ca.crt']);
  for (const [name, ext] of [['broker', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'], ['gw-1', 'extendedKeyUsage=clientAuth\n']] as const) {
    openssl(dir, ['req', ...ec, '-subj', `/CN=${name === 'broker' ? '127.0.0.1' : name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`]);
    fs.writeFileSync(path.join(dir, `${name}.ext`), ext);
    openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'sitekd-ca.crt', '-CAkey', 'sitekd-ca.key', '-CAcreateserial', '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.crt`]);
  }
}

/** The shipped mosquitto.conf with only ports and paths replaced; each replacement must find its line. */
function mosquittoConf(dir: string, tlsPort: number, plainPort: number): string {
  let conf = fs.readFileSync(path.join(DEPLOY, 'mosquitto', 'mosquitto.conf'), 'utf8');
  const swap = (from: string | RegExp, to: string): void => {
    const next = conf.replace(from, to);
    assert.notEqual(next, conf, `mosquitto.conf has no ${String(from)}`);
    conf = next;
  };
  swap(/^listener 8883$/m, `listener ${tlsPort} 127.0.0.1`);
  swap(/^listener 1883 127\.0\.0\.1$/m, `listener ${plainPort} 127.0.0.1`);
  swap(/\/etc\/mosquitto\/certs\//g, `${dir}/`);
  swap(/\/etc\/mosquitto\/sitekd\.acl/g, path.join(dir, 'sitekd.acl'));
  swap('/etc/mosquitto/sitekd.passwd', path.join(dir, 'sitekd.passwd'));
  swap('persistence_location /var/lib/mosquitto/', `persistence_location ${dir}/persist/`);
  swap(/^log_dest syslog$/m, `log_dest file ${dir}/mosquitto.log`);
  return conf;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, logs: () => string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) assert.fail(`${what} within ${timeoutMs} ms\n${logs()}`);
    await sleep(250);
  }
}

function start(name: string, args: string[], env: NodeJS.ProcessEnv, out: string[]): ChildProcess {
  const c = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  for (const s of [c.stdout, c.stderr]) {
    s?.on('data', (b: Buffer) => {
      out.push(...b.toString().split('\n').filter(Boolean).map((l) => `${name}: ${l}`));
      if (out.length > 400) out.splice(0, out.length - 400);
    });
  }
  children.push(c);
  return c;
}

testNeeding(both, 'the shipped Mosquitto config, ACL and example configs carry sim readings to gw-1 and its predictions out', { timeout: 240_000 }, async () => {
  const dir = path.join(fx.dir, 'deploy');
  const state = path.join(fx.dir, 'hub-state');
  fs.mkdirSync(path.join(dir, 'persist'), { recursive: true });
  makeCertificates(dir);
  // Mosquitto started as root reads its files, and writes its persistence, as the `mosquitto` user.
  for (const f of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, f), 0o755);
  fs.chmodSync(path.join(dir, 'persist'), 0o777);
  fs.chmodSync(fx.dir, 0o755);
  fs.chmodSync(dir, 0o755);

  // Identities of the loopback listener, their passwords exported for Mosquitto; gw-1 logs in by certificate.
  await addCredential(state, { user: 'sitekd-hub', role: 'hub', password: PW.hub }, 0);
  await addCredential(state, { user: 'ops', role: 'operator', password: PW.ops }, 0);
  await addCredential(state, { user: 'sitekd-sim', role: 'sensor', topics: ['sim/site-1/imu'], password: PW.sim }, 0);
  const passwd = await runProgram(process.execPath, [CLI, 'credentials', 'export', '--state-dir', state, '--format', 'passwd']);
  assert.equal(passwd.code, 0, passwd.stderr);
  fs.writeFileSync(path.join(dir, 'sitekd.passwd'), passwd.stdout, { mode: 0o644 });
  fs.copyFileSync(path.join(DEPLOY, 'mosquitto', 'acl'), path.join(dir, 'sitekd.acl'));
  fs.chmodSync(path.join(dir, 'sitekd.acl'), 0o644);

  const [tlsPort, plainPort, httpPort] = [await freePort(), await freePort(), await freePort()];
  fs.writeFileSync(path.join(dir, 'mosquitto.conf'), mosquittoConf(dir, tlsPort, plainPort), { mode: 0o644 });
  const out: string[] = [];
  const logs = (): string => [...out.slice(-40), ...(fs.existsSync(`${dir}/mosquitto.log`) ? fs.readFileSync(`${dir}/mosquitto.log`, 'utf8').split('\n').slice(-15) : [])].join('\n');
  const broker = spawn('mosquitto', ['-c', path.join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  broker.stderr?.on('data', (b: Buffer) => out.push(`mosquitto: ${b.toString().trim()}`));
  children.push(broker);
  const plain = `mqtt://127.0.0.1:${plainPort}`;
  await waitFor('Mosquitto accepts ops', async () => {
    const r = await tryLogin(plain, { clientId: 'ops', username: 'ops', password: PW.ops }, 500);
    if (r.ok) r.client.end(true);
    return r.ok ? true : undefined;
  }, 10_000, logs);

  // The hub: the example config with the fixture's data and the test ports; its state in STATE_DIRECTORY as under systemd.
  const hubConfig = JSON.parse(fs.readFileSync(path.join(DEPLOY, 'config', 'hub.example.json'), 'utf8')) as Record<string, unknown>;
  Object.assign(hubConfig, { data: fx.dataDir, source: 'site-0', broker: plain, httpPort });
  fs.writeFileSync(path.join(dir, 'hub.json'), JSON.stringify(hubConfig));
  start('hub', ['hub', '--config', path.join(dir, 'hub.json'), '--log-json'], { STATE_DIRECTORY: state, SITEKD_MQTT_PASSWORD: PW.hub }, out);
  const http = `http://127.0.0.1:${httpPort}`;
  await waitFor('the hub ready (teacher, generic student, broker)', async () => ((await fetch(`${http}/readyz`)).ok ? true : undefined), 150_000, logs);

  // gw-1: the example config over TLS with its certificate; the hub's public key as the README says to copy it.
  const agentConfig = JSON.parse(fs.readFileSync(path.join(DEPLOY, 'config', 'agent.example.json'), 'utf8')) as Record<string, Record<string, unknown>>;
  Object.assign(agentConfig['broker'] as object, { url: `mqtts://127.0.0.1:${tlsPort}`, caFile: path.join(dir, 'sitekd-ca.crt'), certFile: path.join(dir, 'gw-1.crt'), keyFile: path.join(dir, 'gw-1.key') });
  Object.assign(agentConfig, { dataDir: path.join(fx.dir, 'agent'), hubPublicKeyFile: path.join(state, 'keys', 'hub-ed25519.pub.pem') });
  fs.writeFileSync(path.join(dir, 'agent.json'), JSON.stringify(agentConfig));
  const site = agentConfig['site'] as unknown as string;
  const ops = await login(plain, { clientId: 'ops', username: 'ops', password: PW.ops });
  const predictions: string[] = [];
  ops.on('message', (t) => predictions.push(t));
  assert.notEqual(await subscribeGranted(ops, `sitekd/v1/${site}/gw-1/predictions`), 128);
  start('agent', ['agent', '--config', path.join(dir, 'agent.json')], {}, out);
  // The simulator with its defaults but the broker's port, as sitekd-sim.
  start('sim', ['sim', '--sites', '1', '--synthetic', '--speed', '5', '--broker', plain, '--username', 'sitekd-sim', '--print-interval', '0'], { SITEKD_MQTT_PASSWORD: PW.sim }, out);

  try {
    await waitFor('gw-1 publishes predictions', async () => (predictions.length > 0 ? true : undefined), 90_000, logs);
    const metrics = await waitFor('/metrics shows gw-1 online', async () => {
      const text = await (await fetch(`${http}/metrics`)).text();
      return /^sitekd_agents_online\{site="site-1"\} 1$/m.test(text) ? text : undefined;
    }, 30_000, logs);
    assert.match(metrics, /^sitekd_hub_ready 1$/m);
  } finally {
    ops.end(true);
  }
});
