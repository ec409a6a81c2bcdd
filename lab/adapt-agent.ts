/**
 * The agent side of `sitekd adapt-eval`: one site's recording played through the agent's own parts, on a virtual
 * clock, with no broker in between.
 *
 * Readings of the site's stream (sim/site-stream.ts: the train split's windows chained back into continuous
 * recordings, looped) go at the dataset's sampling rate into the agent's WindowBuffer; every window it cuts is
 * classified by the serving student's folded predictor (agent/model-probe.ts `loadModel`, what `sitekd agent` runs)
 * and offered to the agent's SampleSelector with those logits. Every `upload.intervalMs` of virtual time a batch is
 * taken within the agent's default byte budget and encoded as the SampleBatch message the uploader publishes
 * (agent/uploader.ts `cut`); `deliver` hands it to the hub's inbound handler. A new model gets a new selector, as
 * `Uploader.setModel` does (the candidates of the old one carry its logits).
 *
 * Batch ids come from the seeded RNG instead of `randomBytes`: the hub's held-out split hashes them, and a benchmark
 * must repeat with its seed.
 */
import { ErrorCode, SitekdError } from '../shared/errors';
import { encode } from '../shared/protocol/codec';
import { createRng, deriveSeed, type Rng } from '../shared/random';
import { batchMessage, batchRoom, bytesPerWindow } from '../agent/batch-message';
import type { AgentConfig } from '../agent/config';
import type { LoadedModel } from '../agent/model-probe';
import { SampleSelector } from '../agent/sample-selector';
import { WindowBuffer } from '../agent/window-buffer';
import type { SiteStream } from '../sim/site-stream';

export interface SiteAgentOptions {
  readonly stream: SiteStream;
  /** The agent's configuration with its defaults (agent/config.ts), for this data set's channels and rate. */
  readonly config: AgentConfig;
  readonly model: LoadedModel;
  readonly seed: number;
  /** Hands one encoded SampleBatch to the hub; resolves with the windows the hub stored. */
  readonly deliver: (payload: Uint8Array, batchId: string) => Promise<number>;
  /** Epoch ms of reading 0 (default: a fixed day in 2025, so runs repeat). */
  readonly startMs?: number;
}

export interface SiteAgentCounters {
  readings: number;
  windowsCut: number;
  batches: number;
  /** Windows the hub stored. */
  returned: number;
}

/** Window lengths of readings per window still to return, beyond which a stream is judged unable to return them. */
const PATIENCE = 50;

export class SiteAgent {
  readonly counters: SiteAgentCounters = { readings: 0, windowsCut: 0, batches: 0, returned: 0 };
  private model: LoadedModel;
  private selector: SampleSelector;
  private readonly buffer: WindowBuffer;
  private readonly periodMs: number;
  private readonly firstTick: number;
  private readonly rng: Rng;
  private readonly values: Float32Array;
  private nextCutMs: number;
  private nowMs: number;

  constructor(private readonly o: SiteAgentOptions) {
    const c = o.config;
    this.periodMs = 1000 / c.sampleRateHz;
    // Readings sit exactly on the agent's grid (k · period since the epoch), as a sensor sampled by the same clock.
    this.firstTick = Math.floor((o.startMs ?? 1_750_000_000_000) / this.periodMs);
    this.nowMs = this.firstTick * this.periodMs;
    this.nextCutMs = this.nowMs + c.upload.intervalMs;
    this.rng = createRng(deriveSeed(o.seed, 0xba7c));
    this.values = new Float32Array(o.stream.channels);
    this.model = o.model;
    this.selector = this.newSelector();
    this.buffer = new WindowBuffer({
      channelCount: c.channels.length,
      sources: [c.channels.map((_, i) => i)],
      sampleRateHz: c.sampleRateHz,
      windowLength: c.windowLength,
      stride: c.stride,
      reorderMs: c.reorderMs,
      ...(c.maxGapMs !== undefined ? { maxGapMs: c.maxGapMs } : {}),
      onWindow: (w, start) => this.onWindow(w, start),
    });
  }

  /** Serves `model` from the next window on (the caller disposes the old one). */
  setModel(model: LoadedModel): void {
    this.model = model;
    this.selector = this.newSelector();
  }

  /** Plays readings until the hub has stored exactly `total` windows of this agent. */
  async streamUntil(total: number): Promise<void> {
    const c = this.o.config;
    const maxBatch = this.maxBatch();
    let budget = PATIENCE * (total - this.counters.returned + 1) * c.windowLength + 2 * this.o.stream.samplesPerLoop;
    while (this.counters.returned < total) {
      if (budget-- <= 0) {
        throw new SitekdError(
          ErrorCode.DISTILL_TOO_FEW_SAMPLES,
          `the site's recording returned only ${this.counters.returned} of ${total} windows after ${this.counters.readings} readings (${this.counters.windowsCut} windows cut)`,
        );
      }
      const k = this.counters.readings++;
      this.nowMs = (this.firstTick + k) * this.periodMs;
      this.buffer.push(0, this.nowMs, this.o.stream.valuesAt(k, this.values));
      if (this.nowMs < this.nextCutMs) continue;
      this.nextCutMs += c.upload.intervalMs;
      await this.cut(Math.min(maxBatch, total - this.counters.returned));
    }
  }

  private onWindow(window: Float32Array, start: number): void {
    this.counters.windowsCut++;
    const out = this.model.predictor.predictWindow(window);
    this.selector.offer(window, out.logits, out.probs, start);
  }

  private newSelector(): SampleSelector {
    const c = this.o.config;
    return new SampleSelector({
      windowSize: c.windowLength * c.channels.length,
      numClasses: this.model.spec.numClasses,
      budgetBytesPerMinute: c.upload.budgetBytesPerMinute,
      randomShare: c.upload.randomShare,
      seed: this.o.seed,
      now: () => this.nowMs,
    });
  }

  /** The uploader's cap: `upload.maxBatch`, and what fits one packet under the broker's limit. */
  private maxBatch(): number {
    const c = this.o.config;
    return batchRoom(c.upload.maxBatch, c.broker.maxPacketBytes, bytesPerWindow(c.windowLength, c.channels.length, this.model.spec.numClasses));
  }

  private async cut(maxN: number): Promise<void> {
    const batch = this.selector.takeBatch(maxN);
    if (batch === undefined) return;
    const c = this.o.config;
    const msg = batchMessage(batch, {
      batchId: this.batchId(), site: c.site, agent: c.id, modelVersion: this.model.version, channels: c.channels.length,
      windowLength: c.windowLength, numClasses: this.model.spec.numClasses, createdAt: Math.round(this.nowMs),
    });
    const stored = await this.o.deliver(encode(msg), msg.batchId);
    if (stored !== batch.n) throw new SitekdError(ErrorCode.STORE_WRITE, `the hub stored ${stored} of a batch of ${batch.n} windows`);
    this.counters.batches++;
    this.counters.returned += stored;
  }

  /** 16 url-safe characters, like `newBatchId`, from the seeded RNG. */
  private batchId(): string {
    const bytes = Buffer.alloc(12);
    for (let i = 0; i < bytes.length; i++) bytes[i] = this.rng.int(256);
    return bytes.toString('base64url');
  }
}
