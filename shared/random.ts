/**
 * A tiny seeded PRNG shared by the synthetic data generator and the ML code.
 *
 * Why our own: Math.random cannot be seeded, and every experiment (data, init, shuffling) must be
 * reproducible from one integer. mulberry32 is a 32-bit generator with a period of 2^32: plenty for
 * shuffling and initialisation, small, fast, and identical on every platform (pure integer math).
 * It is NOT cryptographic.
 */
import { ErrorCode, SitekdError } from './errors';

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Standard normal N(0, 1) (Box–Muller). */
  normal(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number;
  /** Fisher–Yates shuffle in place; returns the same array (plain arrays and typed arrays). */
  shuffle<A extends { length: number; [index: number]: unknown }>(arr: A): A;
  /** A random permutation of 0..n-1. */
  permutation(n: number): Int32Array;
}

/**
 * Mixes any number of integers into one 32-bit seed (murmur3 finaliser per part).
 * Used to derive independent streams, e.g. `deriveSeed(seed, siteIndex)`, so that adding a site or
 * a class does not change the random numbers drawn for the others.
 */
export function deriveSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    // Split non-32-bit numbers into two words so large or fractional seeds still matter.
    const lo = Math.trunc(p) >>> 0;
    const hi = Math.trunc(p / 4294967296) >>> 0;
    for (const w of [lo, hi]) {
      let k = Math.imul(w, 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      k = Math.imul(k, 0x1b873593);
      h ^= k;
      h = (h << 13) | (h >>> 19);
      h = (Math.imul(h, 5) + 0xe6546b64) | 0;
    }
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function createRng(seed: number): Rng {
  if (!Number.isFinite(seed)) {
    throw new SitekdError(ErrorCode.INPUT_SHAPE, `rng seed must be a finite number, got ${seed}`);
  }
  // Hash the seed first: mulberry32 seeded with small neighbouring integers (0, 1, 2…) would
  // otherwise produce visibly correlated first outputs.
  const next = mulberry32(deriveSeed(seed));
  const int = (n: number): number => {
    if (!Number.isInteger(n) || n <= 0) {
      throw new SitekdError(ErrorCode.INPUT_SHAPE, `rng.int(n) needs a positive integer n, got ${n}`);
    }
    return Math.floor(next() * n);
  };
  return {
    next,
    int,
    uniform: (lo: number, hi: number): number => lo + (hi - lo) * next(),
    normal: boxMuller(next),
    shuffle: <A extends { length: number; [index: number]: unknown }>(arr: A): A => shuffleInPlace(next, arr),
    permutation: (n: number): Int32Array => permutation(next, n),
  };
}

/** Uniform in [0, 1) from a 32-bit state: 2^32 values, one per state. */
function mulberry32(seed32: number): () => number {
  let state = seed32;
  return (): number => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normals from uniforms. */
function boxMuller(next: () => number): () => number {
  // Box–Muller yields two normals per pair of uniforms; keep the second for the next call.
  let spare: number | undefined;
  return (): number => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    // 1 - next() is in (0, 1], so the log is finite.
    const u1 = 1 - next();
    const u2 = next();
    const r = Math.sqrt(-2 * Math.log(u1));
    spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  };
}

function shuffleInPlace<A extends { length: number; [index: number]: unknown }>(next: () => number, arr: A): A {
  const a = arr as { [index: number]: unknown };
  for (let i = arr.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const tmp = a[i];
    a[i] = a[j];
    a[j] = tmp;
  }
  return arr;
}

function permutation(next: () => number, n: number): Int32Array {
  if (!Number.isInteger(n) || n < 0) {
    throw new SitekdError(ErrorCode.INPUT_SHAPE, `rng.permutation(n) needs a non-negative integer n, got ${n}`);
  }
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const tmp = p[i] as number;
    p[i] = p[j] as number;
    p[j] = tmp;
  }
  return p;
}
