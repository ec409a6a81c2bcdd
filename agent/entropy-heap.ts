/**
 * The sample selector's pool of uncertain candidates (agent/sample-selector.ts): a binary min-heap of slot indices
 * ordered by the entropy the selector stores per slot. The root is the least uncertain kept candidate, so a more
 * uncertain window replaces it in O(log n) without allocating.
 */
export class EntropyHeap {
  private readonly heap: number[] = [];

  /** `entropy[slot]` is read at every comparison: the root's entropy may be raised in place, then `rootRaised()`. */
  constructor(private readonly entropy: Float64Array) {}

  get size(): number {
    return this.heap.length;
  }

  /** The slot with the lowest entropy, or undefined when empty. */
  get root(): number | undefined {
    return this.heap[0];
  }

  /** The kept slots, in heap (not sorted) order. */
  slots(): readonly number[] {
    return this.heap;
  }

  push(slot: number): void {
    this.heap.push(slot);
    this.siftUp(this.heap.length - 1);
  }

  /** Restores the order after the root slot was overwritten with a higher entropy. */
  rootRaised(): void {
    this.siftDown(0);
  }

  clear(): void {
    this.heap.length = 0;
  }

  private less(i: number, j: number): boolean {
    return (this.entropy[this.heap[i] as number] as number) < (this.entropy[this.heap[j] as number] as number);
  }

  private swap(i: number, j: number): void {
    const t = this.heap[i] as number;
    this.heap[i] = this.heap[j] as number;
    this.heap[j] = t;
  }

  private siftUp(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private siftDown(i: number): void {
    const n = this.heap.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(l, m)) m = l;
      if (r < n && this.less(r, m)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }
}
