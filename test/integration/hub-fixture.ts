/**
 * Shared set-up for the hub integration tests (not a test file itself): a tiny synthetic dataset in the `--data`
 * layout (HAR-shaped 9×128, 6 classes, so specs match the agents'), a hub config with tiny epochs, plain MQTT
 * clients, sample batches as an agent would send them, and a `waitFor` helper. Everything lives in a temp dir the
 * caller removes.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { systemClock, type Clock } from '../../shared/clock';
import { writeDataset } from '../../shared/data/har';
import { defaultSyntheticSpec, generateSites, syntheticChannelNames, syntheticClassNames } from '../../shared/data/synthetic';
import type { Domain } from '../../shared/ml/types';
import { decode, encode, f32ToBytes } from '../../shared/protocol/codec';
import { HubReplySchema, JobEventSchema, type HubReply, type JobEvent, type SampleBatch } from '../../shared/protocol/messages';
import { hubJobsTopic, replyTopic } from '../../shared/protocol/topics';
import { MqttTransport } from '../../shared/transport/mqtt-transport';
import { parseHubConfig, type HubConfig, type HubConfigInput } from '../../hub/config';
import { Hub } from '../../hub/hub';
import { createLogger, type Logger } from '../../shared/log';
import { channelsFirstToLast } from '../../hub/store/windows';
import type { MlRunner } from '../../hub/worker/ml-runner';

export interface Fixture {
  readonly dir: string;
  readonly dataDir: string;
  readonly stateDir: string;
  /** `site-0` (the source) … `site-2`, channels-first. */
  readonly domains: readonly Domain[];
  config(overrides?: Partial<HubConfigInput>): HubConfig;
  cleanup(): void;
}

/** The synthetic data set of every fixture: three sites, 12 train and 4 test windows per class. */
export const FIXTURE_SPEC = { ...defaultSyntheticSpec.harLike, sites: 3, trainPerClass: 12, testPerClass: 4 };

export function makeFixture(name: string): Fixture {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `sitekd-${name}-`));
  const dataDir = path.join(dir, 'data');
  const stateDir = path.join(dir, 'state');
  const spec = FIXTURE_SPEC;
  const domains = generateSites(spec);
  writeDataset(dataDir, { name: 'SYN', classNames: syntheticClassNames(spec.numClasses), channelNames: syntheticChannelNames(spec.channels), domains });
  return {
    dir, dataDir, stateDir, domains,
    config: (overrides = {}) =>
      parseHubConfig({
        // Anonymous: these tests are about the hub's logic; test/integration/broker-auth*.test.ts cover authentication.
        allowAnonymous: true,
        data: dataDir, source: 'site-0', stateDir, mqttPort: 0, schedule: null, epochs: 1, teacherEpochs: 1,
        minTrainWindows: 16, minHeldOutWindows: 4, holdoutFraction: 0.3, shutdownTimeoutSeconds: 20, ...overrides,
      }),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** Logs to an array (shown when a test fails) unless SITEKD_TEST_LOG is set. */
export function testLogger(lines: string[]): Logger {
  if (process.env['SITEKD_TEST_LOG'] !== undefined) return createLogger({ stream: process.stderr, level: 'debug' });
  const push = (level: string) => (msg: string, fields?: Record<string, unknown>) => {
    lines.push(`${level} ${msg} ${fields === undefined ? '' : JSON.stringify(fields, (_k, v: unknown) => (v instanceof Error ? v.message : v))}`);
  };
  const log: Logger = { debug: () => undefined, info: push('info'), warn: push('warn'), error: push('error'), child: () => log };
  return log;
}

export async function startHub(config: HubConfig, lines: string[] = [], opts: { clock?: Clock; run?: MlRunner } = {}): Promise<Hub> {
  const hub = new Hub({ config, log: testLogger(lines), hubVersion: '0.0.0-test', clock: opts.clock ?? systemClock, ...(opts.run ? { run: opts.run } : {}) });
  try {
    await hub.start();
  } catch (err) {
    await hub.stop();
    throw err;
  }
  return hub;
}

export function connectClient(url: string, clientId: string): Promise<MqttTransport> {
  return MqttTransport.connect({ url, clientId, protocol: 'auto', reconnectPeriodMs: 200, maxPacketBytes: 64 * 1024 * 1024 }, 5000);
}

export interface Received {
  readonly topic: string;
  readonly payload: Buffer;
}

/** Subscribes and collects every message on `filter`. */
export async function collect(t: MqttTransport, filter: string): Promise<Received[]> {
  const got: Received[] = [];
  await t.subscribe(filter, (topic, payload) => {
    got.push({ topic, payload });
  });
  return got;
}

export async function waitFor<T>(what: string, fn: () => T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Windows `from … from+n-1` of a domain's train split as the SampleBatch an agent would publish. `selectedBy` (wire
 * codes) defaults to every window sampled uniformly; `null` leaves it out, as an agent that predates it does.
 */
export function makeBatch(
  domain: Domain,
  opts: { site: string; agent: string; batchId: string; from: number; n: number; selectedBy?: ReadonlyArray<0 | 1> | null },
): SampleBatch {
  const ws = domain.train;
  const per = ws.channels * ws.length;
  const x = ws.x.subarray(opts.from * per, (opts.from + opts.n) * per);
  const windows = channelsFirstToLast(x, opts.n, ws.channels, ws.length);
  const numClasses = 6;
  const logits = new Float32Array(opts.n * numClasses).map((_, i) => ((i * 7) % 5) - 2);
  return {
    batchId: opts.batchId, site: opts.site, agent: opts.agent, modelVersion: '1-00000000', channels: ws.channels, windowLength: ws.length,
    numClasses, n: opts.n, windows: f32ToBytes(windows), logits: f32ToBytes(logits),
    windowStarts: Array.from({ length: opts.n }, (_, i) => 1_700_000_000_000 + i * 1280), createdAt: 1_700_000_100_000,
    ...(opts.selectedBy === null ? {} : { selectedBy: [...(opts.selectedBy ?? new Array<0>(opts.n).fill(0))] }),
  };
}

export function encodeBatch(b: SampleBatch): Uint8Array {
  return encode(b);
}

/** Collects the hub's job events and the replies to `client` (an operator's view of commands). */
export async function watchJobsAndReplies(t: MqttTransport, client: string, events: JobEvent[], replies: HubReply[]): Promise<void> {
  await t.subscribe(hubJobsTopic(), (_t, p) => {
    const r = decode(JobEventSchema, p);
    if (r.ok) events.push(r.value);
  });
  await t.subscribe(replyTopic(client), (_t, p) => {
    const r = decode(HubReplySchema, p);
    if (r.ok) replies.push(r.value);
  });
}
