/**
 * Shared set-up for the agent integration tests (not a test file itself): a real aedes broker on a free port, a
 * client that plays the hub, temp data dirs, small real student models, and signed manifests. Everything it creates
 * is closed or removed in `t.after`, so the test process exits on its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../hub/mqtt/broker';
import { startAgent, type RunningAgent } from '../../agent/main';
import { parseAgentConfig, type AgentConfig, type AgentConfigInput } from '../../agent/config';
import { silentLogger } from '../../shared/log';
import { encodeCnn } from '../../shared/artifact/cnn-artifact';
import { createCnn } from '../../shared/ml/cnn';
import { HAR_INPUT, specFor, type CnnSpec } from '../../shared/ml/model-spec';
import { splitChunks } from '../../shared/protocol/chunks';
import { encode } from '../../shared/protocol/codec';
import type { ModelManifest } from '../../shared/protocol/messages';
import { generateSigningKey, signManifest, type SigningKey } from '../../shared/protocol/signing';
import { modelChunkTopic, modelTopic } from '../../shared/protocol/topics';
import { MqttTransport } from '../../shared/transport/mqtt-transport';
import { createRng } from '../../shared/random';
import { freePort } from '../helpers/free-port';

export const SITE = 'site-a';
export const AGENT = 'gw-1';
export const SENSOR_TOPIC = 'plant/line1/imu';
export const HAR_SPEC: CnnSpec = specFor(HAR_INPUT, 'student');

export interface TestModel {
  readonly version: string;
  readonly bytes: Uint8Array;
  readonly spec: CnnSpec;
}

/** A real (untrained) student artifact; different seeds give different weights and sha256s. */
export function makeModel(version: string, seed: number, spec: CnnSpec = HAR_SPEC): TestModel {
  const net = createCnn(spec, createRng(seed));
  try {
    return { version, spec, bytes: encodeCnn(net, { kind: 'student', version, algorithm: 'unikd', metrics: {} }) };
  } finally {
    for (const v of Object.values(net.vars)) v.dispose();
  }
}

export interface Published {
  readonly manifest: ModelManifest;
  readonly chunks: readonly Uint8Array[];
}

let createdAt = 1_700_000_000_000;

/** Chunks + a manifest signed by `key` (overrides are applied before signing unless `afterSigning`). */
export function prepareModel(
  model: { version: string; bytes: Uint8Array; spec: CnnSpec },
  key: SigningKey,
  opts: { chunkSize?: number; site?: string; specOverride?: CnnSpec } = {},
): Published {
  const split = splitChunks(model.bytes, opts.chunkSize ?? 8192);
  const manifest = signManifest(
    {
      site: opts.site ?? SITE,
      version: model.version,
      sha256: split.sha256,
      size: split.size,
      chunkSize: split.chunkSize,
      chunks: split.chunks.length,
      chunkSha256: [...split.chunkSha256],
      spec: opts.specOverride ?? model.spec,
      algorithm: 'unikd',
      metrics: { candidateAgreement: 0.9 },
      createdAt: (createdAt += 1000),
    },
    key.privateKeyPem,
    key.keyId,
  );
  return { manifest, chunks: split.chunks };
}

export interface Received {
  readonly topic: string;
  readonly payload: Buffer;
  readonly at: number;
}

/** A broker the tests can stop and start again on the same port. */
export type TestBroker = Pick<EmbeddedBroker, 'port' | 'url' | 'close'>;

