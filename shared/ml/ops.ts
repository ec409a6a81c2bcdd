/**
 * Training ops with PyTorch semantics that are fast on the tfjs wasm backend.
 *
 * Why custom gradients: tfjs-wasm has no Conv2DBackpropFilter (tfjs#8474) and a naive Conv2DBackpropInput, and its
 * reductions over leading axes, gathers and broadcasts on middle axes are slow, while Conv2D and MatMul go through
 * XNNPACK. So every backward pass here is written with forward convolutions, matMul and same-shape element-wise ops
 * (docs/backends.md §6; measured in bench/speed.ts). Layout is channels-last: `[batch, time, channels]`.
 */
import { tf, type Tensor, type Tensor2D, type Tensor3D } from './tf';

export const BN_EPS = 1e-5; // PyTorch BatchNorm1d default (tfjs' default 1e-3 would change results)

type GradFunc = (dy: Tensor, saved: Tensor[]) => Tensor | Tensor[];
type CustomFn = (...args: [Tensor, ...(Tensor | tf.GradSaveFunc)[]]) => { value: Tensor; gradFunc: GradFunc };

/** tf.customGrad with the tensor/save arguments typed as written (its own typing lumps them together). */
export function customOp(fn: CustomFn): (...inputs: Tensor[]) => Tensor {
  return tf.customGrad(fn as unknown as Parameters<typeof tf.customGrad>[0]) as (...inputs: Tensor[]) => Tensor;
}

const onesCache = new Map<string, Tensor2D>();

/** A cached constant row `[1, n]` filled with `value`: reductions over rows as a matMul (XNNPACK) instead of Sum. */
function constRow(n: number, value: number): Tensor2D {
  const key = `${tf.getBackend()}:${n}:${value}`;
  let t = onesCache.get(key);
  if (t === undefined || t.isDisposed) {
    t = tf.keep(tf.fill([1, n], value) as Tensor2D);
    onesCache.set(key, t);
  }
  return t;
}

const flipCache = new Map<string, Tensor2D>();

/** The k×k anti-identity: `matMul(P, w)` reverses the first axis of w (tf.reverse is ~40× slower on wasm). */
function flipMatrix(k: number): Tensor2D {
  const key = `${tf.getBackend()}:${k}`;
  let t = flipCache.get(key);
  if (t === undefined || t.isDisposed) {
    const v = new Float32Array(k * k);
    for (let i = 0; i < k; i++) v[i * k + (k - 1 - i)] = 1;
    t = tf.keep(tf.tensor2d(v, [k, k]));
    flipCache.set(key, t);
  }
  return t;
}

/** Sum over the rows of a 2-D tensor: `[r, c] → [1, c]`. */
export function sumRows(x: Tensor2D): Tensor2D {
  return tf.matMul(constRow(x.shape[0], 1), x);
}

function meanRows(x: Tensor2D): Tensor2D {
  return tf.matMul(constRow(x.shape[0], 1 / x.shape[0]), x);
}

function convForward(x: Tensor3D, w: Tensor3D, stride: number, pad: number): Tensor3D {
  // Explicit padding is 4-D because conv1d runs as conv2d on [n, 1, L, c] (docs/backends.md §4).
  return tf.conv1d(x, w, stride, pad === 0 ? 'valid' : [[0, 0], [0, 0], [pad, pad], [0, 0]]);
}

/**
 * PyTorch Conv1d (no bias, symmetric zero padding). x `[n, L, cin]`, w `[k, cin, cout]` → `[n, Lout, cout]`.
 * `needInputGrad: false` for the first layer (its input is data) skips the dx convolution.
 * Stride > 1 is supported only there, which is the only place the AdaTime CNN uses it.
 */
