/**
 * A refused or kicked session (issue 8): the transport reports it (the hub and agents log it) and backs off
 * exponentially instead of retrying every second, on a real embedded broker with authentication.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { credentialsPath } from '../../hub/auth/credentials-file';
import { addCredential } from '../../hub/auth/credentials';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../hub/mqtt/broker';
import { MqttTransport, type SessionProblem } from '../../shared/transport/mqtt-transport';
import { sleep } from './auth-helpers';

let dir: string;
let broker: EmbeddedBroker;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sitekd-refused-'));
  await addCredential(dir, { user: 'gw-1', role: 'agent', site: 'site-a', password: 'gw1-password' }, 0);
  broker = await startEmbeddedBroker({ port: 0, security: { credentialsFile: credentialsPath(dir) } });
});

after(async () => {
  await broker.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a refused login is reported with its code and retried ever more slowly', async () => {
  const t = MqttTransport.create({ url: broker.url, clientId: 'gw-1', username: 'gw-1', password: 'wrong-password', protocol: 4, reconnectPeriodMs: 100 });
  const problems: SessionProblem[] = [];
  t.onSessionProblem((p) => problems.push(p));
  await sleep(1600);
  await t.close(true);
  assert.ok(problems.length >= 2 && problems.length <= 5, `${problems.length} attempts in 1.6 s (a fixed 100 ms period would make ~15)`);
  assert.equal(problems[0]?.kind, 'refused');
  assert.equal(problems[0]?.code, 4);
  const waits = problems.map((p) => p.retryInMs);
  for (let i = 1; i < waits.length; i++) assert.ok((waits[i] as number) > (waits[i - 1] as number), `back-off grows: ${waits.join(', ')}`);
});

test('a session closed right after it began (its client id taken by a newer session) is reported and backed off', async () => {
  const first = await MqttTransport.connect({ url: broker.url, clientId: 'gw-1', username: 'gw-1', password: 'gw1-password', protocol: 4, reconnectPeriodMs: 100 });
  const problems: SessionProblem[] = [];
  first.onSessionProblem((p) => problems.push(p));
  const second = await MqttTransport.connect({ url: broker.url, clientId: 'gw-1', username: 'gw-1', password: 'gw1-password', protocol: 4, reconnectPeriodMs: 100 });
  await sleep(1500);
  await first.close(true);
  await second.close(true);
  assert.ok(problems.length >= 1, 'the kicked session was reported');
  assert.equal(problems[0]?.kind, 'closed');
  assert.ok(problems.length <= 5, `${problems.length} short sessions in 1.5 s: backed off`);
});
