/**
 * Rebuilds the continuous recordings behind a set of overlapping windows.
 *
 * UCI-HAR cut one continuous 50 Hz recording per subject and activity bout into 128-sample windows with 50 % overlap;
 * AdaTime's per-subject files hold those windows shuffled and split into train and test. Window B followed window A in
 * the recording when A's last `overlap` samples equal B's first `overlap` samples in every channel, so the recording
 * can be put back together by chaining windows on their overlaps.
 *
 * Matching. Every window's head (first `overlap` samples × C channels) is hashed (SHA-256 of the float32 values, -0
 * folded into 0), and every tail is looked up among the heads: O(n) instead of comparing all pairs. A hash hit is
 * confirmed value by value, so a link means the two halves are exactly equal. Exact equality is what the real data
 * has: in all 30 UCI-HAR subjects of ../shared/data/HAR (test/unit/sim-recording.test.ts) every link is bit-exact,
 * and the nearest non-matching head
 * differs by at least 0.013 (max abs over the 64 × 9 values), so no tolerance is needed (and none would change a link).
 *
 * Chains. A tail matching two or more heads, or a head claimed by two or more tails, is ambiguous and links nothing
 * (a chain break, counted). A window's own head never counts (a constant window would link to itself). Windows left in
 * a cycle (possible only with periodic synthetic data) are cut at their lowest-index window. Chains break where the
 * recording broke: at every change of activity (UCI-HAR cut windows within one activity bout) and between recordings.
 * Chains are played in the order of their first window's index in the window set.
 *
 * Samples. A chain of m windows of length L with overlap o holds L + (m − 1)(L − o) samples: its first window in full,
 * then only the last L − o samples of each following window, so every raw sample appears once. Each sample takes the
 * label of the window it is taken from (its "owner"): the overlapping half at a link inside a chain is labelled by the
 * earlier window, which owns it. In UCI-HAR no link joins two labels (chains never cross an activity change), so this
 * rule only matters for synthetic or other data, and labels at chain boundaries are never mixed: chains do not overlap.
 */
import { createHash } from 'node:crypto';
import { ErrorCode, SitekdError } from '../shared/errors';
import type { WindowSet } from '../shared/ml/types';

export interface ChainOptions {
  /** Samples shared by consecutive windows; default ⌊length / 2⌋ (UCI-HAR: 64 of 128). */
  readonly overlap?: number;
}

export interface WindowChains {
  /** Window indices (into the window set) of each chain, in playing order. */
  readonly chains: readonly Int32Array[];
  readonly windows: number;
  /** Samples shared by consecutive windows of a chain. */
  readonly overlap: number;
  /** Links made (windows − chains). */
  readonly links: number;
  /** Overlaps left unlinked because they matched more than one window. */
  readonly ambiguous: number;
  /** Cycles cut open (each adds a chain). */
  readonly cyclesBroken: number;
  /** Links between windows of different labels (0 for UCI-HAR). */
  readonly labelChanges: number;
}

export interface Recording {
  readonly channels: number;
  /** Samples in all chains together (one loop of the stream). */
  readonly samples: number;
  /** Sample-major values: sample k, channel c at `x[k·C + c]`. */
  readonly x: Float32Array;
  /** Label of each sample (the label of the window it is taken from). */
  readonly labels: Uint8Array;
  /** Index (into the window set) of the window each sample is taken from. */
  readonly owner: Int32Array;
  /** First sample of each chain (ascending, starts at 0). */
  readonly chainStarts: Int32Array;
  readonly chains: WindowChains;
}

function resolveOverlap(ws: WindowSet, opts: ChainOptions): number {
  const overlap = opts.overlap ?? Math.floor(ws.length / 2);
  if (!Number.isInteger(overlap) || overlap < 1 || overlap >= ws.length) {
    throw new SitekdError(ErrorCode.CONFIG_INVALID, `window overlap must be an integer in 1..${ws.length - 1}, got ${overlap}`);
  }
  return overlap;
}

function checkWindows(ws: WindowSet): void {
  const { n, channels, length, x } = ws;
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(channels) || channels < 1 || !Number.isInteger(length) || length < 2) {
    throw new SitekdError(ErrorCode.INPUT_SHAPE, `cannot chain windows of shape n=${n}, channels=${channels}, length=${length}`);
  }
  if (x.length !== n * channels * length) {
    throw new SitekdError(ErrorCode.INPUT_SHAPE, `windows hold ${x.length} values, expected n·C·L = ${n * channels * length}`);
  }
}

/** Finds which windows continue which: see the module comment. */
export function chainWindows(ws: WindowSet, opts: ChainOptions = {}): WindowChains {
  checkWindows(ws);
  const o = resolveOverlap(ws, opts);
  const { succ, hasPred, ambiguous } = linkWindows(ws, o);
  const { chains, cyclesBroken } = walkChains(succ, hasPred);
  let links = 0;
  let labelChanges = 0;
  for (const ch of chains) {
    for (let p = 1; p < ch.length; p++) {
      links++;
      if (ws.y !== undefined && ws.y[ch[p - 1] as number] !== ws.y[ch[p] as number]) labelChanges++;
    }
  }
  return { chains, windows: ws.n, overlap: o, links, ambiguous, cyclesBroken, labelChanges };
}

