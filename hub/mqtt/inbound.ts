/**
 * What the hub does with each inbound agent message, as a dispatch table over topic kinds (docs/conventions.md §6.2):
 *  - `samples`: decode → check the ids against the topic and the shape against the hub's models → store durably
 *    (idempotent by batch id) → only then ack on `{site}/{agent}/samples/ack`. A duplicate is acked with
 *    `duplicate: true`; a batch the hub can never take is acked with `error` (the agent drops it); a store failure
 *    is not acked (the agent resends). Garbage (no trustworthy batch id) is counted and gets no ack. When more
 *    batches wait to be made durable than `ingest.maxPending`, a new one is not queued but acked at once with
 *    `error` HUB_BUSY and `retryAfterMs` (the agent keeps it and resends it then): the hub's load shows up as a clear
 *    signal to the agents instead of as ack latency growing for everyone (docs/protocol.md "Backpressure").
 *  - `status`: the retained birth / last will feed the site registry (liveness); a birth of a site without a model
 *    asks for the generic student.
 *  - `telemetry`: marks the agent alive and records the model it runs.
 * Nothing here throws out of a message callback: every failure is counted by code (DropCounter).
 */
import { ErrorCode, isSitekdError, SitekdError } from '../../shared/errors';
import { bytesToF32, decode, encode } from '../../shared/protocol/codec';
import { AgentStatusSchema, SampleBatchSchema, SELECTED_BY, TelemetrySchema, type SampleAck, type SampleBatch } from '../../shared/protocol/messages';
import { parseTopic, payloadMatchesTopic, ROOT_TOPIC, samplesAckTopic, type AgentTopicKind } from '../../shared/protocol/topics';
import type { DropCounter } from '../../shared/drop-counter';
import type { Logger } from '../../shared/log';
import type { SampleStore } from '../store/sample-store';
import type { SiteRegistry } from '../sites/site-registry';
import type { InputLayout } from '../models/teacher';

export interface InboundDeps {
  readonly publish: (topic: string, payload: Uint8Array, opts: { qos: 0 | 1; retain: boolean }) => Promise<void>;
  readonly store: SampleStore;
  readonly registry: SiteRegistry;
  readonly drops: DropCounter;
  readonly input: InputLayout;
  readonly maxPayloadBytes: number;
  /** Backpressure: beyond `maxPending` batches not yet durable, a new batch is answered busy (module comment). */
  readonly ingest?: { readonly maxPending: number; readonly retryAfterMs: number };
  /** Whether the hub serves (or may start serving) this site. */
  readonly servesSite: (site: string) => boolean;
  /** A batch added `stored` new windows to a site; `batch` says which model computed their logits and how many were sampled uniformly. */
  readonly onSamplesStored: (site: string, stored: number, batch: { readonly modelVersion: string; readonly uniform: number }) => void;
  /** An agent of the site announced itself online. */
  readonly onAgentOnline: (site: string) => void;
  readonly log: Logger;
  readonly root?: string;
}

export interface InboundStats {
  samplesReceived: number;
  batchesStored: number;
  windowsStored: number;
  duplicates: number;
  refused: number;
  /** Batches answered `HUB_BUSY` (not stored; the agent resends them after retryAfterMs). */
  busy: number;
  acksSent: number;
  statusReceived: number;
  telemetryReceived: number;
}

type Target = { readonly kind: AgentTopicKind; readonly site: string; readonly agent: string };
type Handler = (t: Target, payload: Uint8Array) => Promise<void>;

/** Errors a batch cannot recover from by being sent again: acked with `error`, so the agent drops it. */
const PERMANENT: readonly string[] = [ErrorCode.INPUT_SHAPE, ErrorCode.INPUT_NONFINITE, ErrorCode.MODEL_SPEC_MISMATCH, ErrorCode.SITE_UNKNOWN];

export class Inbound {
  readonly stats: InboundStats = { samplesReceived: 0, batchesStored: 0, windowsStored: 0, duplicates: 0, refused: 0, busy: 0, acksSent: 0, statusReceived: 0, telemetryReceived: 0 };
  private readonly handlers: { readonly [K in 'samples' | 'status' | 'telemetry']: Handler };
  private readonly root: string;

  constructor(private readonly d: InboundDeps) {
    this.root = d.root ?? ROOT_TOPIC;
    this.handlers = { samples: (t, p) => this.onSamples(t, p), status: (t, p) => this.onStatus(t, p), telemetry: (t, p) => this.onTelemetry(t, p) };
  }

  /** The transport's message callback. Never rejects. */
  async handle(topic: string, payload: Uint8Array): Promise<void> {
    const t = parseTopic(topic, this.root);
    if (t === undefined || !(t.kind === 'samples' || t.kind === 'status' || t.kind === 'telemetry')) return; // another kind: not ours
    try {
      await this.handlers[t.kind](t, payload);
    } catch (err) {
      // A bug or an unexpected library error: counted like bad input, never thrown back into MQTT.js.
      this.d.drops.record(t.kind, isSitekdError(err) ? err : new SitekdError(ErrorCode.JOB_FAILED, String((err as Error)?.message ?? err)), { site: t.site, agent: t.agent });
    }
  }

