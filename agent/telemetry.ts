/**
 * What the agent reports on `{site}/{agent}/telemetry` every `telemetryIntervalMs` (docs/protocol.md Telemetry):
 * rates, latency percentiles, the predicted class mix and mean confidence over the interval since the previous message,
 * totals since start, and a drift score.
 *
 * Drift score: the mean *normalised predictive entropy* H(p)/ln K of the last `recentWindows` predictions minus the
 * same mean over the first `baselineWindows` predictions after the model was activated. A student distilled for this
 * site is about as sure of itself later as when it started; when the live inputs move away from what it was built
 * on, its predictions get flatter and the score rises (0 = no change, range −1…1). It needs no labels and no stored
 * reference data on the agent, and is reset at every model swap; it is null until the baseline is complete.
 * (Entropy rather than a PSI over the predicted-class histogram: a class mix that changes because people do other
 * things is not drift, while flatter predictions on the same classes are.)
 */
import { MAX_CLASSES, type Telemetry } from '../shared/protocol/messages';
import { predictiveEntropy } from './sample-selector';

/** Nearest-rank percentile (q in (0, 1]) of ascending `sorted`; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const rank = Math.min(n, Math.max(1, Math.ceil(q * n)));
  return sorted[rank - 1] as number;
}

/** Latencies of one interval; keeps at most `cap` (a uniform reservoir beyond that, seeded by a counter). */
export class LatencyRecorder {
  private readonly values: Float64Array;
  private n = 0;
  private seen = 0;
  private lcg = 12345;

  constructor(private readonly cap = 4096) {
    this.values = new Float64Array(cap);
  }

  add(ms: number): void {
    this.seen++;
    if (this.n < this.cap) {
      this.values[this.n++] = ms;
      return;
    }
    // Algorithm R with a tiny LCG: deterministic, and no allocation on the hot path.
    this.lcg = (Math.imul(this.lcg, 1103515245) + 12345) >>> 0;
    const j = this.lcg % this.seen;
    if (j < this.cap) this.values[j] = ms;
  }

  /** p50/p99 of the interval, then starts a new one; null when nothing was recorded. */
  take(): { p50: number; p99: number } | null {
    if (this.n === 0) return null;
    const sorted = this.values.slice(0, this.n).sort();
    this.n = 0;
    this.seen = 0;
    return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) };
  }
}

export class DriftMeter {
  private readonly recent: Float64Array;
  private recentCount = 0;
  private recentAt = 0;
  private baselineSum = 0;
  private baselineCount = 0;

  constructor(
    private readonly baselineWindows = 100,
    recentWindows = 100,
  ) {
    this.recent = new Float64Array(recentWindows);
  }

  /** Starts over (a new model). */
  reset(): void {
    this.recentCount = 0;
    this.recentAt = 0;
    this.baselineSum = 0;
    this.baselineCount = 0;
  }

  add(probs: ArrayLike<number>): void {
    const k = probs.length;
    if (k < 2) return;
    const h = predictiveEntropy(probs) / Math.log(k);
    if (!Number.isFinite(h)) return;
    if (this.baselineCount < this.baselineWindows) {
      this.baselineSum += h;
      this.baselineCount++;
    }
    this.recent[this.recentAt] = h;
    this.recentAt = (this.recentAt + 1) % this.recent.length;
    this.recentCount = Math.min(this.recentCount + 1, this.recent.length);
  }

  score(): number | null {
    if (this.baselineCount < this.baselineWindows || this.recentCount === 0) return null;
    let sum = 0;
    for (let i = 0; i < this.recentCount; i++) sum += this.recent[i] as number;
    return sum / this.recentCount - this.baselineSum / this.baselineCount;
  }
}

/** The inputs of a telemetry message that other components own. */
export interface TelemetrySources {
  readonly outbox: () => { depth: number; bytes: number; droppedRecords: number; droppedBytes: number };
  readonly bytesUploaded: () => number;
  readonly modelVersion: () => string | null;
  readonly dropped: () => Record<string, number>;
  readonly tfMemory: () => { numTensors: number; numBytes: number };
  readonly rssBytes: () => number;
}

export class TelemetryCollector {
  readonly latency = new LatencyRecorder();
  readonly drift = new DriftMeter();
  private windows = 0;
  private readings = 0;
  /** Windows per predicted class in the interval (grown to the model's class count) and their top-class probabilities' sum. */
  private classCounts: number[] = [];
  private confidenceSum = 0;
  private lastAt: number;

  constructor(
    private readonly sources: TelemetrySources,
    /** Monotonic ms, for the interval length. */
    private readonly monotonicMs: () => number,
  ) {
    this.lastAt = monotonicMs();
  }

  /** One classified window: its inference time and probabilities. */
  recordWindow(inferMs: number, probs: ArrayLike<number>): void {
    this.windows++;
    this.latency.add(inferMs);
    this.drift.add(probs);
    let best = 0;
    for (let i = 1; i < probs.length; i++) if ((probs[i] as number) > (probs[best] as number)) best = i;
    const top = probs[best];
    if (top === undefined || !Number.isFinite(top)) return;
    while (this.classCounts.length <= best) this.classCounts.push(0);
    this.classCounts[best] = (this.classCounts[best] as number) + 1;
    this.confidenceSum += Math.min(1, Math.max(0, top));
  }

  recordReadings(n: number): void {
    this.readings += n;
  }

  /** The message for the interval ending now; starts the next interval. */
  snapshot(ts: number): Telemetry {
    const at = this.monotonicMs();
    const seconds = Math.max(1e-3, (at - this.lastAt) / 1000);
    const lat = this.latency.take();
    const mem = this.sources.tfMemory();
    const outbox = this.sources.outbox();
    const classified = this.classCounts.reduce((a, b) => a + b, 0);
    const t: Telemetry = {
      ts,
      windowsPerSec: this.windows / seconds,
      readingsPerSec: this.readings / seconds,
      inferP50Ms: lat === null ? null : clampMs(lat.p50),
      inferP99Ms: lat === null ? null : clampMs(lat.p99),
      outboxDepth: outbox.depth,
      outboxBytes: outbox.bytes,
      outboxDropped: outbox.droppedRecords,
      outboxDroppedBytes: outbox.droppedBytes,
      bytesUploaded: this.sources.bytesUploaded(),
      driftScore: this.drift.score(),
      tensors: mem.numTensors,
      tfBytes: mem.numBytes,
      rssBytes: this.sources.rssBytes(),
      modelVersion: this.sources.modelVersion(),
      classCounts: this.classCounts.slice(0, MAX_CLASSES),
      meanConfidence: classified > 0 ? Math.min(1, this.confidenceSum / classified) : null,
      dropped: this.sources.dropped(),
    };
    this.windows = 0;
    this.classCounts = [];
    this.confidenceSum = 0;
    this.readings = 0;
    this.lastAt = at;
    return t;
  }
}

function clampMs(ms: number): number {
  return Math.min(86_400_000, Math.max(0, ms));
}
