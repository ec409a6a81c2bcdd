/**
 * A classifier head fitted to an operator's labelled windows of a site: softmax regression on the model's features
 * (the net's own classifier shape, so the artifact and the agents do not change), started from the model's head and
 * fitted by full-batch gradient descent. Meant for a `site-adapt` candidate, whose label-free centroid head is where
 * some sites stall: on HAR sites 16 and 23 the features separate standing from sitting, but no centroid head does
 * (docs/adaptation.md §4 "For scale, labels"). Only the head moves, so a few dozen labelled windows per class are
 * enough to fit it.
 */
import type { Rows } from './batches';
import type { Cnn } from './cnn';
import { cloneCnn } from './site-adapt';
import { tf } from './tf';

/**
 * Labelled windows each class needs before a head is fitted. At 10 per class a fitted head lost 3.3 points on HAR site
 * 18 (seed 0), and 60 labelled windows were too few for the gate to pass any candidate; at 20 no candidate of the five
 * issue sites (seeds 0 and 1) was below the generic student (docs/adaptation.md §1).
 */
export const LABELLED_HEAD_MIN_PER_CLASS = 20;
/** Gradient steps; the fit converges well before on HAR (the loss changes < 1e-4 per 100 steps by then). */
const STEPS = 2000;

/** Weights of a linear head: `w` is `[features, classes]` row-major (as `clf.w`), `b` `[classes]`. */
export interface HeadWeights {
  readonly w: Float32Array;
  readonly b: Float32Array;
}

/** Why `y` cannot fit a head of `numClasses` classes (a class with too few windows), or undefined when it can. */
export function labelledShortfall(y: Uint8Array, numClasses: number): string | undefined {
  const count = new Array<number>(numClasses).fill(0);
  for (const l of y) if (l < numClasses) count[l]!++;
  const short = count.map((n, c) => ({ n, c })).filter((x) => x.n < LABELLED_HEAD_MIN_PER_CLASS);
  if (short.length === 0) return undefined;
  const list = short.map((x) => `class ${x.c}: ${x.n}`).join(', ');
  return `a fitted head needs ${LABELLED_HEAD_MIN_PER_CLASS} labelled windows of every class (${list})`;
}

export function headOf(net: Cnn): HeadWeights {
  return { w: Float32Array.from(net.vars['clf.w']!.dataSync() as Float32Array), b: Float32Array.from(net.vars['clf.b']!.dataSync() as Float32Array) };
}

/** A copy of `net` whose classifier is `h`. */
export function withHead(net: Cnn, h: HeadWeights): Cnn {
  const copy = cloneCnn(net);
  const k = net.spec.numClasses;
  tf.tidy(() => {
    copy.vars['clf.w']!.assign(tf.tensor2d(h.w, [h.w.length / k, k]));
    copy.vars['clf.b']!.assign(tf.tensor1d(h.b));
  });
  return copy;
}

/**
 * Softmax regression of labels `y` on feature rows `f`, from `init`: full-batch Adam (step 0.01, the usual betas),
 * which scales each weight's step by its own gradient history, so the fit does not depend on the features' scale
 * (HAR's pooled features have a mean squared norm of about 60, where plain gradient descent needs a step the
 * curvature bound makes 30 times too small to move the head in 2000 steps).
 */
export function fitHead(f: Rows, y: Uint8Array, init: HeadWeights): HeadWeights {
  const d = f.width;
  const k = init.b.length;
  const theta = Float64Array.from([...init.w, ...init.b]);
  const g = new Float64Array(theta.length);
  const m = new Float64Array(theta.length);
  const v = new Float64Array(theta.length);
  const p = new Float64Array(k);
  const [lr, b1, b2, eps] = [0.01, 0.9, 0.999, 1e-8];
  for (let s = 1; s <= STEPS; s++) {
    g.fill(0);
    const w = theta.subarray(0, d * k);
    const b = theta.subarray(d * k);
    for (let i = 0; i < f.n; i++) {
      const row = f.data.subarray(i * d, (i + 1) * d);
      softmaxInto(row, w, b, p);
      p[y[i]!]! -= 1;
      for (let c = 0; c < k; c++) g[d * k + c]! += p[c]! / f.n;
      for (let j = 0; j < d; j++) {
        const x = row[j]! / f.n;
        if (x !== 0) for (let c = 0; c < k; c++) g[j * k + c]! += x * p[c]!;
      }
    }
    const c1 = 1 - b1 ** s;
    const c2 = 1 - b2 ** s;
    for (let t = 0; t < theta.length; t++) {
      m[t] = b1 * m[t]! + (1 - b1) * g[t]!;
      v[t] = b2 * v[t]! + (1 - b2) * g[t]! ** 2;
      theta[t]! -= (lr * (m[t]! / c1)) / (Math.sqrt(v[t]! / c2) + eps);
    }
  }
  return { w: Float32Array.from(theta.subarray(0, d * k)), b: Float32Array.from(theta.subarray(d * k)) };
}

/** The head's class per feature row. */
export function headArgmax(f: Rows, h: HeadWeights): Uint8Array {
  const k = h.b.length;
  const w = Float64Array.from(h.w);
  const b = Float64Array.from(h.b);
  const p = new Float64Array(k);
  const out = new Uint8Array(f.n);
  for (let i = 0; i < f.n; i++) {
    softmaxInto(f.data.subarray(i * f.width, (i + 1) * f.width), w, b, p);
    let best = 0;
    for (let c = 1; c < k; c++) if (p[c]! > p[best]!) best = c;
    out[i] = best;
  }
  return out;
}

function softmaxInto(row: Float32Array, w: Float64Array, b: Float64Array, p: Float64Array): void {
  const k = b.length;
  for (let c = 0; c < k; c++) p[c] = b[c]!;
  for (let j = 0; j < row.length; j++) {
    const x = row[j]!;
    if (x !== 0) for (let c = 0; c < k; c++) p[c]! += x * w[j * k + c]!;
  }
  let m = -Infinity;
  for (let c = 0; c < k; c++) m = Math.max(m, p[c]!);
  let z = 0;
  for (let c = 0; c < k; c++) z += p[c] = Math.exp(p[c]! - m);
  for (let c = 0; c < k; c++) p[c]! /= z;
}
