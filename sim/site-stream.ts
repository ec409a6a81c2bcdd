/**
 * One simulated site's windows as an endless, labelled 50 Hz signal that loops for ever.
 *
 * Orders (`SiteStreamOptions.order`):
 * - `recorded` (the default for HAR): the subject's continuous recordings, rebuilt from its overlapping windows
 *   (sim/recording.ts). UCI-HAR windows are 128 samples cut with 50 % overlap from one continuous recording, and
 *   AdaTime's files hold them shuffled and split into train/test, so the windows are chained on their exact 64-sample
 *   overlaps and the chains played one after another, each raw sample once. Every sample has its own label (that of
 *   the window it is taken from). Jumps remain only where the recording itself broke (activity changes: UCI-HAR kept
 *   no transitions) and at the loop's end. Built from the train + test windows by default (`split: 'both'`), since a
 *   split alone is a scattered 70 % or 30 % of the windows and chains poorly.
 * - `file`, `shuffle`, `grouped`: the windows back to back, `windowLength` readings each (file order, a seeded
 *   permutation per loop, or sorted by label). Every window boundary is then a cut, and a stride-64 agent window
 *   straddles two unrelated windows. Right for data whose windows are independent (the synthetic sites, the default
 *   there) or when no chaining is possible; `recorded` on such data finds no overlaps and plays file order anyway.
 *
 * Reading k of a back-to-back stream is window i = ⌊k / L⌋ mod n (through the order's permutation), time t = k mod L,
 * value `x[(i·C + c)·L + t]` for channel c (channels-first, shared/ml/types.ts); of a recorded stream, sample k mod S of
 * the rebuilt signal. Everything is a pure function of k (and the seed, for the shuffled order), so the scoreboard can
 * ask for the labels of any reading already sent.
 */
import { ErrorCode, SitekdError } from '../shared/errors';
import type { WindowSet } from '../shared/ml/types';
import { createRng, deriveSeed } from '../shared/random';
import { buildRecording, chainWindows, type Recording } from './recording';

export type WindowOrder = 'recorded' | 'file' | 'shuffle' | 'grouped';
export const WINDOW_ORDERS: readonly WindowOrder[] = ['recorded', 'file', 'shuffle', 'grouped'];

/** The majority label of a span of readings: `label` (with its share of the readings), or a tie. */
export type MajorityResult = { readonly kind: 'label'; readonly label: number; readonly samples: number } | { readonly kind: 'tie' };

/** What the scoreboard needs from a stream: the label of readings by index. */
export interface LabelSource {
  /** Majority label of readings [k0, k0 + len); undefined when k0 < 0 or len < 1. */
  majorityLabel(k0: number, len: number): MajorityResult | undefined;
}

export interface SiteStreamOptions {
  /** Default 'file' (loadSimSites picks 'recorded' for HAR). */
  readonly order?: WindowOrder;
  /** Seed of the 'shuffle' order (a new permutation every loop). */
  readonly seed?: number;
}

/** Shuffled-order permutations kept per loop (scoring looks back at most a few seconds). */
const PERMUTATION_CACHE = 4;

/** One site's windows as an endless, labelled signal (back to back, or as the rebuilt recording). */
export class SiteStream implements LabelSource {
  readonly channels: number;
  /** Samples per source window (HAR: 128); also the default prediction window of the scoreboard. */
  readonly windowLength: number;
  readonly windowCount: number;
  /** Readings in one pass over all windows (each raw sample once in the recorded order). */
  readonly samplesPerLoop: number;
  readonly order: WindowOrder;
  /** The rebuilt recording (order 'recorded' only). */
  readonly recording: Recording | undefined;
  private readonly x: Float32Array;
  private readonly y: Uint8Array;
  private readonly seed: number;
  private readonly fixedOrder: Int32Array | undefined;
  private readonly perms = new Map<number, Int32Array>();

  constructor(windows: WindowSet, opts: SiteStreamOptions = {}) {
    const { n, channels, length, x, y } = windows;
    if (!Number.isInteger(n) || n < 1) throw new SitekdError(ErrorCode.CONFIG_INVALID, `a simulated site needs at least one window, got ${n}`);
    if (x.length !== n * channels * length) {
      throw new SitekdError(ErrorCode.INPUT_SHAPE, `windows hold ${x.length} values, expected n·C·L = ${n * channels * length}`);
    }
    if (y === undefined || y.length !== n) throw new SitekdError(ErrorCode.INPUT_SHAPE, `a simulated site needs one label per window (${n})`);
    this.x = x;
    this.y = y;
    this.channels = channels;
    this.windowLength = length;
    this.windowCount = n;
    this.order = opts.order ?? 'file';
    if (!WINDOW_ORDERS.includes(this.order)) throw new SitekdError(ErrorCode.CONFIG_INVALID, `unknown window order "${String(this.order)}"`);
    this.seed = opts.seed ?? 0;
    this.recording = this.order === 'recorded' && length >= 2 ? buildRecording(windows, chainWindows(windows)) : undefined;
    this.samplesPerLoop = this.recording?.samples ?? n * length;
    if (this.order === 'grouped') {
      // Stable sort by label: runs of one activity, file order within a run.
      const idx = Array.from({ length: n }, (_, i) => i);
      idx.sort((a, b) => (y[a] as number) - (y[b] as number) || a - b);
      this.fixedOrder = Int32Array.from(idx);
    } else {
      this.fixedOrder = undefined;
    }
  }

