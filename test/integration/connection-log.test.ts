/**
 * Broker outages are logged by every process (issue 8, finding 6: "an agent that cannot reach its broker logs
 * nothing"). The agent and the simulator here; the hub in hub-lifecycle.test.ts. Real aedes broker, real MQTT.js.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { startAgent } from '../../agent/main';
import { parseAgentConfig } from '../../agent/config';
import { systemClock } from '../../shared/clock';
import type { Logger } from '../../shared/log';
import { logConnectionEvents } from '../../shared/transport/connection-log';
import { MqttTransport } from '../../shared/transport/mqtt-transport';
import { startEmbeddedBroker } from '../../hub/mqtt/broker';
import { ManualClock } from '../helpers/manual-clock';
import { freePort } from '../helpers/free-port';

interface Line {
  readonly level: string;
  readonly msg: string;
  readonly fields: Record<string, unknown>;
}

function capture(lines: Line[]): Logger {
  const push = (level: string) => (msg: string, fields: Record<string, unknown> = {}) => void lines.push({ level, msg, fields });
  const log: Logger = { debug: () => undefined, info: push('info'), warn: push('warn'), error: push('error'), child: () => log };
  return log;
}

/**
 * A free port below Linux's ephemeral range (32768-60999). Repeated connects to a closed port inside that range can
 * connect the client to itself (TCP simultaneous open picks the same local port), which is not "unreachable".
 */
async function waitFor(what: string, pred: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('an agent logs an unreachable broker, then the connection, its loss and its return', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sitekd-connlog-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const lines: Line[] = [];
  const config = parseAgentConfig({
    site: 'site-a', id: 'gw-1', broker: { url: `mqtt://127.0.0.1:${port}`, protocol: 4, reconnectPeriodMs: 100 },
    sensors: [{ topic: 'plant/imu' }], dataDir: path.join(dir, 'agent'), backend: 'cpu',
  });
  const agent = await startAgent(config, { log: capture(lines) });
  let broker: Awaited<ReturnType<typeof startEmbeddedBroker>> | undefined;
  const seen = (msg: string): boolean => lines.some((l) => l.msg === msg);
  try {
    await waitFor('unreachable warning', () => seen('broker unreachable'));
    const unreachable = lines.find((l) => l.msg === 'broker unreachable') as Line;
    assert.equal(unreachable.level, 'warn');
    assert.match(String(unreachable.fields['error']), /ECONNREFUSED/);
    // Rate-limited: more attempts fail meanwhile, and there is still one warning.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(lines.filter((l) => l.msg === 'broker unreachable').length, 1);
    broker = await startEmbeddedBroker({ port, security: 'anonymous' });
    await waitFor('reconnected', () => seen('broker reconnected'));
    assert.ok(Number(lines.find((l) => l.msg === 'broker reconnected')?.fields['failedAttempts']) >= 1);
    await broker.close();
    await waitFor('connection lost', () => lines.some((l) => l.msg === 'broker connection lost' && l.level === 'warn'));
  } finally {
    // Stopped with a broker up: a stop that publishes `offline` into a closed broker would wait for ever.
    if (broker === undefined || !agent.transport.connected) {
      await broker?.close();
      broker = await startEmbeddedBroker({ port, security: 'anonymous' });
      await waitFor('connected for the stop', () => agent.transport.connected).catch(() => undefined);
    }
    await agent.stop().catch(() => undefined);
    await broker.close();
  }
});

test('the simulator logs the loss of its broker and the reconnection (the same helper, wired in sim/cli.ts)', async () => {
  let broker = await startEmbeddedBroker({ port: 0, security: 'anonymous' });
  const lines: Line[] = [];
  const transport = await MqttTransport.connect({ url: broker.url, clientId: 'sim-connlog', protocol: 4, reconnectPeriodMs: 100 });
  logConnectionEvents(transport, { log: capture(lines), clock: systemClock, url: broker.url });
  try {
    await broker.close();
    await waitFor('connection lost', () => lines.some((l) => l.msg === 'broker connection lost'));
    broker = await startEmbeddedBroker({ port: broker.port, security: 'anonymous' });
    await waitFor('reconnected', () => lines.some((l) => l.msg === 'broker reconnected'));
  } finally {
    await transport.close(true);
    await broker.close();
  }
});

test('the unreachable warning repeats once per interval of the injected clock, with the attempts so far', () => {
  const clock = new ManualClock();
  const handlers: Record<string, Array<() => void>> = { connect: [], close: [] };
  const events = { lastError: new Error('connect ECONNREFUSED'), connected: false, on: (e: 'connect' | 'close', fn: () => void) => void handlers[e]?.push(fn) };
  const lines: Line[] = [];
  logConnectionEvents(events, { log: capture(lines), clock, url: 'mqtt://user:secret@broker:1883', warnIntervalMs: 30_000 });
  const fire = (e: string): void => handlers[e]?.forEach((fn) => fn());
  for (let i = 0; i < 100; i++) {
    fire('close');
    clock.advance(1000);
  }
  const warned = lines.filter((l) => l.msg === 'broker unreachable');
  assert.deepEqual(warned.map((l) => l.fields['failedAttempts']), [1, 31, 61, 91]);
  assert.equal(warned[0]?.fields['url'], 'mqtt://***@broker:1883');
});
