/**
 * Chooses which windows an agent returns to the hub, within an upload budget.
 *
 * Why two kinds: the hub redistills on what the agents send back. The windows the student is least sure about (highest
 * predictive entropy, the usual uncertainty-sampling score) carry the most information for distillation, but a pool of
 * only those is biased towards class boundaries and sensor glitches, and the hub also gates new students on held-out
 * returned windows (issue 3 §4). So a fixed share (default 25 %) of each batch is a uniform random sample of everything
 * seen, and the rest is the most uncertain. Each returned window says which it was (`selectedBy`, on the wire as
 * SampleBatch.selectedBy): the hub judges candidates only on the uniform ones, which represent the site.
 *
 * How: each offered window is routed by the seeded RNG, with probability `randomShare`, to a reservoir (Algorithm R: a
 * uniform sample of the routed windows) and otherwise to a top-k pool keyed by entropy (a min-heap). Both live in slots
 * preallocated at construction, so `offer` copies and never allocates. `takeBatch` spends a token bucket of bytes
 * (refilled at `budgetBytesPerMinute` by the injected clock, capped at `burstBytes`, starting empty so that an agent in
 * a restart loop cannot exceed its budget), then clears the candidates: a batch covers one period, and leftovers would
 * be stale next period. Same seed, same offers, same clock readings → same batches.
 */
import { ErrorCode, SitekdError } from '../shared/errors';
import { createRng, type Rng } from '../shared/random';
import { EntropyHeap } from './entropy-heap';

export interface SampleSelectorOptions {
  /** Floats per window: windowLength · channels. */
  windowSize: number;
  numClasses: number;
  budgetBytesPerMinute: number;
  /** Bucket capacity. Default: one minute of budget. */
  burstBytes?: number;
  /** Share of each batch drawn uniformly at random, in [0, 1]. Default 1 (agent/config.ts says why). */
  randomShare?: number;
  seed: number;
  now: () => number;
  /** Candidates kept between batches. Default 64. */
  poolSize?: number;
  /** Bytes charged per batch on top of its samples (envelope, ids, topic). Default 256. */
  batchOverheadBytes?: number;
}

/** Ready to encode: sample i is windows[i·windowSize …], logits[i·numClasses …], windowStarts[i]. */
export interface SampleBatch {
  n: number;
  /** [n, windowLength, channels] flattened, channels-last. */
  windows: Float32Array;
  /** [n, numClasses] student logits. */
  logits: Float32Array;
  windowStarts: Float64Array;
  /** [n] predictive entropy in nats (for telemetry and hub-side weighting). */
  entropies: Float32Array;
  /** [n] how each window was chosen: the wire's SELECTED_BY codes, 0 = uniform random sample, 1 = most uncertain. */
  selectedBy: Uint8Array;
  /** Bytes charged to the budget. */
  bytes: number;
}

export type OfferOutcome = 'uncertain' | 'random' | 'dropped' | 'nonfinite';

export interface SampleSelectorCounters {
  offered: number;
  nonfinite: number;
  batches: number;
  samplesTaken: number;
  bytesTaken: number;
}

/** Shannon entropy −Σ p ln p in nats; zero-probability classes contribute nothing (lim p→0 of p ln p = 0). */
export function predictiveEntropy(probs: ArrayLike<number>): number {
  let h = 0;
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i] as number;
    if (p > 0) h -= p * Math.log(p);
  }
  return h;
}

export class SampleSelector {
  readonly bytesPerSample: number;
  private readonly windowSize: number;
  private readonly numClasses: number;
  private readonly randomShare: number;
  private readonly rng: Rng;
  private readonly now: () => number;
  private readonly bytesPerMs: number;
  private readonly burstBytes: number;
  private readonly overhead: number;
  // Slot storage: window, logits, start and entropy of each candidate.
  private readonly windows: Float32Array;
  private readonly logits: Float32Array;
  private readonly starts: Float64Array;
  private readonly entropy: Float64Array;
  private readonly free: number[];
  /** Min-heap of slots by entropy: the root is the least uncertain kept candidate, the first to be replaced. */
  private readonly heap: EntropyHeap;
  private readonly heapCap: number;
  private readonly reservoir: number[] = [];
  private readonly reservoirCap: number;
  private reservoirSeen = 0;
  private tokens = 0;
  private lastRefill: number;
  private readonly c: SampleSelectorCounters = { offered: 0, nonfinite: 0, batches: 0, samplesTaken: 0, bytesTaken: 0 };

