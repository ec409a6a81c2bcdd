/**
 * Predictions per second of one simulated site over a sliding wall-clock window (sim/scoreboard.ts). Counts go into
 * 1 s buckets, so memory stays bounded at any prediction rate; a bucket that straddles the window's start counts in
 * proportion.
 */

/** Width of one bucket; also the shortest window. */
export const RATE_BUCKET_MS = 1000;

export class PredictionRate {
  /** Prediction counts per wall-clock bucket (bucket start ms → count). */
  private readonly buckets = new Map<number, number>();
  private firstAt: number | undefined;

  /** `windowMs`: span of the rate, at least one bucket. */
  constructor(private readonly windowMs: number) {}

  /** Counts one prediction seen at `now`. */
  record(now: number): void {
    this.firstAt ??= now;
    const bucket = Math.floor(now / RATE_BUCKET_MS) * RATE_BUCKET_MS;
    this.buckets.set(bucket, (this.buckets.get(bucket) ?? 0) + 1);
    this.prune(now);
  }

  /** Predictions per second over the last `windowMs` (or since the first prediction, when more recent). */
  perSecond(now: number): number {
    this.prune(now);
    if (this.firstAt === undefined) return 0;
    const from = now - this.windowMs;
    let count = 0;
    for (const [b, c] of this.buckets) {
      if (b + RATE_BUCKET_MS <= from) continue;
      count += b >= from ? c : (c * (b + RATE_BUCKET_MS - from)) / RATE_BUCKET_MS;
    }
    const span = Math.min(this.windowMs, Math.max(RATE_BUCKET_MS, now - this.firstAt));
    return count / (span / 1000);
  }

  private prune(now: number): void {
    const oldest = now - this.windowMs - RATE_BUCKET_MS;
    for (const b of this.buckets.keys()) if (b < oldest) this.buckets.delete(b);
  }
}