/** Each window's unique successor (−1: none), whether it has a predecessor, and the overlaps left ambiguous. */
function linkWindows(ws: WindowSet, o: number): { succ: Int32Array; hasPred: Uint8Array; ambiguous: number } {
  const { n, length: L } = ws;
  const { keyOf, sameHalves } = halfMatchers(ws, o);
  const heads = new Map<string, number[]>();
  for (let i = 0; i < n; i++) {
    const k = keyOf(i, 0);
    const list = heads.get(k);
    if (list === undefined) heads.set(k, [i]);
    else list.push(i);
  }
  let ambiguous = 0;
  const proposed = new Int32Array(n).fill(-1);
  const claims = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const cands = (heads.get(keyOf(i, L - o)) ?? []).filter((j) => j !== i && sameHalves(i, j));
    if (cands.length > 1) ambiguous++;
    if (cands.length !== 1) continue;
    const j = cands[0] as number;
    proposed[i] = j;
    claims[j] = (claims[j] as number) + 1;
  }
  const succ = new Int32Array(n).fill(-1);
  const hasPred = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const j = proposed[i] as number;
    if (j < 0) continue;
    if ((claims[j] as number) > 1) {
      ambiguous++;
      continue;
    }
    succ[i] = j;
    hasPred[j] = 1;
  }
  return { succ, hasPred, ambiguous };
}

/** The hash of a window's head or tail half, and the exact comparison that confirms a hash hit. */
function halfMatchers(ws: WindowSet, o: number): { keyOf: (i: number, off: number) => string; sameHalves: (a: number, b: number) => boolean } {
  const { channels: C, length: L, x } = ws;
  const part = new Float32Array(o * C);
  const partBytes = new Uint8Array(part.buffer);
  // Head of a window: offset 0; tail: offset L − o.
  const keyOf = (i: number, off: number): string => {
    for (let c = 0; c < C; c++) {
      const base = (i * C + c) * L + off;
      for (let t = 0; t < o; t++) part[c * o + t] = (x[base + t] as number) + 0; // + 0 folds -0 into 0
    }
    return createHash('sha256').update(partBytes).digest('base64');
  };
  const sameHalves = (a: number, b: number): boolean => {
    for (let c = 0; c < C; c++) {
      const ta = (a * C + c) * L + (L - o);
      const hb = (b * C + c) * L;
      for (let t = 0; t < o; t++) if (x[ta + t] !== x[hb + t]) return false;
    }
    return true;
  };
  return { keyOf, sameHalves };
}

/** Follows the links from every window without a predecessor, then cuts what is left (cycles) open. */
function walkChains(succ: Int32Array, hasPred: Uint8Array): { chains: Int32Array[]; cyclesBroken: number } {
  const n = succ.length;
  const visited = new Uint8Array(n);
  const chains: Int32Array[] = [];
  const walk = (start: number): void => {
    const list: number[] = [];
    for (let j = start; j >= 0 && visited[j] === 0; j = succ[j] as number) {
      visited[j] = 1;
      list.push(j);
    }
    chains.push(Int32Array.from(list));
  };
  for (let i = 0; i < n; i++) if (hasPred[i] === 0) walk(i);
  let cyclesBroken = 0;
  for (let i = 0; i < n; i++) {
    if (visited[i] === 0) {
      cyclesBroken++;
      walk(i);
    }
  }
  chains.sort((a, b) => (a[0] as number) - (b[0] as number));
  return { chains, cyclesBroken };
}

/** Plays the chains one after another as one labelled signal (each raw sample once; see the module comment). */
export function buildRecording(ws: WindowSet, chains: WindowChains = chainWindows(ws)): Recording {
  checkWindows(ws);
  const { n, channels: C, length: L, x, y } = ws;
  if (y === undefined || y.length !== n) throw new SitekdError(ErrorCode.INPUT_SHAPE, `a recording needs one label per window (${n})`);
  if (chains.windows !== n) throw new SitekdError(ErrorCode.INPUT_SHAPE, `chains of ${chains.windows} windows do not fit a set of ${n}`);
  const o = chains.overlap;
  const step = L - o;
  let samples = 0;
  for (const ch of chains.chains) if (ch.length > 0) samples += L + (ch.length - 1) * step;
  const out = new Float32Array(samples * C);
  const labels = new Uint8Array(samples);
  const owner = new Int32Array(samples);
  const chainStarts = new Int32Array(chains.chains.length);
  let k = 0;
  chains.chains.forEach((ch, ci) => {
    chainStarts[ci] = k;
    for (let p = 0; p < ch.length; p++) {
      const w = ch[p] as number;
      if (!Number.isInteger(w) || w < 0 || w >= n) throw new SitekdError(ErrorCode.INPUT_SHAPE, `chain ${ci} names window ${w} of ${n}`);
      const label = y[w] as number;
      for (let t = p === 0 ? 0 : o; t < L; t++, k++) {
        for (let c = 0; c < C; c++) out[k * C + c] = x[(w * C + c) * L + t] as number;
        labels[k] = label;
        owner[k] = w;
      }
    }
  });
  return { channels: C, samples, x: out, labels, owner, chainStarts, chains };
}