  constructor(opts: SampleSelectorOptions) {
    this.windowSize = positiveInt(opts.windowSize, 'windowSize');
    this.numClasses = positiveInt(opts.numClasses, 'numClasses');
    this.randomShare = opts.randomShare ?? 1;
    if (!(this.randomShare >= 0 && this.randomShare <= 1)) throw configError(`randomShare must be in [0, 1], got ${this.randomShare}`);
    const pool = positiveInt(opts.poolSize ?? 64, 'poolSize');
    this.reservoirCap = this.randomShare === 0 ? 0 : this.randomShare === 1 ? pool : Math.min(pool - 1, Math.max(1, Math.round(pool * this.randomShare)));
    this.heapCap = pool - this.reservoirCap;
    // float32 window + float32 logits + float64 start + a one-byte selectedBy code: what the wire carries per sample.
    this.bytesPerSample = 4 * this.windowSize + 4 * this.numClasses + 8 + 1;
    this.overhead = nonNegativeInt(opts.batchOverheadBytes ?? 256, 'batchOverheadBytes');
    const perMinute = positive(opts.budgetBytesPerMinute, 'budgetBytesPerMinute');
    this.bytesPerMs = perMinute / 60_000;
    this.burstBytes = positive(opts.burstBytes ?? perMinute, 'burstBytes');
    if (this.burstBytes < this.overhead + this.bytesPerSample) {
      throw configError(`burstBytes ${this.burstBytes} cannot hold one sample (${this.overhead + this.bytesPerSample} bytes)`);
    }
    this.rng = createRng(opts.seed);
    this.now = opts.now;
    this.lastRefill = opts.now();
    this.windows = new Float32Array(pool * this.windowSize);
    this.logits = new Float32Array(pool * this.numClasses);
    this.starts = new Float64Array(pool);
    this.entropy = new Float64Array(pool);
    this.heap = new EntropyHeap(this.entropy);
    this.free = Array.from({ length: pool }, (_, i) => pool - 1 - i);
  }

  get counters(): SampleSelectorCounters {
    return { ...this.c };
  }

  /** Candidates waiting for the next batch. */
  get pending(): number {
    return this.heap.size + this.reservoir.length;
  }

  /** Considers one window; copies it if kept. Shapes are the caller's contract (INPUT_SHAPE); NaN is counted, not thrown. */
  offer(window: Float32Array, logits: ArrayLike<number>, probs: ArrayLike<number>, windowStart: number): OfferOutcome {
    if (window.length !== this.windowSize || logits.length !== this.numClasses || probs.length !== this.numClasses) {
      throw new SitekdError(ErrorCode.INPUT_SHAPE, 'window, logits or probs do not match the selector shape', {
        details: { window: window.length, logits: logits.length, probs: probs.length },
      });
    }
    this.c.offered++;
    if (!allFinite(window) || !allFinite(logits) || !allFinite(probs) || !Number.isFinite(windowStart)) {
      this.c.nonfinite++;
      return 'nonfinite';
    }
    const h = predictiveEntropy(probs);
    // Draw on every offer, so that the random stream does not depend on which pool a window lands in.
    const isRandom = this.rng.next() < this.randomShare;
    return isRandom ? this.offerRandom(window, logits, h, windowStart) : this.offerUncertain(window, logits, h, windowStart);
  }

  /** Up to `maxN` samples the budget pays for, sorted by window start; undefined when none. Clears the candidates. */
  takeBatch(maxN: number): SampleBatch | undefined {
    this.refill();
    const affordable = Math.floor((this.tokens - this.overhead) / this.bytesPerSample);
    const n = Math.min(Math.floor(maxN), this.pending, affordable);
    if (!(n > 0)) return undefined;
    let nRandom = Math.min(this.reservoir.length, Math.round(n * this.randomShare));
    const nUncertain = Math.min(this.heap.size, n - nRandom);
    nRandom = n - nUncertain; // the other pool tops up when one runs short
    const byEntropy = [...this.heap.slots()].sort((a, b) => (this.entropy[b] as number) - (this.entropy[a] as number) || a - b);
    const uniform = this.rng.shuffle([...this.reservoir]).slice(0, nRandom);
    const picked = byEntropy.slice(0, nUncertain).concat(uniform);
    picked.sort((a, b) => (this.starts[a] as number) - (this.starts[b] as number) || a - b);
    const batch = this.build(picked, new Set(uniform));
    this.tokens -= batch.bytes;
    this.c.batches++;
    this.c.samplesTaken += n;
    this.c.bytesTaken += batch.bytes;
    this.clear();
    return batch;
  }

