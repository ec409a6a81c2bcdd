/**
 * Returns windows to the hub (docs/protocol.md "Returning samples: the ack and delete rule"):
 * every `upload.intervalMs` the `SampleSelector` gives a batch within the byte budget; it is encoded as a SampleBatch
 * under a fresh random `batchId`, written to the durable `Outbox` *before* it is published, then published with QoS 1.
 * A batch leaves the outbox only when an ack with its `batchId` arrives. A batch without an ack is sent again —
 * the same bytes, the same `batchId` — after `ackTimeoutMs` or a reconnect; the hub deduplicates by `batchId`, so a
 * retry never stores a window twice, and a restart re-sends whatever the outbox still holds.
 * At most `maxInFlight` batches (the oldest) are on the wire without an ack, so a long outage does not end in a burst
 * of the whole outbox.
 */
import { randomBytes } from 'node:crypto';
import { ErrorCode } from '../shared/errors';
import { encode, decode } from '../shared/protocol/codec';
import { batchMessage, batchRoom, bytesPerWindow } from './batch-message';
import { SampleAckSchema, type SampleBatch as SampleBatchMessage } from '../shared/protocol/messages';
import { samplesTopic } from '../shared/protocol/topics';
import type { AgentTransport, InboundKind } from './agent-transport';
import type { Clock, TimerHandle } from '../shared/clock';
import type { DropCounter } from '../shared/drop-counter';
import type { Logger } from '../shared/log';
import type { Outbox } from './outbox';
import { SerialQueue } from '../shared/serial-queue';
import { SampleSelector } from './sample-selector';

export interface UploaderOptions {
  readonly site: string;
  readonly agent: string;
  readonly channels: number;
  readonly windowLength: number;
  readonly upload: {
    readonly budgetBytesPerMinute: number;
    readonly randomShare: number;
    readonly maxBatch: number;
    readonly intervalMs: number;
    readonly ackTimeoutMs: number;
    readonly maxInFlight: number;
  };
  readonly seed: number;
  readonly transport: AgentTransport;
  readonly outbox: Outbox;
  readonly clock: Clock;
  readonly log: Logger;
  readonly drops: DropCounter<InboundKind>;
  readonly maxAckBytes: number;
}

export interface UploaderCounters {
  batchesCut: number;
  samplesCut: number;
  publishes: number;
  resends: number;
  bytesUploaded: number;
  acked: number;
  /** Acks that carried an error: the hub refuses the batch for good (deleted anyway). */
  refusedByHub: number;
  /** Acks saying the hub was busy (HUB_BUSY): the batch was kept and is sent again after the ack's retryAfterMs. */
  busyAcks: number;
  /** Acks for a batch the outbox does not hold (already acked: a duplicate ack). */
  unknownAcks: number;
  publishErrors: number;
}

/** A url-safe random batch id (16 chars of [A-Za-z0-9_-]): unique without any persisted counter. */
export function newBatchId(): string {
  return randomBytes(12).toString('base64url');
}

export class Uploader {
  readonly counters: UploaderCounters = {
    batchesCut: 0, samplesCut: 0, publishes: 0, resends: 0, bytesUploaded: 0, acked: 0, refusedByHub: 0, busyAcks: 0, unknownAcks: 0, publishErrors: 0,
  };
  private selector: { version: string; numClasses: number; selector: SampleSelector } | null = null;
  /** batchId → when it was last published (monotonic ms); absent = not on the wire in this connection. */
  private readonly sentAt = new Map<string, number>();
  private readonly timers: TimerHandle[] = [];
  private readonly topic: string;
  /** The flush loop while one runs; a flush asked for meanwhile sets flushAgain instead of starting a second one. */
  private flushing: Promise<void> | undefined;
  private flushAgain = false;
  /** Outbox operations (cut, ack) one at a time. */
  private readonly work = new SerialQueue();
  private stopped = false;

  constructor(private readonly opts: UploaderOptions) {
    this.topic = samplesTopic(opts.site, opts.agent);
  }

  /** A new model: candidates of the old one are dropped (their logits came from another student). */
  setModel(model: { version: string; numClasses: number } | null): void {
    if (model === null) {
      this.selector = null;
      return;
    }
    const u = this.opts.upload;
    const selector = new SampleSelector({
      windowSize: this.opts.windowLength * this.opts.channels,
      numClasses: model.numClasses,
      budgetBytesPerMinute: u.budgetBytesPerMinute,
      randomShare: u.randomShare,
      seed: this.opts.seed,
      now: () => this.opts.clock.now(),
    });
    this.selector = { version: model.version, numClasses: model.numClasses, selector };
  }

  /** Considers one classified window. Never throws. */
  offer(window: Float32Array, logits: Float32Array, probs: Float32Array, windowStart: number): void {
    const s = this.selector;
    if (s === null || logits.length !== s.numClasses) return;
    try {
      s.selector.offer(window, logits, probs, windowStart);
    } catch (err) {
      this.opts.log.warn('sample offer failed', { err });
    }
  }

  start(): void {
    const u = this.opts.upload;
    this.timers.push(this.opts.clock.every(u.intervalMs, () => void this.cut()));
    // Timeouts are checked often enough to resend within ~25 % of ackTimeoutMs.
    this.timers.push(this.opts.clock.every(Math.max(50, Math.min(1000, Math.floor(u.ackTimeoutMs / 4))), () => void this.flush()));
  }

