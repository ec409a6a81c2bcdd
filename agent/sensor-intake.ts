/**
 * Sensor topics → readings → windows: the `SensorParser` decodes each message (any failure is counted by code and
 * dropped), the `WindowBuffer` puts the readings on the sample grid and hands every complete window on.
 *
 * Between the two, a message stamped more than `maxClockSkewMs` ahead of the agent's clock is dropped whole
 * (READING_FUTURE, counted). The buffer orders by event time and trusts the newest timestamp as its watermark: one
 * reading a day ahead would make every genuine reading late, and its resync (meant for a sensor whose clock really
 * jumped) would restart the buffer at each such reading, so that a periodic one blinds the agent. Filtering here keeps
 * both the watermark and the buffer's late-streak counting to readings that can be true.
 */
import { ErrorCode, SitekdError } from '../shared/errors';
import type { DropCounter } from '../shared/drop-counter';
import type { InboundKind } from './agent-transport';
import { SensorParser, type Reading, type SensorSource } from './sensor-parser';
import { WindowBuffer, type WindowBufferCounters } from './window-buffer';

export interface SensorIntakeOptions {
  readonly channels: readonly string[];
  readonly sources: readonly SensorSource[];
  readonly sampleRateHz: number;
  readonly windowLength: number;
  readonly stride: number;
  readonly reorderMs: number;
  readonly maxGapMs?: number | undefined;
  readonly maxPayloadBytes: number;
  /** Readings stamped later than now() + this are dropped (READING_FUTURE). */
  readonly maxClockSkewMs: number;
  /** The agent's clock (epoch ms). */
  readonly now: () => number;
  readonly drops: DropCounter<InboundKind>;
  /** Readings accepted (for readings/s). */
  readonly onReadings: (n: number) => void;
  readonly onWindow: (window: Float32Array, startTs: number) => void;
}

export class SensorIntake {
  readonly topics: readonly string[];
  private readonly parser: SensorParser;
  private readonly buffer: WindowBuffer;

  /** Throws CONFIG_INVALID for channel mappings that cannot work (unknown names, a channel fed twice or never). */
  constructor(private readonly opts: SensorIntakeOptions) {
    this.parser = new SensorParser({ channels: opts.channels, sources: opts.sources, maxPayloadBytes: opts.maxPayloadBytes });
    this.buffer = new WindowBuffer({
      channelCount: opts.channels.length,
      sources: this.parser.sourceChannels,
      sampleRateHz: opts.sampleRateHz,
      windowLength: opts.windowLength,
      stride: opts.stride,
      reorderMs: opts.reorderMs,
      ...(opts.maxGapMs !== undefined ? { maxGapMs: opts.maxGapMs } : {}),
      onWindow: opts.onWindow,
    });
    this.topics = opts.sources.map((s) => s.topic);
  }

  get counters(): WindowBufferCounters {
    return this.buffer.counters;
  }

  /** Handler for every sensor topic. Never throws. */
  onMessage(topic: string, payload: Uint8Array): void {
    const r = this.parser.parse(topic, payload);
    if (!r.ok) {
      this.opts.drops.record('sensor', r.error, { topic });
      return;
    }
    const future = this.futureReading(r.readings);
    if (future !== undefined) {
      this.opts.drops.record('sensor', future, { topic });
      return;
    }
    let accepted = 0;
    for (const reading of r.readings) {
      try {
        const outcome = this.buffer.push(r.source, reading.ts, reading.values);
        if (outcome === 'accepted' || outcome === 'resync') accepted++;
      } catch (err) {
        // The parser already guarantees shape and finiteness; this is a backstop, never a crash.
        const error = err instanceof SitekdError ? err : new SitekdError(ErrorCode.READING_INVALID, String(err));
        this.opts.drops.record('sensor', error, { topic });
      }
    }
    if (accepted > 0) this.opts.onReadings(accepted);
  }

  /** READING_FUTURE for a message with a reading beyond the allowed skew (all or nothing, like the parser). */
  private futureReading(readings: readonly Reading[]): SitekdError | undefined {
    const now = this.opts.now();
    for (const reading of readings) {
      if (reading.ts <= now + this.opts.maxClockSkewMs) continue;
      return new SitekdError(ErrorCode.READING_FUTURE, `reading ${Math.round(reading.ts - now)} ms ahead of the agent's clock`, {
        details: { ts: reading.ts, maxClockSkewMs: this.opts.maxClockSkewMs },
      });
    }
    return undefined;
  }
}