  private async onSamples(t: Target, payload: Uint8Array): Promise<void> {
    this.stats.samplesReceived++;
    const r = decode(SampleBatchSchema, payload, { maxBytes: this.d.maxPayloadBytes });
    if (!r.ok) return this.d.drops.record('samples', r.error, { site: t.site, agent: t.agent });
    const b = r.value;
    if (!payloadMatchesTopic(t, b)) {
      return this.d.drops.record('samples', new SitekdError(ErrorCode.MSG_SCHEMA, `batch names site ${b.site} / agent ${b.agent}, its topic ${t.site} / ${t.agent}`), { site: t.site, agent: t.agent });
    }
    const refusal = this.refusal(t.site, b);
    if (refusal !== undefined) return this.refuse(t, b, refusal);
    this.d.registry.touch(t.site, t.agent, { modelVersion: b.modelVersion });
    const ingest = this.d.ingest;
    if (ingest !== undefined && this.d.store.backlog >= ingest.maxPending) return this.busy(t, b, ingest.retryAfterMs);
    let res: { stored: number; duplicate: boolean };
    try {
      res = await this.d.store.addBatch(t.site, {
        batchId: b.batchId, agent: b.agent, modelVersion: b.modelVersion, channels: b.channels, windowLength: b.windowLength,
        numClasses: b.numClasses, n: b.n, windows: bytesToF32(b.windows), logits: bytesToF32(b.logits), windowStarts: b.windowStarts,
        ...(b.selectedBy !== undefined ? { selectedBy: b.selectedBy.map((code) => SELECTED_BY[code]) } : {}),
      });
    } catch (err) {
      const e = isSitekdError(err) ? err : new SitekdError(ErrorCode.STORE_WRITE, `storing batch ${b.batchId} failed`, { cause: err });
      if (PERMANENT.includes(e.code)) return this.refuse(t, b, e);
      // Not durable, so not acked: the agent keeps the batch and sends it again.
      return this.d.drops.record('samples', e, { site: t.site, agent: t.agent, batchId: b.batchId });
    }
    await this.ack(t, { batchId: b.batchId, stored: res.duplicate ? b.n : res.stored, duplicate: res.duplicate });
    if (res.duplicate) {
      this.stats.duplicates++;
      return;
    }
    this.stats.batchesStored++;
    this.stats.windowsStored += res.stored;
    const uniform = b.selectedBy?.filter((code) => SELECTED_BY[code] === 'uniform').length ?? 0;
    this.d.onSamplesStored(t.site, res.stored, { modelVersion: b.modelVersion, uniform: Math.min(uniform, res.stored) });
  }

  /** Why the hub can never take this batch, if it cannot. */
  private refusal(site: string, b: SampleBatch): SitekdError | undefined {
    if (!this.d.servesSite(site)) return new SitekdError(ErrorCode.SITE_UNKNOWN, `the hub does not serve site ${site}`);
    const i = this.d.input;
    if (b.channels !== i.inChannels || b.windowLength !== i.windowLength || b.numClasses !== i.numClasses) {
      return new SitekdError(
        ErrorCode.MODEL_SPEC_MISMATCH,
        `batch has ${b.windowLength}×${b.channels} windows and ${b.numClasses} classes, site ${site} uses ${i.windowLength}×${i.inChannels} and ${i.numClasses}`,
      );
    }
    return undefined;
  }

  private async refuse(t: Target, b: SampleBatch, err: SitekdError): Promise<void> {
    this.stats.refused++;
    this.d.drops.record('samples', err, { site: t.site, agent: t.agent, batchId: b.batchId });
    await this.ack(t, { batchId: b.batchId, stored: 0, duplicate: false, error: { code: err.code, message: err.message.slice(0, 1000) } });
  }

  private async busy(t: Target, b: SampleBatch, retryAfterMs: number): Promise<void> {
    this.stats.busy++;
    // Jitter spreads the resends of agents told at the same moment, so they do not come back as one burst.
    const retry = Math.round(retryAfterMs * (0.75 + 0.5 * Math.random()));
    const message = `the hub's sample ingest is full (${this.d.store.backlog} batches pending); send again in ${retry} ms`;
    await this.ack(t, { batchId: b.batchId, stored: 0, duplicate: false, error: { code: ErrorCode.HUB_BUSY, message }, retryAfterMs: retry });
  }

  private async ack(t: Target, ack: SampleAck): Promise<void> {
    await this.d.publish(samplesAckTopic(t.site, t.agent, this.root), encode(ack), { qos: 1, retain: false });
    this.stats.acksSent++;
  }

  private async onStatus(t: Target, payload: Uint8Array): Promise<void> {
    // An empty retained payload is someone deleting the retained status (e.g. a decommissioned agent): not garbage.
    if (payload.byteLength === 0) return;
    this.stats.statusReceived++;
    const r = decode(AgentStatusSchema, payload, { maxBytes: this.d.maxPayloadBytes });
    if (!r.ok) return this.d.drops.record('status', r.error, { site: t.site, agent: t.agent });
    if (!this.d.servesSite(t.site)) {
      return this.d.drops.record('status', new SitekdError(ErrorCode.SITE_UNKNOWN, `the hub does not serve site ${t.site}`), { site: t.site, agent: t.agent });
    }
    this.d.registry.handleStatus(t.site, t.agent, r.value);
    if (r.value.state === 'online') this.d.onAgentOnline(t.site);
  }

  private async onTelemetry(t: Target, payload: Uint8Array): Promise<void> {
    this.stats.telemetryReceived++;
    const r = decode(TelemetrySchema, payload, { maxBytes: this.d.maxPayloadBytes });
    if (!r.ok) return this.d.drops.record('telemetry', r.error, { site: t.site, agent: t.agent });
    if (!this.d.registry.has(t.site)) return; // liveness only for sites the hub already serves
    this.d.registry.touch(t.site, t.agent, r.value.modelVersion === null ? {} : { modelVersion: r.value.modelVersion });
  }
}
