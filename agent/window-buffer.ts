/**
 * Joins readings from several sensor topics onto one fixed sample grid and cuts model windows from it (the hot path).
 *
 * The grid: points at k · (1000 / sampleRateHz) ms since the epoch, so every source and every restart share the same
 * phase. A grid point's value for a source comes from the source's readings just before (`prev`) and at/after (`next`) it:
 * - an exact hit uses that reading;
 * - otherwise, if `next.ts − prev.ts ≤ maxGapMs`, the point is filled: `fill: 'linear'` interpolates between the two
 *   (the default: it resamples a sensor whose clock runs at another phase or rate without a step), `fill: 'hold'` repeats
 *   `prev` (no look-ahead smoothing; matches a zero-order-hold ADC);
 * - otherwise the point lies in a gap.
 * A point is complete only when every source fills it ("partial channels" never reach the model). A gap, in any source,
 * ends the current run of complete points, so no window ever spans one. Windows of `windowLength` points are cut from a
 * run every `stride` points (HAR: 128 at 50 Hz, stride 64 = 50 % overlap), channels-last `[L·C]`, with the grid time of
 * their first row.
 *
 * Ordering (event time, not arrival time): the watermark is the newest timestamp seen on any topic minus `reorderMs`.
 * Readings at or after the watermark are inserted in order; older ones are late and dropped (counted), since the grid
 * up to the watermark may already be cut. A grid point is decided only once it is at or below the watermark, so a
 * window's content does not depend on arrival order within `reorderMs`; the price is `reorderMs` of latency. `reorderMs`
 * must therefore also cover the difference in delivery delay between topics and the time span of one multi-reading
 * message (a topic that sends 1 s of CSV lines at once needs reorderMs > 1000, or the other topics' readings are late).
 * Duplicates (same topic, same ts) are ignored and counted; the first copy wins.
 * Clock jumps: after `resyncAfterLate` late readings in a row from one topic (a sensor rebooted with another clock, or
 * one reading far in the future moved the watermark), the buffer starts over from that reading instead of dropping
 * that sensor's data for ever.
 *
 * Memory is fixed at construction: one ring of readings per source (sized for `maxSourceRateHz` over the longest span a
 * grid point can wait for) and one ring of L grid rows. `push` allocates nothing; only an emitted window is new memory
 * (the consumer keeps it). A full ring drops the incoming reading (counted as `overflows`).
 */
import { ErrorCode, SitekdError } from '../shared/errors';
import { ReadingRing } from './reading-ring';
import { FLOAT32_MAX } from './sensor-reading';
import { checkCoverage, nonNegative, positive, positiveInt, type WindowBufferOptions } from './window-buffer-options';

export type PushOutcome = 'accepted' | 'duplicate' | 'late' | 'overflow' | 'resync';

export interface WindowBufferCounters {
  accepted: number;
  duplicates: number;
  late: number;
  overflows: number;
  /** Buffer restarts after a clock jump. */
  resyncs: number;
  /** Runs of complete points broken by a gap. */
  gapResets: number;
  /** Complete grid points. */
  gridPoints: number;
  windows: number;
}

// resolveSource results besides a jump index (which is always ≥ the current grid index + 1).
const COMPLETE = -1;
const PENDING = -2;

export class WindowBuffer {
  private readonly periodMs: number;
  private readonly channelCount: number;
  private readonly windowLength: number;
  private readonly stride: number;
  private readonly reorderMs: number;
  private readonly maxGapMs: number;
  private readonly isLinear: boolean;
  private readonly resyncAfterLate: number;
  private readonly sourceChannels: readonly (readonly number[])[];
  private readonly rings: readonly ReadingRing[];
  private readonly lateStreak: Int32Array;
  private readonly onWindow: (window: Float32Array, startTs: number) => void;
  /** L grid rows × C, circular; `writeRow` is the next row to fill (and, once the run ≥ L, the oldest row). */
  private readonly rows: Float32Array;
  private writeRow = 0;
  private run = 0;
  /**
   * Internally, times are ms since `originMs` = originIndex · periodMs (the grid point below the first reading minus the
   * reorder horizon), and grid indices count from there. That keeps them small integers (V8 Smis) instead of epoch-sized
   * doubles, which V8 would box on the heap at every call: the hot path then allocates nothing at all.
   */
  private originIndex = 0;
  private originMs = 0;
  /** Newest reading (relative ms); -Infinity when empty. */
  private maxTs = -Infinity;
  /** Relative grid index of the next undecided point; NaN until the watermark passes the first reading. */
  private cursor = Number.NaN;
  private readonly c: WindowBufferCounters = {
    accepted: 0, duplicates: 0, late: 0, overflows: 0, resyncs: 0, gapResets: 0, gridPoints: 0, windows: 0,
  };