  private offerRandom(window: Float32Array, logits: ArrayLike<number>, h: number, start: number): OfferOutcome {
    this.reservoirSeen++;
    if (this.reservoir.length < this.reservoirCap) {
      const slot = this.free.pop() as number;
      this.store(slot, window, logits, h, start);
      this.reservoir.push(slot);
      return 'random';
    }
    // Algorithm R: the m-th routed window replaces a kept one with probability cap/m.
    const j = this.rng.int(this.reservoirSeen);
    const slot = this.reservoir[j];
    if (slot === undefined) return 'dropped';
    this.store(slot, window, logits, h, start);
    return 'random';
  }

  private offerUncertain(window: Float32Array, logits: ArrayLike<number>, h: number, start: number): OfferOutcome {
    if (this.heap.size < this.heapCap) {
      const slot = this.free.pop() as number;
      this.store(slot, window, logits, h, start);
      this.heap.push(slot);
      return 'uncertain';
    }
    const root = this.heap.root;
    if (root === undefined || h <= (this.entropy[root] as number)) return 'dropped';
    this.store(root, window, logits, h, start);
    this.heap.rootRaised();
    return 'uncertain';
  }

  private store(slot: number, window: Float32Array, logits: ArrayLike<number>, h: number, start: number): void {
    this.windows.set(window, slot * this.windowSize);
    const at = slot * this.numClasses;
    for (let k = 0; k < this.numClasses; k++) this.logits[at + k] = logits[k] as number;
    this.starts[slot] = start;
    this.entropy[slot] = h;
  }

  private build(slots: readonly number[], uniform: ReadonlySet<number>): SampleBatch {
    const n = slots.length;
    const W = this.windowSize;
    const K = this.numClasses;
    const batch: SampleBatch = {
      n,
      windows: new Float32Array(n * W), // [n, L, C]
      logits: new Float32Array(n * K), // [n, K]
      windowStarts: new Float64Array(n),
      entropies: new Float32Array(n),
      selectedBy: new Uint8Array(n),
      bytes: this.overhead + n * this.bytesPerSample,
    };
    slots.forEach((slot, i) => {
      batch.windows.set(this.windows.subarray(slot * W, (slot + 1) * W), i * W);
      batch.logits.set(this.logits.subarray(slot * K, (slot + 1) * K), i * K);
      batch.windowStarts[i] = this.starts[slot] as number;
      batch.entropies[i] = this.entropy[slot] as number;
      batch.selectedBy[i] = uniform.has(slot) ? 0 : 1;
    });
    return batch;
  }

  private refill(): void {
    const t = this.now();
    // A clock that steps back (NTP) must not mint or burn tokens.
    const elapsed = Math.max(0, t - this.lastRefill);
    this.lastRefill = Math.max(this.lastRefill, t);
    this.tokens = Math.min(this.burstBytes, this.tokens + elapsed * this.bytesPerMs);
  }

  private clear(): void {
    for (const slot of this.heap.slots()) this.free.push(slot);
    for (const slot of this.reservoir) this.free.push(slot);
    this.heap.clear();
    this.reservoir.length = 0;
    this.reservoirSeen = 0;
  }
}

function allFinite(xs: ArrayLike<number>): boolean {
  for (let i = 0; i < xs.length; i++) if (!Number.isFinite(xs[i])) return false;
  return true;
}

function positive(v: number, name: string): number {
  if (!Number.isFinite(v) || v <= 0) throw configError(`${name} must be a positive number, got ${v}`);
  return v;
}

function positiveInt(v: number, name: string): number {
  if (!Number.isInteger(v) || v <= 0) throw configError(`${name} must be a positive integer, got ${v}`);
  return v;
}

function nonNegativeInt(v: number, name: string): number {
  if (!Number.isInteger(v) || v < 0) throw configError(`${name} must be a non-negative integer, got ${v}`);
  return v;
}

function configError(message: string): SitekdError {
  return new SitekdError(ErrorCode.CONFIG_INVALID, message);
}
