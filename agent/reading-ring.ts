/**
 * Sorted readings of one sensor source in a fixed ring, for agent/window-buffer.ts. Index 0 is the oldest kept reading.
 * Fixed memory on purpose: the buffer's hot path allocates nothing, so neither does the ring.
 */
export class ReadingRing {
  private readonly ts: Float64Array;
  private readonly vals: Float64Array;
  private head = 0;
  count = 0;

  constructor(
    private readonly cap: number,
    readonly width: number,
  ) {
    this.ts = new Float64Array(cap);
    this.vals = new Float64Array(cap * width);
  }

  private phys(i: number): number {
    return (this.head + i) % this.cap;
  }

  tsAt(i: number): number {
    return this.ts[this.phys(i)] as number;
  }

  valueAt(i: number, k: number): number {
    return this.vals[this.phys(i) * this.width + k] as number;
  }

  has(ts: number): boolean {
    for (let i = this.count - 1; i >= 0; i--) if (this.tsAt(i) === ts) return true;
    return false;
  }

  /** In-order insert; scans from the newest end because readings are nearly always in order. */
  insert(ts: number, values: ArrayLike<number>): 'ok' | 'dup' | 'full' {
    let j = this.count;
    while (j > 0 && this.tsAt(j - 1) > ts) j--;
    if (j > 0 && this.tsAt(j - 1) === ts) return 'dup';
    if (this.count === this.cap) return 'full';
    for (let i = this.count; i > j; i--) this.copy(this.phys(i - 1), this.phys(i));
    const p = this.phys(j);
    this.ts[p] = ts;
    for (let k = 0; k < this.width; k++) this.vals[p * this.width + k] = values[k] as number;
    this.count++;
    return 'ok';
  }

  private copy(from: number, to: number): void {
    this.ts[to] = this.ts[from] as number;
    this.vals.copyWithin(to * this.width, from * this.width, (from + 1) * this.width);
  }

  popHead(): void {
    this.head = (this.head + 1) % this.cap;
    this.count--;
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
  }
}