  constructor(opts: WindowBufferOptions) {
    const rate = positive(opts.sampleRateHz, 'sampleRateHz');
    this.periodMs = 1000 / rate;
    this.channelCount = positiveInt(opts.channelCount, 'channelCount');
    this.windowLength = positiveInt(opts.windowLength, 'windowLength');
    this.stride = positiveInt(opts.stride, 'stride');
    this.reorderMs = nonNegative(opts.reorderMs ?? 250, 'reorderMs');
    this.maxGapMs = positive(opts.maxGapMs ?? 5 * this.periodMs, 'maxGapMs');
    this.isLinear = (opts.fill ?? 'linear') === 'linear';
    this.resyncAfterLate = positiveInt(opts.resyncAfterLate ?? 25, 'resyncAfterLate');
    const sourceRate = positive(opts.maxSourceRateHz ?? 4 * rate, 'maxSourceRateHz');
    checkCoverage(opts.sources, this.channelCount);
    this.sourceChannels = opts.sources.map((s) => [...s]);
    // The longest a kept reading can wait: a point pends for up to maxGapMs while its prev may be maxGapMs older still,
    // and readings up to reorderMs past the watermark are already in (see the module comment).
    const spanMs = 2 * this.maxGapMs + this.reorderMs + 2 * this.periodMs;
    const cap = Math.ceil((spanMs * sourceRate) / 1000) + 4;
    this.rings = opts.sources.map((s) => new ReadingRing(cap, s.length));
    this.lateStreak = new Int32Array(opts.sources.length);
    this.rows = new Float32Array(this.windowLength * this.channelCount);
    this.onWindow = opts.onWindow;
  }

  get counters(): WindowBufferCounters {
    return { ...this.c };
  }

  /** Adds one reading of `source` (values in that source's channel order) and emits every window it completes. */
  push(source: number, ts: number, values: ArrayLike<number>): PushOutcome {
    const ring = this.rings[source];
    if (ring === undefined) throw new SitekdError(ErrorCode.INPUT_SHAPE, `unknown source ${source}`);
    if (values.length !== ring.width) {
      throw new SitekdError(ErrorCode.INPUT_SHAPE, `source ${source} has ${ring.width} channels, got ${values.length}`);
    }
    if (!Number.isFinite(ts)) throw new SitekdError(ErrorCode.INPUT_NONFINITE, 'reading ts is not finite');
    if (ts < 0) throw new SitekdError(ErrorCode.INPUT_SHAPE, `reading ts ${ts} is not epoch milliseconds`);
    for (let k = 0; k < values.length; k++) {
      const v = values[k] as number;
      if (!Number.isFinite(v)) throw new SitekdError(ErrorCode.INPUT_NONFINITE, 'reading value is not finite');
      // The grid rows are float32: beyond its range a value would become ±Infinity in every window that holds it.
      if (v > FLOAT32_MAX || v < -FLOAT32_MAX) throw new SitekdError(ErrorCode.READING_OUT_OF_RANGE, 'reading value is beyond the float32 range');
    }
    let outcome: PushOutcome = 'accepted';
    if (this.maxTs === -Infinity) this.setOrigin(ts);
    let rel = ts - this.originMs;
    if (rel < this.maxTs - this.reorderMs) {
      if (ring.has(rel)) return this.count('duplicates', 'duplicate');
      const streak = (this.lateStreak[source] as number) + 1;
      this.lateStreak[source] = streak;
      if (streak < this.resyncAfterLate) return this.count('late', 'late');
      this.reset();
      this.c.resyncs++;
      outcome = 'resync';
      this.setOrigin(ts);
      rel = ts - this.originMs;
    }
    const r = ring.insert(rel, values);
    if (r === 'dup') return this.count('duplicates', 'duplicate');
    if (r === 'full') return this.count('overflows', 'overflow');
    this.lateStreak[source] = 0;
    this.c.accepted++;
    if (rel > this.maxTs) this.maxTs = rel;
    this.resolve();
    return outcome;
  }

  /** Forgets all readings and the current run (counters are kept). */
  reset(): void {
    for (const ring of this.rings) ring.clear();
    this.lateStreak.fill(0);
    this.maxTs = -Infinity;
    this.cursor = Number.NaN;
    this.run = 0;
    this.writeRow = 0;
  }

  /** Any reading accepted until the next reset is ≥ ts − reorderMs, so relative times stay ≥ 0 (see `originMs`). */
  private setOrigin(ts: number): void {
    this.originIndex = Math.floor((ts - this.reorderMs) / this.periodMs) - 1;
    this.originMs = this.originIndex * this.periodMs;
  }

