/**
 * Plain-JS Float64 reference implementations of the PyTorch layers the CNN uses (channels-last `[n, L, c]` arrays),
 * written straight from the PyTorch formulas (docs/unikd.md §1.1, §7.2–7.5) to check the tfjs code against.
 */
import { BN_EPS } from '../../shared/ml/ops';

export interface Arr3 {
  readonly n: number;
  readonly len: number;
  readonly c: number;
  readonly data: Float64Array; // [(i * len + t) * c + ch]
}

export function arr3(n: number, len: number, c: number, data: ArrayLike<number>): Arr3 {
  if (data.length !== n * len * c) throw new Error(`arr3: ${data.length} values for ${n}×${len}×${c}`);
  return { n, len, c, data: Float64Array.from(data) };
}

/** PyTorch Conv1d without bias, symmetric zero padding; w `[k, cin, cout]`. */
export function conv1dRef(x: Arr3, w: ArrayLike<number>, k: number, cout: number, stride: number, pad: number): Arr3 {
  const { n, len, c: cin } = x;
  const lOut = Math.floor((len + 2 * pad - k) / stride) + 1;
  const out = new Float64Array(n * lOut * cout);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < lOut; t++) {
      for (let co = 0; co < cout; co++) {
        let s = 0;
        for (let j = 0; j < k; j++) {
          const src = t * stride + j - pad;
          if (src < 0 || src >= len) continue;
          for (let ci = 0; ci < cin; ci++) s += (x.data[(i * len + src) * cin + ci] as number) * (w[(j * cin + ci) * cout + co] as number);
        }
        out[(i * lOut + t) * cout + co] = s;
      }
    }
  }
  return { n, len: lOut, c: cout, data: out };
}

/** Per-channel mean and biased variance over (batch, time). */
export function batchMoments(y: Arr3): { mean: Float64Array; variance: Float64Array; count: number } {
  const { n, len, c } = y;
  const count = n * len;
  const mean = new Float64Array(c);
  const variance = new Float64Array(c);
  for (let r = 0; r < count; r++) for (let ch = 0; ch < c; ch++) mean[ch] = (mean[ch] as number) + (y.data[r * c + ch] as number);
  for (let ch = 0; ch < c; ch++) mean[ch] = (mean[ch] as number) / count;
  for (let r = 0; r < count; r++) {
    for (let ch = 0; ch < c; ch++) {
      const d = (y.data[r * c + ch] as number) - (mean[ch] as number);
      variance[ch] = (variance[ch] as number) + d * d;
    }
  }
  for (let ch = 0; ch < c; ch++) variance[ch] = (variance[ch] as number) / count;
  return { mean, variance, count };
}

/** BatchNorm1d with the given statistics (eps 1e-5) → ReLU. */
export function bnReluRef(y: Arr3, mean: ArrayLike<number>, variance: ArrayLike<number>, gamma: ArrayLike<number>, beta: ArrayLike<number>): Arr3 {
  const { c } = y;
  const out = new Float64Array(y.data.length);
  for (let r = 0; r < y.data.length; r++) {
    const ch = r % c;
    const z = (((y.data[r] as number) - (mean[ch] as number)) / Math.sqrt((variance[ch] as number) + BN_EPS)) * (gamma[ch] as number) + (beta[ch] as number);
    out[r] = Math.max(0, z);
  }
  return { ...y, data: out };
}

/** MaxPool1d(kernel 2, stride 2, padding 1) with −∞ padding: output t covers inputs 2t−1 and 2t; length floor(L/2)+1. */
export function maxPoolRef(x: Arr3): Arr3 {
  const { n, len, c } = x;
  const lo = Math.floor(len / 2) + 1;
  const out = new Float64Array(n * lo * c);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < lo; t++) {
      for (let ch = 0; ch < c; ch++) {
        let m = -Infinity;
        for (const src of [2 * t - 1, 2 * t]) if (src >= 0 && src < len) m = Math.max(m, x.data[(i * len + src) * c + ch] as number);
        out[(i * lo + t) * c + ch] = m;
      }
    }
  }
  return { n, len: lo, c, data: out };
}

/** Train-mode BN (batch statistics) → ReLU → MaxPool, plus the batch statistics. */
export function bnReluPoolTrainRef(y: Arr3, gamma: ArrayLike<number>, beta: ArrayLike<number>): { out: Arr3; mean: Float64Array; variance: Float64Array; count: number } {
  const m = batchMoments(y);
  return { out: maxPoolRef(bnReluRef(y, m.mean, m.variance, gamma, beta)), ...m };
}

/** PyTorch's running-statistics update (momentum 0.1, unbiased variance for the running estimate). */
export function runningUpdateRef(rm: Float64Array, rv: Float64Array, mean: ArrayLike<number>, variance: ArrayLike<number>, count: number, momentum = 0.1): void {
  for (let ch = 0; ch < rm.length; ch++) {
    rm[ch] = (1 - momentum) * (rm[ch] as number) + momentum * (mean[ch] as number);
    rv[ch] = (1 - momentum) * (rv[ch] as number) + momentum * (variance[ch] as number) * (count / (count - 1));
  }
}

/** AdaptiveAvgPool1d(1) + flatten: mean over time → `[n, c]` row-major. */
export function meanOverTime(x: Arr3): Float64Array {
  const { n, len, c } = x;
  const out = new Float64Array(n * c);
  for (let i = 0; i < n; i++) for (let t = 0; t < len; t++) for (let ch = 0; ch < c; ch++) out[i * c + ch] = (out[i * c + ch] as number) + (x.data[(i * len + t) * c + ch] as number) / len;
  return out;
}
