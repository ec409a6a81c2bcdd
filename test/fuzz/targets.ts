/**
 * The fuzz targets: every decoder and inbound handler, built from real parts (real stores on temp files, a real aedes
 * broker and MQTT.js client for the agent's updater), fed hostile payloads (test/fuzz/payloads.ts). A target's `run`
 * throws on a crash: an exception out of the handler, an unexpected-error drop (JOB_FAILED stands in for a bug), or a
 * broken invariant (a reply outside the reply subtree, a non-finite window, a drop code no input should produce).
 * Used by test/unit/fuzz.test.ts (a few thousand cases in `npm test`) and test/fuzz/run.ts (`npm run fuzz`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import type { ZodType } from 'zod';
import { SensorIntake } from '../../agent/sensor-intake';
import { ModelUpdater } from '../../agent/model-updater';
import { ModelStore } from '../../agent/model-store';
import type { InboundKind } from '../../agent/agent-transport';
import { DropCounter } from '../../shared/drop-counter';
import { ErrorCode, SitekdError } from '../../shared/errors';
import { silentLogger } from '../../shared/log';
import { HAR_INPUT } from '../../shared/ml/model-spec';
import { decode, encode } from '../../shared/protocol/codec';
import { EXAMPLES, makeAgentStatus, makeHubCommand, makeManifest, makeSampleBatch, makeTelemetry } from '../../shared/protocol/examples';
import * as messages from '../../shared/protocol/messages';
import { parseTopic, samplesTopic, statusTopic, telemetryTopic } from '../../shared/protocol/topics';
import { MqttTransport } from '../../shared/transport/mqtt-transport';
import { startEmbeddedBroker } from '../../hub/mqtt/broker';
import { CommandHandler } from '../../hub/mqtt/commands';
import { Inbound } from '../../hub/mqtt/inbound';
import { SiteRegistry } from '../../hub/sites/site-registry';
import { SampleStore } from '../../hub/store/sample-store';
import { ManualClock } from '../helpers/manual-clock';
import { hostilePayload, sensorPayload } from './payloads';

export interface FuzzTarget {
  readonly name: string;
  readonly arbitrary: fc.Arbitrary<unknown>;
  run(input: unknown): Promise<void>;
}

export interface FuzzSetup {
  readonly targets: readonly FuzzTarget[];
  close(): Promise<void>;
}

const MAX_BYTES = 256 * 1024;
const plain = (o: unknown): Record<string, unknown> => o as Record<string, unknown>;

function noUnexpected(drops: DropCounter<string>, what: string): void {
  if (drops.count(ErrorCode.JOB_FAILED) > 0) throw new Error(`${what}: a handler failed unexpectedly (JOB_FAILED drop)`);
}

/** decode() with every schema: ok and valid, or MSG_DECODE / MSG_SCHEMA / PAYLOAD_TOO_LARGE; never a throw. */
function codecTarget(): FuzzTarget {
  const schemas = Object.keys(EXAMPLES).map((name) => {
    const valid = plain((EXAMPLES as Record<string, () => unknown>)[name]?.());
    return { name, schema: (messages as Record<string, unknown>)[`${name}Schema`] as ZodType, payload: hostilePayload(valid, encode(valid), 64 * 1024) };
  });
  const allowed: readonly string[] = [ErrorCode.MSG_DECODE, ErrorCode.MSG_SCHEMA, ErrorCode.PAYLOAD_TOO_LARGE];
  return {
    name: 'codec (every schema)',
    arbitrary: fc.nat({ max: schemas.length - 1 }).chain((i) => fc.tuple(fc.constant(i), (schemas[i] as (typeof schemas)[number]).payload)),
    async run(input) {
      const [i, bytes] = input as [number, Uint8Array];
      const s = schemas[i] as (typeof schemas)[number];
      const r = decode(s.schema, bytes, { maxBytes: 64 * 1024 });
      if (r.ok ? !s.schema.safeParse(r.value).success : !allowed.includes(r.error.code)) throw new Error(`${s.name}: ${r.ok ? 'invalid value' : r.error.code}`);
    },
  };
}