  private count(key: 'duplicates' | 'late' | 'overflows', outcome: PushOutcome): PushOutcome {
    this.c[key]++;
    return outcome;
  }

  /** Decides grid points up to the watermark, in order, until one must wait for more data. */
  private resolve(): void {
    const watermark = this.maxTs - this.reorderMs;
    if (Number.isNaN(this.cursor)) {
      // Start at the earliest reading once nothing earlier can still arrive (it would be late by then).
      let earliest = Infinity;
      for (const ring of this.rings) if (ring.count > 0 && ring.tsAt(0) < earliest) earliest = ring.tsAt(0);
      if (earliest > watermark) return;
      this.cursor = this.ceilIndex(earliest);
    }
    while (this.cursor * this.periodMs <= watermark) {
      const t = this.cursor * this.periodMs;
      let jump = COMPLETE;
      let isPending = false;
      for (let s = 0; s < this.rings.length; s++) {
        const r = this.resolveSource(s, t, watermark);
        if (r === PENDING) isPending = true;
        else if (r !== COMPLETE && r > jump) jump = r;
      }
      if (jump !== COMPLETE) {
        // A gap in any source makes every point before `jump` incomplete, whatever the pending sources deliver.
        if (this.run > 0) this.c.gapResets++;
        this.run = 0;
        this.cursor = jump;
        continue;
      }
      if (isPending) return;
      this.completeRow();
    }
  }

  /** COMPLETE (values written to the current row), PENDING, or the first grid index that may be complete again. */
  private resolveSource(s: number, t: number, watermark: number): number {
    const ring = this.rings[s] as ReadingRing;
    if (ring.count === 0) return this.indexAfter(watermark);
    // Keep exactly one reading at or before t (prev); older ones can no longer matter, since the cursor only moves on.
    while (ring.count >= 2 && ring.tsAt(1) <= t) ring.popHead();
    const prevTs = ring.tsAt(0);
    if (prevTs > t) return Math.min(this.ceilIndex(prevTs), this.indexAfter(watermark));
    if (prevTs === t) {
      this.writeSource(s, ring, 0);
      return COMPLETE;
    }
    if (ring.count >= 2) {
      const nextTs = ring.tsAt(1);
      if (nextTs <= watermark) {
        if (nextTs - prevTs > this.maxGapMs) return this.ceilIndex(nextTs);
        this.writeSource(s, ring, (t - prevTs) / (nextTs - prevTs));
        return COMPLETE;
      }
    }
    // Nothing known between prev and the watermark: any reading still to come lies at or after the watermark.
    return watermark - prevTs > this.maxGapMs ? this.indexAfter(watermark) : PENDING;
  }

  /** Writes the source's channels into the current row: prev + frac · (next − prev), or prev when holding. */
  private writeSource(s: number, ring: ReadingRing, frac: number): void {
    const channels = this.sourceChannels[s] as readonly number[];
    const base = this.writeRow * this.channelCount;
    const isInterpolated = this.isLinear && frac > 0;
    for (let k = 0; k < channels.length; k++) {
      const a = ring.valueAt(0, k);
      const v = isInterpolated ? a + (ring.valueAt(1, k) - a) * frac : a;
      this.rows[base + (channels[k] as number)] = v;
    }
  }

  private completeRow(): void {
    this.writeRow = (this.writeRow + 1) % this.windowLength;
    this.run++;
    this.cursor++;
    this.c.gridPoints++;
    const L = this.windowLength;
    if (this.run < L || (this.run - L) % this.stride !== 0) return;
    // Oldest row first: rows [writeRow, L) then [0, writeRow). Shape [L, C] channels-last, flattened.
    const window = new Float32Array(L * this.channelCount);
    const split = this.writeRow * this.channelCount;
    window.set(this.rows.subarray(split), 0);
    window.set(this.rows.subarray(0, split), this.rows.length - split);
    this.c.windows++;
    this.onWindow(window, (this.originIndex + this.cursor - L) * this.periodMs);
  }

  /** The first grid index whose time is ≥ x, in the same arithmetic as `index · periodMs`. */
  private ceilIndex(x: number): number {
    let i = Math.ceil(x / this.periodMs);
    while ((i - 1) * this.periodMs >= x) i--;
    while (i * this.periodMs < x) i++;
    return i;
  }

  /** The first grid index whose time is > x. */
  private indexAfter(x: number): number {
    let i = Math.floor(x / this.periodMs) + 1;
    while ((i - 1) * this.periodMs > x) i--;
    while (i * this.periodMs <= x) i++;
    return i;
  }
}
