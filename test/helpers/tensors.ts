/**
 * Test helpers for the ML core: tensor-leak assertions, seeded random data and numeric comparisons.
 */
import assert from 'node:assert/strict';
import { selectBackend, type BackendName } from '../../shared/ml/backend';
import { tf, type Tensor } from '../../shared/ml/tf';
import { createRng } from '../../shared/random';

/** Live tensor count (variables included). */
export function liveTensors(): number {
  return tf.memory().numTensors;
}

/**
 * Runs `fn` once as warm-up (caches, optimizer slots), then `iterations` more times, and asserts the number of live
 * tensors is the same after every iteration as after the warm-up. `fn` may return tensors: they are disposed.
 */
export function assertNoTensorLeak(fn: () => unknown, iterations = 3, label = 'fn'): void {
  const run = (): void => {
    const out = fn();
    if (out instanceof tf.Tensor) out.dispose();
    else if (Array.isArray(out)) for (const t of out) if (t instanceof tf.Tensor) t.dispose();
  };
  run();
  const before = liveTensors();
  for (let i = 0; i < iterations; i++) {
    run();
    const now = liveTensors();
    assert.equal(now, before, `${label}: ${now - before} tensors leaked after iteration ${i + 1} of ${iterations}`);
  }
}

/** Switches the global tfjs backend (the choice is process-wide). */
export async function useBackend(name: BackendName): Promise<void> {
  const got = await selectBackend(name);
  assert.equal(got.name, name);
  assert.equal(tf.getBackend(), name);
}

/** Standard-normal Float32Array of `size` values from a seeded stream (× scale). */
export function randn(seed: number, size: number, scale = 1): Float32Array {
  const rng = createRng(seed);
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = rng.normal() * scale;
  return out;
}

/** Uniform [lo, hi) Float32Array from a seeded stream. */
export function randu(seed: number, size: number, lo: number, hi: number): Float32Array {
  const rng = createRng(seed);
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = rng.uniform(lo, hi);
  return out;
}

export function prod(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

/** A seeded random-normal tensor. */
export function randTensor(seed: number, shape: number[], scale = 1): Tensor {
  return tf.tensor(randn(seed, prod(shape), scale), shape);
}

export function values(x: Tensor | ArrayLike<number>): Float64Array {
  return Float64Array.from(x instanceof tf.Tensor ? (x.dataSync() as Float32Array) : x);
}

/**
 * Asserts `max|a − b| ≤ rtol · max(max|b|, floor)`: a relative tolerance against the reference's scale (per-element
 * relative error is meaningless for values that are sums of mixed-sign terms close to 0).
 */
export function assertClose(actual: Tensor | ArrayLike<number>, expected: Tensor | ArrayLike<number>, rtol: number, label: string, floor = 1e-6): void {
  if (actual instanceof tf.Tensor && expected instanceof tf.Tensor) {
    assert.deepEqual(actual.shape, expected.shape, `${label}: shape`);
  }
  const a = values(actual);
  const b = values(expected);
  assert.equal(a.length, b.length, `${label}: length`);
  let maxDiff = 0;
  let scale = floor;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] as number) - (b[i] as number));
    assert.ok(Number.isFinite(d), `${label}: element ${i} is ${a[i]} vs ${b[i]}`);
    if (d > maxDiff) maxDiff = d;
    scale = Math.max(scale, Math.abs(b[i] as number));
  }
  assert.ok(maxDiff <= rtol * scale, `${label}: max |diff| ${maxDiff} > ${rtol} × ${scale}`);
}