async function hubTargets(dir: string, clock: ManualClock): Promise<FuzzTarget[]> {
  const drops = new DropCounter({ clock, log: silentLogger });
  const store = await SampleStore.open(path.join(dir, 'samples'), { now: () => clock.now(), maxWindowsPerSite: 2000 });
  const registry = await SiteRegistry.open(path.join(dir, 'registry.json'), { now: () => clock.now() });
  const published: string[] = [];
  const publish = async (topic: string): Promise<void> => void published.push(topic);
  const inbound = new Inbound({
    publish, store, registry, drops, input: HAR_INPUT, maxPayloadBytes: MAX_BYTES, log: silentLogger,
    servesSite: (site) => site === 'site-1', onSamplesStored: () => undefined, onAgentOnline: () => undefined,
  });
  const commands = new CommandHandler({
    publish, drops, maxPayloadBytes: MAX_BYTES, log: silentLogger,
    redistill: (site) => {
      if (site !== 'site-1') throw new SitekdError(ErrorCode.SITE_UNKNOWN, `unknown site ${site}`);
      return { jobId: 'j-1', state: 'queued', coalesced: true };
    },
    rollback: async (site) => {
      if (site !== 'site-1') throw new SitekdError(ErrorCode.SITE_UNKNOWN, `unknown site ${site}`);
      throw new SitekdError(ErrorCode.MODEL_VERSION_UNKNOWN, 'site-1 serves no version yet');
    },
    hubStatus: () => ({ state: 'online' }), siteStatus: () => ({ site: 'site-1' }), sites: () => [{ site: 'site-1' }],
  });
  const topics = [samplesTopic('site-1', 'gw-1'), statusTopic('site-1', 'gw-1'), telemetryTopic('site-1', 'gw-1')];
  const valids = [plain(makeSampleBatch({ site: 'site-1', agent: 'gw-1' })), plain(makeAgentStatus()), plain(makeTelemetry())];
  const inboundArb = fc.nat({ max: 2 }).chain((k) =>
    fc.tuple(fc.constant(k), hostilePayload(valids[k] as Record<string, unknown>, encode(valids[k]), MAX_BYTES), fc.option(fc.stringMatching(/^[A-Za-z0-9_-]{8,16}$/), { nil: undefined, freq: 8 })),
  );
  const command = plain(makeHubCommand({ cmd: 'status' }));
  const commandArb = fc.oneof(
    hostilePayload(command, encode(command), MAX_BYTES),
    fc.record({ id: fc.string({ minLength: 1, maxLength: 8 }), cmd: fc.constantFrom('redistill', 'rollback', 'status', 'sites'), to: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }), site: fc.option(fc.constantFrom('site-1', 'site-2'), { nil: undefined }), replyTo: fc.option(fc.string({ maxLength: 80 }), { nil: undefined }) })
      .map((c) => encode(c)),
  );
  return [
    {
      name: 'hub inbound (samples, status, telemetry)',
      arbitrary: inboundArb,
      async run(input) {
        const [k, bytes, batchId] = input as [number, Uint8Array, string | undefined];
        // A valid batch under a fresh id now and then, so the store's write path is exercised too, not only dedup.
        const payload = k === 0 && batchId !== undefined ? encode({ ...valids[0], batchId }) : bytes;
        await inbound.handle(topics[k] as string, payload);
        noUnexpected(drops, 'inbound');
      },
    },
    {
      name: 'hub commands',
      arbitrary: commandArb,
      async run(input) {
        published.length = 0;
        await commands.handle(input as Uint8Array);
        noUnexpected(drops, 'commands');
        for (const topic of published) if (parseTopic(topic)?.kind !== 'reply') throw new Error(`a reply went to ${topic}`);
      },
    },
  ];
}

function sensorTarget(clock: ManualClock): FuzzTarget {
  const drops = new DropCounter<InboundKind>({ clock, log: silentLogger });
  let bad = 0;
  const channels = ['a', 'b', 'c'];
  const intake = new SensorIntake({
    channels, sources: [{ topic: 'plant/imu', format: 'auto', channels }], sampleRateHz: 50, windowLength: 16, stride: 8,
    reorderMs: 100, maxPayloadBytes: 65_536, maxClockSkewMs: 5000, now: () => clock.now(), drops,
    onReadings: () => undefined, onWindow: (w) => void (bad += w.every((v) => Number.isFinite(v)) ? 0 : 1),
  });
  const allowed = new Set<string>([ErrorCode.READING_INVALID, ErrorCode.READING_TOO_LARGE, ErrorCode.READING_OUT_OF_RANGE, ErrorCode.READING_FUTURE]);
  return {
    name: 'agent sensor intake (parser + window buffer)',
    arbitrary: sensorPayload(() => clock.now(), channels.length),
    async run(input) {
      clock.advance(20);
      intake.onMessage('plant/imu', input as Uint8Array);
      if (bad > 0) throw new Error('a window with a non-finite value');
      const unexpected = Object.keys(drops.byCode()).filter((c) => !allowed.has(c));
      if (unexpected.length > 0) throw new Error(`unexpected drop codes ${unexpected.join()}`);
    },
  };
}

async function updaterTarget(dir: string, clock: ManualClock): Promise<{ target: FuzzTarget; close: () => Promise<void> }> {
  const broker = await startEmbeddedBroker({ port: 0, security: 'anonymous' });
  const transport = await MqttTransport.connect({ url: broker.url, clientId: 'fuzz-agent', protocol: 4 });
  const drops = new DropCounter<InboundKind>({ clock, log: silentLogger });
  const store = await ModelStore.open({ dir: path.join(dir, 'models'), now: () => clock.now(), log: silentLogger });
  const updater = new ModelUpdater({
    site: 'site-1', shape: { channels: 9, windowLength: 128 }, trustedKeys: [], store, transport, drops, log: silentLogger,
    maxManifestBytes: MAX_BYTES, current: () => null, recentWindows: () => [], activate: () => undefined,
  });
  const manifest = plain(makeManifest({ site: 'site-1' }));
  const target: FuzzTarget = {
    name: 'agent model updater (manifests, chunks)',
    arbitrary: fc.tuple(fc.boolean(), hostilePayload(manifest, encode(manifest), MAX_BYTES), fc.nat({ max: 70_000 })),
    async run(input) {
      const [isManifest, bytes, index] = input as [boolean, Uint8Array, number];
      if (isManifest) updater.onManifest('sitekd/v1/site-1/model', bytes);
      else updater.onChunk(`sitekd/v1/site-1/model/${String(manifest['version'])}/chunk/${index}`, bytes);
      noUnexpected(drops, 'updater');
    },
  };
  return { target, close: async () => (await updater.stop(), await transport.close(true), await broker.close()) };
}

/** Builds every target in `dir` (created; the caller removes it). */
export async function createTargets(dir: string): Promise<FuzzSetup> {
  fs.mkdirSync(dir, { recursive: true });
  const clock = new ManualClock(Date.now());
  const hub = await hubTargets(path.join(dir, 'hub'), clock);
  const updater = await updaterTarget(path.join(dir, 'agent'), clock);
  return { targets: [codecTarget(), ...hub, sensorTarget(clock), updater.target], close: updater.close };
}