  /** Index (into the window set) of the window reading k is taken from; k ≥ 0. */
  windowAt(k: number): number {
    const loop = Math.floor(k / this.samplesPerLoop);
    const inLoop = k - loop * this.samplesPerLoop;
    if (this.recording !== undefined) return this.recording.owner[inLoop] as number;
    const pos = Math.floor(inLoop / this.windowLength);
    if (this.order === 'file' || this.order === 'recorded') return pos;
    if (this.fixedOrder !== undefined) return this.fixedOrder[pos] as number;
    return this.permutation(loop)[pos] as number;
  }

  /** The C values of reading k, in channel order (`out` is reused when given). */
  valuesAt(k: number, out: Float32Array = new Float32Array(this.channels)): Float32Array {
    const C = this.channels;
    if (this.recording !== undefined) {
      const base = (k % this.samplesPerLoop) * C;
      for (let c = 0; c < C; c++) out[c] = this.recording.x[base + c] as number;
      return out;
    }
    const i = this.windowAt(k);
    const t = k % this.windowLength;
    const L = this.windowLength;
    for (let c = 0; c < C; c++) out[c] = this.x[(i * C + c) * L + t] as number;
    return out;
  }

  /** Label of reading k (of the window it is taken from). */
  labelAt(k: number): number {
    if (this.recording !== undefined) return this.recording.labels[k % this.samplesPerLoop] as number;
    return this.y[this.windowAt(k)] as number;
  }

  /** Majority label of readings [k0, k0 + len), counted sample by sample; a tie between the top labels is reported. */
  majorityLabel(k0: number, len: number): MajorityResult | undefined {
    if (!Number.isInteger(k0) || !Number.isInteger(len) || k0 < 0 || len < 1) return undefined;
    const counts = new Map<number, number>();
    const end = k0 + len;
    for (let k = k0; k < end; ) {
      const next = Math.min(end, this.runEnd(k));
      const label = this.labelAt(k);
      counts.set(label, (counts.get(label) ?? 0) + (next - k));
      k = next;
    }
    let best = -1;
    let bestCount = 0;
    let tie = false;
    for (const [label, c] of counts) {
      if (c > bestCount) {
        best = label;
        bestCount = c;
        tie = false;
      } else if (c === bestCount) {
        tie = true;
      }
    }
    return tie ? { kind: 'tie' } : { kind: 'label', label: best, samples: bestCount };
  }

  /** The first reading after k that may have another label: the next window boundary, or the next reading. */
  private runEnd(k: number): number {
    if (this.recording !== undefined) return k + 1;
    return (Math.floor(k / this.windowLength) + 1) * this.windowLength;
  }

  private permutation(loop: number): Int32Array {
    const hit = this.perms.get(loop);
    if (hit !== undefined) return hit;
    const perm = createRng(deriveSeed(this.seed, 0x5157, loop)).permutation(this.windowCount);
    this.perms.set(loop, perm);
    if (this.perms.size > PERMUTATION_CACHE) {
      const oldest = this.perms.keys().next().value as number;
      this.perms.delete(oldest);
    }
    return perm;
  }
}

/**
 * How a stream plays its windows, for the site description (shown by `sitekd sim` and in the score JSON), e.g.
 * `recorded order: 316 windows chained by their exact 64-sample overlaps into 29 continuous recordings, 22080 samples
 * per loop`.
 */
export function describeStream(stream: SiteStream): string {
  const r = stream.recording;
  if (r === undefined) return `${stream.windowCount} windows back to back in ${stream.order} order`;
  const ch = r.chains;
  if (ch.links === 0) return `recorded order: none of the ${ch.windows} windows overlap, so they play back to back in file order`;
  const recordings = ch.chains.length === 1 ? '1 continuous recording' : `${ch.chains.length} continuous recordings`;
  return `recorded order: ${ch.windows} windows chained by their exact ${ch.overlap}-sample overlaps into ${recordings}, ${r.samples} samples per loop`;
}
