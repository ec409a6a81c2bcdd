/**
 * Data in the layout the models want, and batches built in JS.
 * Why JS: gathering rows with tf.gather is ~50× slower on wasm than copying rows into a Float32Array and uploading it.
 */
import { ErrorCode, SitekdError } from '../errors';
import { tf, type Tensor2D, type Tensor3D } from './tf';
import type { WindowSet } from './types';

/** Rows of fixed width in one Float32Array: windows `[n, L·C]` in channels-last order, or features `[n, F]`. */
export interface Rows {
  readonly n: number;
  readonly width: number;
  readonly data: Float32Array;
}

/** `[n, C, L]` (file/PyTorch layout) → `[n, L, C]` rows (tfjs layout). Checks shape and finiteness. */
export function toChannelsLast(ws: WindowSet): Rows {
  const { n, channels: c, length: len, x } = ws;
  if (!(n >= 0 && c > 0 && len > 0) || x.length !== n * c * len) {
    throw new SitekdError(ErrorCode.INPUT_SHAPE, `window set has ${x.length} values, expected n·C·L = ${n}·${c}·${len}`);
  }
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++) {
    const base = i * c * len;
    for (let ch = 0; ch < c; ch++) {
      const src = base + ch * len;
      for (let t = 0; t < len; t++) {
        const val = x[src + t] as number;
        if (!Number.isFinite(val)) {
          throw new SitekdError(ErrorCode.INPUT_NONFINITE, `window ${i} channel ${ch} sample ${t} is ${val}`);
        }
        out[base + t * c + ch] = val;
      }
    }
  }
  return { n, width: c * len, data: out };
}

/** Copies the rows `idx` into a new tensor of shape `[idx.length, ...rowShape]`. */
export function gatherRows(rows: Rows, idx: ArrayLike<number>, rowShape: number[]): tf.Tensor {
  const w = rows.width;
  const out = new Float32Array(idx.length * w);
  for (let i = 0; i < idx.length; i++) {
    const r = idx[i] as number;
    out.set(rows.data.subarray(r * w, r * w + w), i * w);
  }
  return tf.tensor(out, [idx.length, ...rowShape]);
}

export function windowsTensor(rows: Rows, idx: ArrayLike<number>, len: number, c: number): Tensor3D {
  return gatherRows(rows, idx, [len, c]) as Tensor3D;
}

export function oneHot(labels: ArrayLike<number>, idx: ArrayLike<number>, numClasses: number): Tensor2D {
  const out = new Float32Array(idx.length * numClasses);
  for (let i = 0; i < idx.length; i++) out[i * numClasses + (labels[idx[i] as number] as number)] = 1;
  return tf.tensor2d(out, [idx.length, numClasses]);
}

/** One-hot rows of a constant class (domain labels: 1 = source, 0 = target; docs/unikd.md §7.12). */
export function constantOneHot(n: number, cls: number, numClasses: number): Tensor2D {
  const out = new Float32Array(n * numClasses);
  for (let i = 0; i < n; i++) out[i * numClasses + cls] = 1;
  return tf.tensor2d(out, [n, numClasses]);
}

/** Applies `fn` to consecutive chunks of rows and concatenates the 2-D outputs as plain rows. */
export function mapChunks(rows: Rows, chunk: number, fn: (idx: Int32Array) => Tensor2D): Rows {
  const parts: Float32Array[] = [];
  let width = 0;
  for (let start = 0; start < rows.n; start += chunk) {
    const end = Math.min(rows.n, start + chunk);
    const idx = new Int32Array(end - start);
    for (let i = 0; i < idx.length; i++) idx[i] = start + i;
    const out = tf.tidy(() => fn(idx));
    width = out.shape[1];
    parts.push(out.dataSync() as Float32Array);
    out.dispose();
  }
  return joinRows(parts, width);
}

/** Consecutive parts of rows of one width as one Rows. */
export function joinRows(parts: readonly Float32Array[], width: number): Rows {
  const data = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    data.set(p, off);
    off += p.length;
  }
  return { n: data.length / width, width, data };
}
