/**
 * Shared pieces of the end-to-end fleet test (not a test file itself): an observer client that records everything the
 * fleet says on `sitekd/v1/#` the way an operator's `mosquitto_sub` would (decoded with the protocol schemas), the
 * model artifacts it saw go by (reassembled from the retained chunks and checked against the signed manifest), the
 * scoring of an artifact on labelled windows, bounded waits that say what they were waiting for, and what an
 * agent, the observer and the hub each count of a site's returned windows.
 */
import type { RunningAgent } from '../../agent/main';
import { decodeCnnArtifact, cnnFromArtifact } from '../../shared/artifact/cnn-artifact';
import { evaluate, type Score } from '../../shared/ml/evaluate';
import type { WindowSet } from '../../shared/ml/types';
import { ChunkAssembler } from '../../shared/protocol/chunks';
import { decode } from '../../shared/protocol/codec';
import {
  AgentStatusSchema,
  HubReplySchema,
  JobEventSchema,
  ModelManifestSchema,
  PredictionSchema,
  SampleAckSchema,
  SampleBatchSchema,
  type AgentStatus,
  type JobEvent,
  type ModelManifest,
  type SampleAck,
} from '../../shared/protocol/messages';
import { verifyManifest } from '../../shared/protocol/signing';
import { hubCmdTopic, parseTopic, replyTopic } from '../../shared/protocol/topics';
import { MqttTransport } from '../../shared/transport/mqtt-transport';

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `fn` (sync or async) every 25 ms until it returns something other than undefined/false; throws with `what` (and `detail()`) after `timeoutMs`. */
export async function waitUntil<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
  detail?: () => string,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `\n${detail()}` : ''}`);
    await sleep(25);
  }
}

/**
 * Polls `fn` until it returns the same `key` for `steadyMs` in a row, then returns that poll's value: the figures of
 * a system that has gone quiet, not one lucky sample of a moving one. `fn` returns undefined while they disagree.
 */
export async function waitSteady<T>(
  what: string,
  fn: () => Promise<{ key: string; value: T } | undefined>,
  steadyMs: number,
  timeoutMs: number,
  detail?: () => string,
): Promise<T> {
  let since: { key: string; at: number } | undefined;
  return waitUntil(what, async () => {
    const v = await fn();
    if (v === undefined) {
      since = undefined;
      return undefined;
    }
    if (since?.key !== v.key) since = { key: v.key, at: Date.now() };
    return Date.now() - since.at >= steadyMs ? v.value : undefined;
  }, timeoutMs, detail);
}

export interface SeenBatch {
  readonly batchId: string;
  readonly site: string;
  readonly agent: string;
  readonly n: number;
  readonly windowStarts: readonly number[];
  /** Times this batch id was published (> 1: the agent resent it). */
  publishes: number;
}

export interface SeenPrediction {
  readonly modelVersion: string;
  readonly windowStart: number;
  readonly at: number;
}

export interface SeenManifest {
  readonly manifest: ModelManifest;
  /** Wall-clock ms when the observer received it. */
  readonly at: number;
}

/** Everything on `sitekd/v1/#`, decoded, with arrival times. Payloads that fail their schema are counted by topic kind. */
export class Observer {
  readonly statuses = new Map<string, Array<{ status: AgentStatus; at: number }>>();
  readonly predictions = new Map<string, SeenPrediction[]>();
  readonly telemetry = new Map<string, number>();
  readonly batches = new Map<string, SeenBatch>();
  readonly acks = new Map<string, SampleAck[]>();
  readonly manifests: SeenManifest[] = [];
  readonly jobs: Array<JobEvent & { at: number }> = [];
  readonly invalid = new Map<string, number>();
  /** Chunk topics whose retained copy was cleared (an empty retained payload, after a rollout). */
  readonly clearedChunks = new Set<string>();
  /** Non-empty chunk payloads by topic. */
  private readonly chunks = new Map<string, Buffer>();
  private readonly replies = new Map<string, Record<string, unknown>>();
  private nextId = 0;

  private constructor(
    readonly transport: MqttTransport,
    readonly clientId: string,
  ) {}

  static async start(url: string, clientId: string): Promise<Observer> {
    const t = await MqttTransport.connect({ url, clientId, protocol: 'auto', reconnectPeriodMs: 200, maxPacketBytes: 64 * 1024 * 1024 }, 10_000);
    const o = new Observer(t, clientId);
    await t.subscribe('sitekd/v1/#', (topic, payload) => o.onMessage(topic, payload), 1);
    return o;
  }

  private bad(kind: string): void {
    this.invalid.set(kind, (this.invalid.get(kind) ?? 0) + 1);
  }