export function conv1d(x: Tensor3D, w: Tensor3D, stride: number, pad: number, needInputGrad: boolean): Tensor3D {
  if (stride !== 1 && needInputGrad) throw new Error('conv1d: input gradient with stride > 1 is not implemented');
  const f = customOp(((xIn: Tensor, wIn: Tensor, save: tf.GradSaveFunc) => {
    const xi = xIn as Tensor3D;
    const wi = wIn as Tensor3D;
    save([xi, wi]);
    return {
      value: convForward(xi, wi, stride, pad),
      gradFunc: (dyIn: Tensor, saved: Tensor[]) => {
        const dy = dyIn as Tensor3D; // [n, Lout, cout]
        const [xs, ws] = saved as [Tensor3D, Tensor3D];
        const [n, , cin] = xs.shape;
        const [k, , cout] = ws.shape;
        const lOut = dy.shape[1];
        // dW[j, ci, co] = Σ_n Σ_t xpad[n, t·s + j, ci] · dy[n, t, co]: a forward conv whose batch is the input
        // channels and whose channels are the samples (docs/backends.md §6); dilation s handles the stride.
        const xp = pad === 0 ? xs : tf.pad(xs, [[0, 0], [pad, pad], [0, 0]]);
        const xt = tf.transpose(xp, [2, 1, 0]); // [cin, Lpad, n]
        const ft = tf.transpose(dy, [1, 0, 2]); // [Lout, n, cout]
        let dwT = tf.conv1d(xt, ft, 1, 'valid', 'NWC', stride); // [cin, ≥k, cout]
        if (dwT.shape[1] !== k) dwT = tf.slice(dwT, [0, 0, 0], [cin, k, cout]);
        const dw = tf.transpose(dwT, [1, 0, 2]); // [k, cin, cout]
        if (!needInputGrad) return [tf.zerosLike(xs), dw];
        // dx = full correlation of dy with the time-reversed kernel, in/out channels swapped.
        const wFlip = tf.reshape(tf.matMul(flipMatrix(k), tf.reshape(ws, [k, cin * cout])), [k, cin, cout]);
        const wBack = tf.transpose(wFlip, [0, 2, 1]); // [k, cout, cin]
        const p2 = k - 1 - pad;
        const dx = tf.conv1d(dy, wBack as Tensor3D, 1, [[0, 0], [0, 0], [p2, p2], [0, 0]]); // [n, L, cin]
        if (dx.shape[1] !== xs.shape[1]) throw new Error(`conv1d grad: length ${dx.shape[1]} != ${xs.shape[1]} (Lout ${lOut})`);
        return [dx, dw];
      },
    };
  }) as CustomFn);
  return f(x, w) as Tensor3D;
}

/** Batch statistics of one BN call, kept for the running-statistics update after the step. */
export interface BatchStats {
  readonly mean: Tensor2D; // [1, c]
  readonly variance: Tensor2D; // [1, c], biased (normalisation); the running update un-biases it
  readonly count: number; // n·L
}

/**
 * Train-mode BatchNorm1d → ReLU → MaxPool1d(2, 2, padding 1), one custom gradient for the three.
 * y `[n, L, c]` → `[n, floor(L/2)+1, c]`. The batch mean/variance are pushed to `stats` (kept tensors; the caller
 * disposes them after updating the running statistics).
 */
export function bnReluPoolTrain(y: Tensor3D, gamma: Tensor, beta: Tensor, stats: BatchStats[]): Tensor3D {
  const [n, len, c] = y.shape;
  const lo = Math.floor(len / 2) + 1;
  const cnt = n * len;
  const f = customOp(((yIn: Tensor, gIn: Tensor, bIn: Tensor, save: tf.GradSaveFunc) => {
    const y2 = tf.reshape(yIn, [cnt, c]) as Tensor2D;
    const mean = meanRows(y2);
    const cen = tf.sub(y2, mean);
    const variance = meanRows(tf.square(cen) as Tensor2D);
    const rstd = tf.rsqrt(tf.add(variance, BN_EPS));
    const xhat = tf.mul(cen, rstd);
    const r = tf.relu(tf.add(tf.mul(xhat, gIn), bIn));
    // MaxPool(2, 2, pad 1): pad one zero in front (and one behind when L is even), pair neighbours, take the max.
    // Zero padding equals PyTorch's −inf padding because the input is ≥ 0 after ReLU (docs/unikd.md §7.3).
    const rp = tf.reshape(tf.pad(tf.reshape(r, [n, len, c]) as Tensor3D, [[0, 0], [1, 2 * lo - len - 1], [0, 0]]), [n, lo, 2, c]);
    const a = tf.reshape(tf.slice(rp, [0, 0, 0, 0], [n, lo, 1, c]), [n, lo, c]);
    const b = tf.reshape(tf.slice(rp, [0, 0, 1, 0], [n, lo, 1, c]), [n, lo, c]);
    const m = tf.maximum(a, b);
    stats.push({ mean: tf.keep(mean), variance: tf.keep(variance), count: cnt });
    save([xhat, rstd, gIn, a, b, m]);
    return {
      value: m,
      gradFunc: (dmIn: Tensor, saved: Tensor[]) => {
        const [xh, rs, g, sa, sb, sm] = saved as [Tensor2D, Tensor2D, Tensor, Tensor3D, Tensor3D, Tensor3D];
        // Pool + ReLU backward: the gradient goes to the first maximum (PyTorch's tie rule) and only where the
        // maximum is > 0 (ReLU's gradient at 0 is 0, which also kills any tie with a padded zero).
        const gPos = tf.mul(dmIn, tf.step(sm));
        const da = tf.mul(gPos, tf.cast(tf.greaterEqual(sa, sb), 'float32'));
        const db = tf.sub(gPos, da);
        const dz = tf.reshape(tf.slice(tf.reshape(tf.stack([da, db], 2), [n, 2 * lo, c]), [0, 1, 0], [n, len, c]), [cnt, c]) as Tensor2D;
        // BN backward: dx = γ·rstd·(dz − mean(dz) − x̂·mean(dz·x̂)); dγ = Σ dz·x̂; dβ = Σ dz.
        const dbeta = sumRows(dz);
        const dgamma = sumRows(tf.mul(dz, xh) as Tensor2D);
        const inner = tf.sub(tf.sub(dz, tf.mul(dbeta, 1 / cnt)), tf.mul(xh, tf.mul(dgamma, 1 / cnt)));
        const dy = tf.reshape(tf.mul(inner, tf.mul(g, rs)), [n, len, c]);
        return [dy, tf.reshape(dgamma, g.shape), tf.reshape(dbeta, g.shape)];
      },
    };
  }) as CustomFn);
  return f(y, gamma, beta) as Tensor3D;
}