  /** Every connection starts with nothing on the wire: everything unacked is sent again. */
  onConnect(): void {
    this.sentAt.clear();
    void this.flush();
  }

  /** Handler for `{site}/{agent}/samples/ack`. Never throws. */
  onAck(topic: string, payload: Uint8Array): void {
    const r = decode(SampleAckSchema, payload, { maxBytes: this.opts.maxAckBytes });
    if (!r.ok) {
      this.opts.drops.record('ack', r.error, { topic });
      return;
    }
    const ack = r.value;
    if (ack.error?.code === ErrorCode.HUB_BUSY) {
      // Not a refusal: the hub is full and did not store it. Keep the batch and send it again after retryAfterMs
      // (as if its ack timeout ran out then), instead of after the full ack timeout or at once.
      const retry = Math.min(ack.retryAfterMs ?? this.opts.upload.ackTimeoutMs, this.opts.upload.ackTimeoutMs);
      if (this.sentAt.has(ack.batchId)) this.sentAt.set(ack.batchId, this.opts.clock.monotonicMs() - this.opts.upload.ackTimeoutMs + retry);
      this.counters.busyAcks++;
      return;
    }
    this.queue(async () => {
      const deleted = await this.opts.outbox.ack(ack.batchId);
      // Only now: until the record is gone from the outbox, a flush must still see it as on the wire. Forgetting it
      // earlier let every flush in between publish it again, and each copy's ack did the same (a storm of duplicates
      // whenever outbox writes are slow).
      this.sentAt.delete(ack.batchId);
      if (!deleted) {
        this.counters.unknownAcks++;
        return;
      }
      this.counters.acked++;
      if (ack.error !== undefined) {
        this.counters.refusedByHub++;
        this.opts.log.warn('hub refused a sample batch', { batchId: ack.batchId, code: ack.error.code, message: ack.error.message });
      }
    }).then(() => this.flush());
  }

  /** Cuts a batch now (also what the timer does). */
  cut(): Promise<void> {
    return this.queue(async () => {
      const s = this.selector;
      if (s === null || this.stopped) return;
      const perWindow = bytesPerWindow(this.opts.windowLength, this.opts.channels, s.numClasses);
      const batch = s.selector.takeBatch(batchRoom(this.opts.upload.maxBatch, this.opts.transport.maxPacketBytes, perWindow));
      if (batch === undefined) return;
      const msg = batchMessage(batch, {
        batchId: newBatchId(), site: this.opts.site, agent: this.opts.agent, modelVersion: s.version, channels: this.opts.channels,
        windowLength: this.opts.windowLength, numClasses: s.numClasses, createdAt: this.opts.clock.now(),
      });
      // Durable first: a crash after this line re-sends the batch on restart; before it, nothing was promised.
      await this.opts.outbox.put(msg.batchId, encode(msg));
      this.counters.batchesCut++;
      this.counters.samplesCut += batch.n;
    }).then(() => this.flush());
  }

  /** Publishes what is due: unsent or unacked for longer than ackTimeoutMs, oldest first, within maxInFlight. */
  flush(): Promise<void> {
    if (this.flushing !== undefined) {
      this.flushAgain = true;
      return this.flushing;
    }
    this.flushing = this.flushLoop();
    return this.flushing;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) t.cancel();
    await this.work.drain();
    await this.flushing;
  }

  private async flushLoop(): Promise<void> {
    try {
      do {
        this.flushAgain = false;
        await this.flushOnce();
      } while (this.flushAgain && !this.stopped);
    } catch (err) {
      this.opts.log.warn('sample upload failed', { err });
    } finally {
      // Cleared in the same step that ends the loop: a flush() asked for after the last check starts a new loop
      // instead of setting flushAgain on one that is already over. (flushLoop always awaits before getting here,
      // so flush() has stored this promise by then.)
      this.flushing = undefined;
    }
  }

  private async flushOnce(): Promise<void> {
    if (this.stopped || !this.opts.transport.connected) return;
    const { maxInFlight, ackTimeoutMs } = this.opts.upload;
    const now = this.opts.clock.monotonicMs();
    const head = this.opts.outbox.list().slice(0, maxInFlight);
    const isDue = (id: string): boolean => {
      const at = this.sentAt.get(id);
      return at === undefined || now - at >= ackTimeoutMs;
    };
    if (!head.some((e) => isDue(e.id))) return;
    for (const rec of await this.opts.outbox.peek(maxInFlight)) {
      if (!isDue(rec.id) || !this.opts.transport.connected) continue;
      if (this.sentAt.has(rec.id)) this.counters.resends++;
      this.sentAt.set(rec.id, now);
      this.counters.publishes++;
      // Not awaited: a QoS 1 publish settles at PUBACK, which an outage can delay for long; the ack decides anyway.
      this.opts.transport.publish(this.topic, rec.bytes, { qos: 1 }).then(
        () => {
          this.counters.bytesUploaded += rec.bytes.byteLength;
        },
        (err: unknown) => {
          this.counters.publishErrors++;
          this.sentAt.delete(rec.id);
          this.opts.log.warn('sample batch publish failed', { batchId: rec.id, err });
        },
      );
    }
  }

  private queue<T>(op: () => Promise<T>): Promise<T | undefined> {
    return this.work.run(op).catch((err: unknown) => {
      this.opts.log.warn('sample outbox operation failed', { err });
      return undefined;
    });
  }
}
