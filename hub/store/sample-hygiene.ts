/**
 * Plausibility of returned windows before a round trains on them (issue 8, finding 3: one batch of finite but extreme
 * values, 3e38, acked and stored, made every later round of its site fail with non-finite weights).
 *
 * Per channel, the plausible range is built from two references, so that neither alone decides:
 * - the labelled source data: its [min, max] (`channelRanges`, computed once by the hub);
 * - the site's own history: the median M and MAD of the channel over the windows the round reads (a sample of them),
 *   M ± `madK` · 1.4826 · MAD. Median and MAD are robust: a few poisoned batches move neither, so they cannot widen the
 *   range enough to let themselves in. This lets a site whose sensors read on another scale than the source pass.
 * The union of both is widened by `margin` times its own span on each side. The site's part is capped at
 * `maxScaleOverSource` times the source's span: a site whose history is mostly poisoned cannot make anything
 * plausible, and every value stays far below what float32 training can square and sum (x² · n must stay < 3.4e38).
 * Without source ranges (a caller that has none, e.g. a benchmark's own store) the site's history alone would judge
 * rare but genuine windows (a walk at a site that mostly sits) too harshly; then only `maxAbsWithoutSource` applies.
 * Logits must be finite and |logit| ≤ `maxAbsLogit`: the KD loss exponentiates them.
 *
 * A batch fails as a whole when any of its windows has a value outside its channel's range: its windows came from one
 * agent at one time, and the store quarantines by batch. Pure functions: no files, no clock.
 */
import type { Shape } from './sample-set';

export interface ChannelRange {
  readonly lo: number;
  readonly hi: number;
}

export interface HygieneSettings {
  /** Per model channel, the source data's range; absent: the site's history only. */
  readonly source?: readonly ChannelRange[] | undefined;
  /** Robust half-width of the site's range in robust standard deviations (1.4826 · MAD). Default 10. */
  readonly madK?: number;
  /** Each side of the range is widened by this times its span. Default 1. */
  readonly margin?: number;
  /** The site's history may widen the source's span at most this many times. Default 1000. */
  readonly maxScaleOverSource?: number;
  /** Default 1e6. */
  readonly maxAbsLogit?: number;
  /** Bound of every value when no source ranges are given. Default 1e6. */
  readonly maxAbsWithoutSource?: number;
}

/** What the check reads of a batch: windows channels-last `[n, L, C]` and logits `[n, K]`. */
export interface BatchValues {
  readonly n: number;
  readonly windows: Float32Array;
  readonly logits: Float32Array;
}

export type Verdict =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: string; readonly channel?: number; readonly value: number; readonly range?: ChannelRange };

const SAMPLES_PER_CHANNEL = 4096;
const MAD_TO_SD = 1.4826;

/** Per channel [min, max] of channels-first windows `[n, C, L]` (the source train split). Non-finite values are skipped. */
export function channelRanges(x: Float32Array, n: number, channels: number, length: number): ChannelRange[] {
  const out: ChannelRange[] = [];
  for (let c = 0; c < channels; c++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < n; i++) {
      const base = (i * channels + c) * length;
      for (let t = 0; t < length; t++) {
        const v = x[base + t] as number;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    out.push(lo <= hi ? { lo, hi } : { lo: 0, hi: 0 });
  }
  return out;
}

/** The plausible range of each channel for these batches (see the module comment). */
export function plausibleRanges(batches: readonly BatchValues[], shape: Shape, s: HygieneSettings = {}): ChannelRange[] {
  const madK = s.madK ?? 10;
  const margin = s.margin ?? 1;
  const maxScale = s.maxScaleOverSource ?? 1000;
  const out: ChannelRange[] = [];
  if (s.source === undefined) {
    const bound = s.maxAbsWithoutSource ?? 1e6;
    return Array.from({ length: shape.channels }, () => ({ lo: -bound, hi: bound }));
  }
  for (let c = 0; c < shape.channels; c++) {
    const { median, mad } = robustCentre(batches, shape.channels, c);
    const sd = Math.max(MAD_TO_SD * mad, 1e-6 * Math.max(1, Math.abs(median)));
    const src = s.source[c] ?? { lo: 0, hi: 0 };
    const span = Math.max(src.hi - src.lo, 1e-6);
    const mid = (src.lo + src.hi) / 2;
    const capLo = mid - (maxScale * span) / 2;
    const capHi = mid + (maxScale * span) / 2;
    const site = {
      lo: Math.min(src.lo, Math.max(capLo, median - madK * sd)),
      hi: Math.max(src.hi, Math.min(capHi, median + madK * sd)),
    };
    const width = site.hi - site.lo;
    out.push({ lo: site.lo - margin * width, hi: site.hi + margin * width });
  }
  return out;
}

/** One verdict per batch, against `ranges` (from plausibleRanges). */
export function judgeBatches(batches: readonly BatchValues[], ranges: readonly ChannelRange[], s: HygieneSettings = {}): Verdict[] {
  const maxLogit = s.maxAbsLogit ?? 1e6;
  const C = ranges.length;
  return batches.map((b): Verdict => {
    for (let i = 0; i < b.logits.length; i++) {
      const v = b.logits[i] as number;
      if (!(Math.abs(v) <= maxLogit)) return { ok: false, reason: `logit ${v} is not finite or beyond ±${maxLogit}`, value: v };
    }
    for (let i = 0; i < b.windows.length; i++) {
      const c = i % C;
      const v = b.windows[i] as number;
      const r = ranges[c] as ChannelRange;
      if (!(v >= r.lo && v <= r.hi)) return { ok: false, reason: `channel ${c} value ${v} outside its plausible range [${fmt(r.lo)}, ${fmt(r.hi)}]`, channel: c, value: v, range: r };
    }
    return { ok: true };
  });
}

/** Median and MAD of channel c over an evenly spaced sample of the finite values of all batches. */
function robustCentre(batches: readonly BatchValues[], channels: number, c: number): { median: number; mad: number } {
  const total = batches.reduce((sum, b) => sum + b.windows.length / channels, 0);
  const step = Math.max(1, Math.floor(total / SAMPLES_PER_CHANNEL));
  const sample: number[] = [];
  let k = 0;
  for (const b of batches) {
    for (let i = c; i < b.windows.length; i += channels, k++) {
      if (k % step !== 0) continue;
      const v = b.windows[i] as number;
      if (Number.isFinite(v)) sample.push(v);
    }
  }
  if (sample.length === 0) return { median: 0, mad: 0 };
  const median = medianOf(sample);
  return { median, mad: medianOf(sample.map((v) => Math.abs(v - median))) };
}

function medianOf(xs: number[]): number {
  const s = Float64Array.from(xs).sort();
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

function fmt(x: number): string {
  return Number(x.toPrecision(4)).toString();
}
