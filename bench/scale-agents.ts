/**
 * The lightweight protocol agents of `npm run bench:scale` (bench/scale.ts): one MQTT connection each, speaking the
 * agent's wire protocol without its ML: a retained birth status with a last will, telemetry, one small sample batch
 * every 1/rate seconds (QoS 1, an idempotent batch id), each kept until its ack arrives and sent again with the same
 * id when no ack came within `resendMs` (what agent/uploader.ts does), and, when the ack says `busy`, held back for its
 * `retryAfterMs` before being sent again (docs/protocol.md). Optionally fetches its site's model manifest.
 */
import { randomBytes } from 'node:crypto';
import { ErrorCode } from '../shared/errors';
import { decode, encode, f32ToBytes } from '../shared/protocol/codec';
import { makeAgentStatus, makeTelemetry } from '../shared/protocol/examples';
import { SampleAckSchema, type SampleBatch } from '../shared/protocol/messages';
import { buildTopic, modelTopic, samplesAckTopic } from '../shared/protocol/topics';
import { MqttTransport } from '../shared/transport/mqtt-transport';

export interface LoadOptions {
  readonly url: string;
  readonly agents: number;
  readonly sites: number;
  /** Batches per second per agent. */
  readonly rate: number;
  /** Windows per batch (9 × 128 float32 each, 4.6 kB). */
  readonly windows: number;
  readonly resendMs: number;
  readonly fetchModel: boolean;
}

interface Pending {
  readonly firstSentAt: number;
  sends: number;
  /** performance.now() before which it is not sent again (a `busy` ack's retryAfterMs). */
  notBefore: number;
  readonly payload: Uint8Array;
  /** A publish of it waits for its PUBACK. */
  inFlight: boolean;
}

/** Figures over every agent: counters, ack latencies (first send → ack), ids acked as stored. */
export interface LoadStats {
  sent: number;
  resent: number;
  acked: number;
  ackedDuplicate: number;
  ackedError: number;
  busy: number;
  manifests: number;
  readonly latencies: number[];
  /** `site/batchId` of every batch the hub acked as stored or duplicate (it holds them). */
  readonly held: Set<string>;
  /** `site/batchId` of every batch sent. */
  readonly all: Set<string>;
}

const CHANNELS = 9;
const LENGTH = 128;
const CLASSES = 6;

class LoadAgent {
  private readonly pending = new Map<string, Pending>();
  private seq = 0;

  constructor(
    private readonly t: MqttTransport,
    readonly site: string,
    readonly id: string,
    private readonly o: LoadOptions,
    private readonly s: LoadStats,
  ) {}

  static async connect(o: LoadOptions, s: LoadStats, i: number): Promise<LoadAgent> {
    const site = `site-${i % o.sites}`;
    const id = `gw-${i}`;
    const statusTopic = buildTopic({ kind: 'status', site, agent: id });
    const will = { topic: statusTopic, payload: encode({ state: 'offline' }), qos: 1 as const, retain: true };
    const t = await MqttTransport.connect({ url: o.url, clientId: `bench-${id}`, protocol: 'auto', reconnectPeriodMs: 1000, will }, 60_000);
    const a = new LoadAgent(t, site, id, o, s);
    await t.subscribe(samplesAckTopic(site, id), (_topic, p) => a.onAck(p), 1);
    if (o.fetchModel) await t.subscribe(modelTopic(site), () => void s.manifests++, 1);
    await t.publish(statusTopic, encode(makeAgentStatus({ sensors: [`bench/${site}/${id}`], modelVersion: null, ts: Date.now(), startedAt: Date.now() })), { qos: 1, retain: true });
    return a;
  }

  /** One tick: a new batch, and every unacked one whose resend time has come. */
  tick(now: number): void {
    const batchId = `${this.id}-${(this.seq++).toString(36)}-${randomBytes(4).toString('hex')}`;
    const payload = encode(makeBatch(this.site, this.id, batchId, this.o.windows));
    this.pending.set(batchId, { firstSentAt: now, sends: 0, notBefore: now, payload, inFlight: false });
    this.s.all.add(`${this.site}/${batchId}`);
    this.resendDue(now);
  }

  /** Sends every unacked batch whose time has come (a new one at once, an old one after resendMs or retryAfterMs). */
  resendDue(now: number): void {
    for (const p of this.pending.values()) if (p.notBefore <= now && !p.inFlight) void this.send(p, now);
  }