  private onMessage(topic: string, payload: Buffer): void {
    const now = Date.now();
    const t = parseTopic(topic);
    if (t === undefined) return;
    const key = 'agent' in t ? `${t.site}/${t.agent}` : 'site' in t ? t.site : '';
    switch (t.kind) {
      case 'status': {
        if (payload.length === 0) return;
        const r = decode(AgentStatusSchema, payload);
        if (!r.ok) return this.bad(t.kind);
        push(this.statuses, key, { status: r.value, at: now });
        return;
      }
      case 'predictions': {
        const r = decode(PredictionSchema, payload);
        if (!r.ok) return this.bad(t.kind);
        push(this.predictions, key, { modelVersion: r.value.modelVersion, windowStart: r.value.windowStart, at: now });
        return;
      }
      case 'telemetry':
        this.telemetry.set(key, (this.telemetry.get(key) ?? 0) + 1);
        return;
      case 'samples': {
        const r = decode(SampleBatchSchema, payload, { maxBytes: 64 * 1024 * 1024 });
        if (!r.ok) return this.bad(t.kind);
        const b = r.value;
        const seen = this.batches.get(b.batchId);
        if (seen !== undefined) seen.publishes++;
        else this.batches.set(b.batchId, { batchId: b.batchId, site: b.site, agent: b.agent, n: b.n, windowStarts: b.windowStarts, publishes: 1 });
        return;
      }
      case 'samplesAck': {
        const r = decode(SampleAckSchema, payload);
        if (!r.ok) return this.bad(t.kind);
        push(this.acks, r.value.batchId, r.value);
        return;
      }
      case 'model': {
        if (payload.length === 0) return;
        const r = decode(ModelManifestSchema, payload);
        if (!r.ok) return this.bad(t.kind);
        this.manifests.push({ manifest: r.value, at: now });
        return;
      }
      case 'modelChunk':
        if (payload.length > 0) this.chunks.set(topic, Buffer.from(payload));
        else this.clearedChunks.add(topic);
        return;
      case 'hubJobs': {
        const r = decode(JobEventSchema, payload);
        if (!r.ok) return this.bad(t.kind);
        this.jobs.push({ ...r.value, at: now });
        return;
      }
      case 'reply': {
        const r = decode(HubReplySchema, payload);
        if (!r.ok) return this.bad(t.kind);
        this.replies.set(r.value.id, r.value as unknown as Record<string, unknown>);
        return;
      }
      default:
        return;
    }
  }

  /** The newest online status of `site/agent`. */
  status(site: string, agent: string): Extract<AgentStatus, { state: 'online' }> | undefined {
    const list = this.statuses.get(`${site}/${agent}`) ?? [];
    const last = list.at(-1)?.status;
    return last?.state === 'online' ? last : undefined;
  }

  /** When `site/agent` first reported `version` in an online status. */
  statusSince(site: string, agent: string, version: string): number | undefined {
    return (this.statuses.get(`${site}/${agent}`) ?? []).find((s) => s.status.state === 'online' && s.status.modelVersion === version)?.at;
  }

  predictionsOf(site: string, agent: string, version?: string): SeenPrediction[] {
    const all = this.predictions.get(`${site}/${agent}`) ?? [];
    return version === undefined ? all : all.filter((p) => p.modelVersion === version);
  }

  manifest(site: string, version?: string): SeenManifest | undefined {
    return this.manifests.filter((m) => m.manifest.site === site && (version === undefined || m.manifest.version === version)).at(-1);
  }

  /** The artifact bytes of a published version, reassembled from the chunks seen and checked (sizes, sha256s, signature). */
  artifact(manifest: ModelManifest, trustedKeyPem: string): Uint8Array {
    const v = verifyManifest(manifest, trustedKeyPem);
    if (!v.ok) throw new Error(`manifest ${manifest.site} ${manifest.version} is not signed by the hub key: ${v.error.message}`);
    const asm = new ChunkAssembler(manifest);
    for (let i = 0; i < manifest.chunks; i++) {
      const bytes = this.chunks.get(`sitekd/v1/${manifest.site}/model/${manifest.version}/chunk/${i}`);
      if (bytes === undefined) throw new Error(`chunk ${i} of ${manifest.site} ${manifest.version} was never seen`);
      const r = asm.add(i, bytes);
      if (r.status === 'rejected') throw r.error;
    }
    const whole = asm.assemble();
    if (!whole.ok) throw whole.error;
    return whole.value;
  }

  /** Sends a hub command (JSON, as from mosquitto_pub) and waits for its reply. */
  async command(cmd: Record<string, unknown>, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    const id = `e2e-${++this.nextId}`;
    const body = { id, ...cmd, replyTo: replyTopic(this.clientId) };
    await this.transport.publish(hubCmdTopic(), Buffer.from(JSON.stringify(body)), { qos: 1 });
    return waitUntil(`the hub's reply to ${JSON.stringify(body)}`, () => this.replies.get(id), timeoutMs);
  }

  async close(): Promise<void> {
    await this.transport.close(true).catch(() => undefined);
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list === undefined) m.set(k, [v]);
  else list.push(v);
}

export interface Figures {
  /** Batches in the agent's outbox, windows it cut into batches, and windows it predicted (activity). */
  readonly outbox: number;
  readonly cut: number;
  readonly predicted: number;
  /** Windows in the batches the observer saw published, and batches of those without a stored ack. */
  readonly published: number;
  readonly unacked: number;
  /** The hub's windowsStored for the site. */
  readonly stored: number;
}

/** What `site`'s agent, the observer and the hub say about the site's returned windows; acks are read before the hub's count. */
export async function returnedFigures(o: Observer, site: string, agent: RunningAgent): Promise<Figures> {
  const snap = agent.agent.snapshot();
  const batches = [...o.batches.values()].filter((b) => b.site === site);
  const unacked = batches.filter((b) => !(o.acks.get(b.batchId) ?? []).some((a) => !a.duplicate && a.error === undefined)).length;
  const status = (await o.command({ cmd: 'status', site }))['result'] as { windowsStored: number };
  return {
    outbox: snap.outbox.depth, cut: snap.uploader.samplesCut, predicted: snap.inference.predicted,
    published: batches.reduce((n, b) => n + b.n, 0), unacked, stored: status.windowsStored,
  };
}

/** Accuracy and macro-F1 (percent) of a student artifact on labelled windows, computed here with the ML core. */
export function scoreArtifact(bytes: Uint8Array, ws: WindowSet): Score {
  const net = cnnFromArtifact(decodeCnnArtifact(bytes));
  try {
    return evaluate(net, ws);
  } finally {
    for (const v of Object.values(net.vars)) v.dispose();
  }
}