/** A real Mosquitto on 127.0.0.1:`port` (MQTT 5 capable), no persistence, anonymous, in `dir`. */
async function startMosquitto(dir: string, port?: number): Promise<TestBroker> {
  const p = port ?? (await freePort());
  const conf = path.join(dir, `mosquitto-${p}.conf`);
  fs.writeFileSync(conf, `listener ${p} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  const child: ChildProcess = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const until = Date.now() + 5000;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const c = net.connect(p, '127.0.0.1', () => (c.end(), r(true)));
      c.once('error', () => r(false));
    });
    if (ok) break;
    if (Date.now() > until || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`mosquitto did not start on port ${p}`);
    }
    await sleep(30);
  }
  return {
    port: p,
    url: `mqtt://127.0.0.1:${p}`,
    async close() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface Harness {
  readonly broker: TestBroker;
  readonly kind: 'aedes' | 'mosquitto';
  /** Stops the broker (every client loses its connection and retained messages are gone) and starts a new one on the same port. */
  restartBroker(downMs?: number): Promise<void>;
  /** The test's own client, playing the hub. */
  readonly hub: MqttTransport;
  readonly key: SigningKey;
  readonly dir: string;
  config(overrides?: Partial<AgentConfigInput>): AgentConfig;
  start(config: AgentConfig): Promise<RunningAgent>;
  /** Every message on `filter` from now on. */
  collect(filter: string): Promise<Received[]>;
  publishChunks(p: Published, indices?: readonly number[], replace?: ReadonlyMap<number, Uint8Array>): Promise<void>;
  publishManifest(m: unknown, opts?: { raw?: Uint8Array; retain?: boolean }): Promise<void>;
  /** `n` readings of 9 channels at 50 Hz from `t0`, as JSON `{ts, values}`. */
  publishReadings(t0: number, n: number, opts?: { topic?: string; values?: (i: number) => number[] }): Promise<void>;
}

export function harmonic(i: number): number[] {
  return Array.from({ length: 9 }, (_, c) => Math.sin((i + c * 7) / 9) * (1 + c / 10));
}

export async function createHarness(t: TestContext, opts: { broker?: 'aedes' | 'mosquitto' } = {}): Promise<Harness> {
  const kind = opts.broker ?? 'aedes';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sitekd-agent-it-'));
  const startBroker = (port?: number): Promise<TestBroker> =>
    kind === 'mosquitto' ? startMosquitto(dir, port) : startEmbeddedBroker({ port: port ?? 0, security: 'anonymous' });
  let broker = await startBroker();
  const hub = await MqttTransport.connect({
    url: broker.url,
    clientId: `test-hub-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    protocol: kind === 'mosquitto' ? 5 : 4,
    reconnectPeriodMs: 200,
  });
  const key = generateSigningKey();
  const agents: RunningAgent[] = [];
  t.after(async () => {
    for (const a of agents) await a.stop().catch(() => undefined);
    await hub.close(true).catch(() => undefined);
    await broker.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  let n = 0;
  return {
    get broker() {
      return broker;
    },
    async restartBroker(downMs = 300) {
      await broker.close();
      await sleep(downMs);
      broker = await startBroker(broker.port);
    },
    kind,
    hub,
    key,
    dir,
    config(overrides = {}) {
      return parseAgentConfig({
        site: SITE,
        id: AGENT,
        broker: { url: broker.url, protocol: kind === 'mosquitto' ? 'auto' : 4, reconnectPeriodMs: 200 },
        sensors: [{ topic: SENSOR_TOPIC }],
        dataDir: path.join(dir, 'agent'),
        hubPublicKeyPem: key.publicKeyPem,
        backend: 'wasm',
        telemetryIntervalMs: 200,
        upload: { intervalMs: 100_000 },
        seed: 1,
        ...overrides,
      });
    },
    async start(config) {
      const a = await startAgent(config, { log: silentLogger });
      agents.push(a);
      await a.transport.waitConnected(5000);
      // The first connection subscribes; wait until the subscriptions are in place at the broker.
      await waitFor(() => a.agent.snapshot().state === 'running', 5000, 'agent running');
      await sleep(150);
      return a;
    },
    async collect(filter) {
      const out: Received[] = [];
      await hub.subscribe(filter, (topic, payload) => void out.push({ topic, payload, at: performance.now() }), 1);
      return out;
    },
    async publishChunks(p, indices, replace) {
      const which = indices ?? p.chunks.map((_, i) => i);
      for (const i of which) {
        const bytes = replace?.get(i) ?? (p.chunks[i] as Uint8Array);
        await hub.publish(modelChunkTopic(p.manifest.site, p.manifest.version, i), bytes, { qos: 1, retain: true });
      }
    },
    async publishManifest(m, opts = {}) {
      const site = (m as { site?: string } | undefined)?.site ?? SITE;
      await hub.publish(modelTopic(site), opts.raw ?? encode(m), { qos: 1, retain: opts.retain ?? true });
    },
    async publishReadings(t0, count, opts = {}) {
      const values = opts.values ?? harmonic;
      for (let i = 0; i < count; i++) {
        const body = JSON.stringify({ ts: t0 + i * 20, values: values(i + n) });
        await hub.publish(opts.topic ?? SENSOR_TOPIC, Buffer.from(body), { qos: 0 });
      }
      n += count;
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Polls `pred` every 20 ms; throws with `what` after `timeoutMs` × 2 (CI runs two test files at once on two cores,
 * next to training tests; a wait that succeeds costs only its real duration).
 */
export async function waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + 2 * timeoutMs;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out after ${2 * timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Writes a model artifact to a file in `dir` (for `modelFile`). */
export function writeModelFile(dir: string, model: TestModel): string {
  const file = path.join(dir, `${model.version}.skm`);
  fs.writeFileSync(file, model.bytes);
  return file;
}