  telemetry(): void {
    void this.t.publish(buildTopic({ kind: 'telemetry', site: this.site, agent: this.id }), encode(makeTelemetry({ ts: Date.now(), outboxDepth: this.pending.size })), { qos: 0 }).catch(() => undefined);
  }

  get unacked(): number {
    return this.pending.size;
  }

  async close(): Promise<void> {
    await this.t.close(true);
  }

  private async send(p: Pending, now: number): Promise<void> {
    if (p.sends > 0) this.s.resent++;
    else this.s.sent++;
    p.sends++;
    p.notBefore = now + this.o.resendMs;
    p.inFlight = true;
    await this.t.publish(buildTopic({ kind: 'samples', site: this.site, agent: this.id }), p.payload, { qos: 1 }).catch(() => undefined);
    p.inFlight = false;
  }

  private onAck(payload: Uint8Array): void {
    const r = decode(SampleAckSchema, payload);
    if (!r.ok) return;
    const ack = r.value;
    const p = this.pending.get(ack.batchId);
    if (p === undefined) return; // an ack of a resend already acked
    if (ack.error?.code === ErrorCode.HUB_BUSY) {
      this.s.busy++;
      p.notBefore = performance.now() + (ack.retryAfterMs ?? 1000);
      return;
    }
    this.pending.delete(ack.batchId);
    this.s.acked++;
    this.s.latencies.push(performance.now() - p.firstSentAt);
    if (ack.error !== undefined) this.s.ackedError++;
    else {
      if (ack.duplicate) this.s.ackedDuplicate++;
      this.s.held.add(`${this.site}/${ack.batchId}`);
    }
  }
}

/** A one-window-per-`n` batch of plausible readings (values like a 1 g accelerometer at rest, ±0.5). */
function makeBatch(site: string, agent: string, batchId: string, n: number): SampleBatch {
  const windows = new Float32Array(n * LENGTH * CHANNELS).map((_, i) => (i % CHANNELS === 6 ? 1 : 0) + Math.random() - 0.5);
  const logits = new Float32Array(n * CLASSES).map(() => Math.random() * 4 - 2);
  const now = Date.now();
  return {
    batchId, site, agent, modelVersion: '1-00000000', channels: CHANNELS, windowLength: LENGTH, numClasses: CLASSES, n,
    windows: f32ToBytes(windows), logits: f32ToBytes(logits), windowStarts: Array.from({ length: n }, (_, i) => now - (n - i) * 2560),
    selectedBy: new Array<0>(n).fill(0), createdAt: now,
  };
}

export class LoadFleet {
  readonly stats: LoadStats = { sent: 0, resent: 0, acked: 0, ackedDuplicate: 0, ackedError: 0, busy: 0, manifests: 0, latencies: [], held: new Set(), all: new Set() };
  private agents: LoadAgent[] = [];
  private timers: NodeJS.Timeout[] = [];

  constructor(private readonly o: LoadOptions) {}

  /** Connects every agent, 50 at a time (a burst of thousands of CONNECTs is a test of its own, not this one). */
  async connect(): Promise<void> {
    for (let i = 0; i < this.o.agents; i += 50) {
      const n = Math.min(50, this.o.agents - i);
      this.agents.push(...(await Promise.all(Array.from({ length: n }, (_, k) => LoadAgent.connect(this.o, this.stats, i + k)))));
    }
  }

  /** Starts sending; each agent ticks at its own phase so the load is spread over the period. */
  start(): void {
    const period = 1000 / this.o.rate;
    this.agents.forEach((a, i) => {
      const phase = (i / this.agents.length) * period;
      this.timers.push(setTimeout(() => {
        a.tick(performance.now());
        this.timers.push(setInterval(() => a.tick(performance.now()), period));
        this.timers.push(setInterval(() => a.telemetry(), 10_000));
      }, phase));
    });
  }

  /** Stops new batches; unacked ones are still resent until `deadline` (ms) or until none is left. */
  async drain(deadlineMs: number): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    const until = performance.now() + deadlineMs;
    while (this.unacked() > 0 && performance.now() < until) {
      await new Promise((r) => setTimeout(r, 250));
      const now = performance.now();
      for (const a of this.agents) a.resendDue(now);
    }
  }

  unacked(): number {
    return this.agents.reduce((s, a) => s + a.unacked, 0);
  }

  async close(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.close()));
  }
}