/** Eval-mode BatchNorm1d (running statistics) → ReLU → MaxPool1d(2, 2, padding 1). */
export function bnReluPoolEval(y: Tensor3D, gamma: Tensor, beta: Tensor, runMean: Tensor, runVar: Tensor): Tensor3D {
  const [n, len, c] = y.shape;
  const lo = Math.floor(len / 2) + 1;
  const z = tf.relu(tf.batchNorm(y, runMean as tf.Tensor1D, runVar as tf.Tensor1D, beta as tf.Tensor1D, gamma as tf.Tensor1D, BN_EPS));
  return tf.reshape(tf.maxPool(tf.reshape(z, [n, 1, len, c]) as tf.Tensor4D, [1, 2], [1, 2], [[0, 0], [0, 0], [1, 1], [0, 0]]), [n, lo, c]);
}

/** Gradient reversal (DANN): identity forward, −α·dy backward. */
export function gradReverse(x: Tensor, alpha: number): Tensor {
  const f = customOp((xIn: Tensor) => ({
    value: tf.clone(xIn),
    gradFunc: (dy: Tensor) => tf.mul(dy, -alpha),
  }));
  return f(x);
}

/** Inverted-dropout mask from our seeded RNG (0 or 1/(1−p)), so runs are reproducible on every backend. */
export function dropoutMask(shape: number[], rate: number, next: () => number): Tensor {
  let size = 1;
  for (const d of shape) size *= d;
  const v = new Float32Array(size);
  const keep = 1 / (1 - rate);
  for (let i = 0; i < size; i++) v[i] = next() >= rate ? keep : 0;
  return tf.tensor(v, shape);
}

/** Dense layer `x·W + b` (W `[in, out]`). */
export function dense(x: Tensor2D, w: Tensor, b: Tensor): Tensor2D {
  return tf.add(tf.matMul(x, w as Tensor2D), b) as Tensor2D;
}

/** Mean cross-entropy with one-hot targets `[B, C]` (PyTorch F.cross_entropy, mean reduction). */
export function crossEntropy(logits: Tensor2D, oneHot: Tensor2D): Tensor {
  return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), 1)));
}

/** Per-row KL(q_teacher ‖ q_student) at temperature τ, from logits, with log-softmax on both sides (docs/unikd.md §7.11). */
export function klRows(teacherLogits: Tensor2D, studentLogits: Tensor2D, tau: number): Tensor {
  const lpt = tf.logSoftmax(tf.div(teacherLogits, tau));
  const lps = tf.logSoftmax(tf.div(studentLogits, tau));
  return tf.sum(tf.mul(tf.exp(lpt), tf.sub(lpt, lps)), 1); // [B]
}

/** Mean binary cross-entropy on logits against a constant label (PyTorch BCEWithLogitsLoss, mean). */
export function bceWithLogits(logits: Tensor, label: 0 | 1): Tensor {
  // max(x, 0) − x·z + log(1 + e^{−|x|})
  const x = logits;
  const term = tf.add(tf.relu(x), tf.log1p(tf.exp(tf.neg(tf.abs(x)))));
  return tf.mean(label === 1 ? tf.sub(term, x) : term);
}

/** Mean absolute error over all elements (PyTorch L1Loss). */
export function l1Mean(a: Tensor, b: Tensor): Tensor {
  return tf.mean(tf.abs(tf.sub(a, b)));
}
