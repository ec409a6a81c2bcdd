/**
 * Label-free adaptation of a trained CNN to one site's windows, without gradient steps:
 *  1. **Batch-norm statistics of the site** (AdaBN): every BN layer's running mean and variance become the
 *     population statistics of the site's windows, block by block (block k's statistics are taken after blocks < k
 *     already normalise with their adapted ones). A sensor mounted differently shifts and scales the early activations; this
 *     puts them back where the trained weights expect them. `sourcePrior` keeps that share of the model's own
 *     (source) statistics: the moments of the mixture `sourcePrior · source + (1 − sourcePrior) · site`. A few hundred
 *     windows carry whatever mix of activities the site happened to record, and full replacement moves the class
 *     boundaries with that mix (docs/adaptation.md §1 has the measurement).
 *  2. **A centroid head**: the classifier is replaced by one unit-length centroid per class of the site's features,
 *     found by clustering that starts from the model's own predictions (soft-weighted centroids, then `iterations`
 *     rounds of nearest-centroid labels, by cosine). Logits are `scale · f · ĉ_k`, so the argmax is the nearest
 *     centroid; `scale` keeps the logits' spread equal to the original head's on the same windows (the agents'
 *     confidence and entropy figures keep their meaning).
 *  3. **A turn of the site's sensors** (only with `frame`, for data sets whose channels form x/y/z triples;
 *     sensor-frame.ts): steps 1 and 2 run once per angle tried about the site's vertical, each with the turn folded
 *     into the first convolution, and the adapted model that is surest of the site's windows while still using its
 *     classes (lowest mean entropy minus entropy of the mean prediction) is kept; with `voters`, the angle whose
 *     loss summed over this model and the voters (each turned and adapted alike) is lowest. A sensor worn or fixed
 *     turned round the vertical mixes its horizontal channels, which batch-norm statistics cannot undo.
 * All use only the windows, never labels. `init` warm-starts the clustering from earlier centroids (the site's
 * previous round) instead of the predictions. Measured against UNI-KD rounds by `npm run bench:adaptation`
 * (bench/results/adaptation-har.md).
 */
import { gatherRows, joinRows, mapChunks, toChannelsLast, windowsTensor, type Rows } from './batches';
import { classify, type Cnn } from './cnn';
import { bnReluPoolEval, BN_EPS } from './ops';
import { constantVar, disposeVars, type VarMap } from './params';
import { searchAngles, turnedInput, verticalAxis, type FrameSearch, type Turn } from './sensor-frame';
import { tf, type Tensor2D, type Tensor3D } from './tf';
import { argmaxRows, featureRows } from './train';
import type { WindowSet } from './types';
import { ErrorCode, SitekdError } from '../errors';

/** How a model is adapted to a site (hub config `adaptIterations`, `adaptSourcePrior`). */
export interface SiteAdaptSettings {
  /** Nearest-centroid rounds after the soft start (0: soft centroids only). */
  readonly iterations: number;
  /** Share (0..1) of the model's own batch-norm statistics kept against the site's; default 0, the site's alone. */
  readonly sourcePrior?: number;
  /** Turns of the site's 3-axis sensors to try (sensor-frame.ts); absent: the input as it is. */
  readonly frame?: FrameSearch | undefined;
}

/** A turn already chosen (by a candidate): the model is adapted under it alone, no search (the gate's reference). */
export interface FixedTurn {
  readonly groups: FrameSearch['groups'];
  readonly turn: Turn;
}

export interface SiteAdaptOptions extends SiteAdaptSettings {
  /** Centroids `[numClasses, features]` of an earlier adaptation to start from. */
  readonly init?: Float32Array;
  /**
   * Other models that vote on the turn: each is turned and adapted alike at every angle, and the angle kept is the
   * one with the lowest sum of all their information-maximisation losses and this model's. Independently trained
   * models err on different sites; one model's own loss picks a wrong angle about one time in ten
   * (docs/adaptation.md §1.5, `npm run bench:turn-vote`). Only read with `frame`.
   */
  readonly voters?: readonly Cnn[] | undefined;
  /** Adapt under this turn, without a search (overrides `frame`). */
  readonly fixedTurn?: FixedTurn | undefined;
}

export interface SiteAdaptResult {
  readonly net: Cnn;
  /** Unit centroids `[numClasses, features]`, row-major: the next round's `init`. */
  readonly centroids: Float32Array;
  /** Windows whose nearest-centroid label differs from the original model's argmax. */
  readonly relabelled: number;
  /** The turn `net` applies to its input, folded into its first convolution; absent when no turn was searched. */
  readonly turn?: Turn;
}

const CHUNK = 256;

/** A copy of `base` adapted to `ws` (see the module comment). `base` is left as it is. */
export function adaptToSite(base: Cnn, ws: WindowSet, o: SiteAdaptOptions): SiteAdaptResult {
  if (ws.n < 2) throw new SitekdError(ErrorCode.DISTILL_TOO_FEW_SAMPLES, `site adaptation needs at least 2 windows, got ${ws.n}`);
  const prior = o.sourcePrior ?? 0;
  if (!(prior >= 0 && prior <= 1)) throw new SitekdError(ErrorCode.CONFIG_INVALID, `sourcePrior must be in [0, 1], got ${prior}`);
  const rows = toChannelsLast(ws);
  if (o.fixedTurn !== undefined) return adaptTurned(base, rows, o, prior, o.fixedTurn.groups, o.fixedTurn.turn).result;
  const f = o.frame;
  const axis = f !== undefined && f.maxDegrees > 0 && f.groups.length > 0 ? verticalAxis(ws, f.groups) : undefined;
  if (f === undefined || axis === undefined) return adaptOnce(base, rows, o, prior).result;
  // Every angle is adapted the same way; the one whose adapted model is most sure of its windows while still using
  // its classes (information maximisation: mean entropy minus the entropy of the mean prediction) is kept. Angle 0
  // is tried first and a tie keeps the smaller turn.
  let best: Adapted | undefined;
  try {
    for (const degrees of searchAngles(f)) {
      const turn = { axis, degrees };
      const a = adaptTurned(base, rows, o, prior, f.groups, turn);
      let score = a.score;
      try {
        for (const v of o.voters ?? []) {
          const va = adaptTurned(v, rows, { iterations: o.iterations }, prior, f.groups, turn);
          disposeVars(va.result.net.vars);
          score += va.score;
        }
      } catch (err) {
        disposeVars(a.result.net.vars);
        throw err;
      }
      const worse = best !== undefined && !(score < best.score - 1e-9);
      if (!worse && best !== undefined) disposeVars(best.result.net.vars);
      if (worse) disposeVars(a.result.net.vars);
      else best = { result: a.result, score };
    }
  } catch (err) {
    if (best !== undefined) disposeVars(best.result.net.vars);
    throw err;
  }
  return best!.result;
}

/** `base` adapted under one turn of its input (folded into a copy of its first convolution). */
function adaptTurned(base: Cnn, rows: Rows, o: SiteAdaptOptions, prior: number, groups: FrameSearch['groups'], turn: Turn): Adapted {
  const turned = turnedInput(base, groups, turn);
  try {
    return adaptOnce(turned, rows, o, prior, turn);
  } finally {
    turned.vars['fe.conv1.w']!.dispose();
  }
}

interface Adapted {
  readonly result: SiteAdaptResult;
  /** Information-maximisation loss of the adapted model on the site's windows (lower: surer, classes still used). */
  readonly score: number;
}

function adaptOnce(base: Cnn, rows: Rows, o: SiteAdaptOptions, prior: number, turn?: Turn): Adapted {
  const net = cloneCnn(base);
  try {
    const features = siteBatchNorm(net, rows, prior);
    const originalLogits = headRows(net, features);
    const k = net.spec.numClasses;
    const start = o.init !== undefined ? hardWeights(nearest(features, checkInit(o.init, k, features.width)), k) : softmaxRows(originalLogits);
    let centroids = centroidsOf(features, start, k);
    for (let it = 0; it < o.iterations; it++) centroids = centroidsOf(features, hardWeights(nearest(features, centroids), k), k);
    const labels = nearest(features, centroids);
    const scale = matchedScale(originalLogits, features, centroids);
    setHead(net, centroids, scale);
    const before = argmaxRows(originalLogits);
    let relabelled = 0;
    labels.forEach((l, i) => (relabelled += l === before[i] ? 0 : 1));
    return { result: { net, centroids, relabelled, ...(turn !== undefined && { turn }) }, score: infoMaxLoss(headRows(net, features)) };
  } catch (err) {
    disposeVars(net.vars);
    throw err;
  }
}

/**
 * Information-maximisation loss of logit rows: mean entropy of the softmax predictions minus the entropy of their
 * mean (nats). Lower: surer of each window while still using the classes; a turn's score (bench/turn-vote.ts too).
 */
export function infoMaxLoss(logits: Rows): number {
  const k = logits.width;
  const mean = new Float64Array(k);
  let entropy = 0;
  const p = softmaxRows(logits).data;
  for (let i = 0; i < logits.n; i++) {
    for (let c = 0; c < k; c++) {
      const q = p[i * k + c]!;
      mean[c]! += q / logits.n;
      if (q > 0) entropy -= (q * Math.log(q)) / logits.n;
    }
  }
  let marginal = 0;
  for (const q of mean) if (q > 0) marginal -= q * Math.log(q);
  return entropy - marginal;
}

/**
 * Benchmarks only: a copy of `net` whose head is the class centroids of labelled windows' features (nearest centroid
 * by cosine, as adaptToSite's head), everything else as it is. It shows what the best centroid head could do with
 * `net`'s features, so a benchmark can tell a head that clustered badly from features that do not separate the
 * classes. `ws` must be labelled.
 */
export function labelledCentroidHead(net: Cnn, ws: WindowSet): Cnn {
  const y = ws.y;
  if (y === undefined || y.length !== ws.n) throw new SitekdError(ErrorCode.INPUT_SHAPE, 'a labelled centroid head needs one label per window');
  const k = net.spec.numClasses;
  if (y.some((l) => l >= k)) throw new SitekdError(ErrorCode.INPUT_SHAPE, `labels must be below ${k}, the model's classes`);
  const features = featureRows(net, toChannelsLast(ws));
  const copy = cloneCnn(net);
  setHead(copy, centroidsOf(features, hardWeights(y, k), k), 1);
  return copy;
}

/** The unit centroids of a head made by adaptToSite (its weight columns, normalised), for warm starts. */
export function centroidsOfHead(net: Cnn): Float32Array {
  const w = net.vars['clf.w'];
  if (w === undefined) throw new SitekdError(ErrorCode.MODEL_SPEC_MISMATCH, 'cnn has no classifier');
  const [f, k] = w.shape as [number, number];
  const data = w.dataSync() as Float32Array;
  const out = new Float32Array(k * f);
  for (let c = 0; c < k; c++) for (let j = 0; j < f; j++) out[c * f + j] = data[j * k + c]!;
  normaliseRows(out, k, f);
  return out;
}

/** A copy of `base` with its own variables (disposing one leaves the other). */
export function cloneCnn(base: Cnn): Cnn {
  const vars: VarMap = {};
  for (const [name, v] of Object.entries(base.vars)) {
    vars[name] = constantVar([...v.shape], 0, name, v.trainable);
    tf.tidy(() => vars[name]!.assign(v));
  }
  return { ...base, vars };
}

/**
 * Population BN statistics of the site, block by block (chunked sums, so any number of windows fits), and the site's
 * features under them. Each block's input is the previous block's output already normalised with the site's
 * statistics, kept per chunk, so every block runs once (not once per later block, and not again for the features).
 * `prior` mixes in the net's own statistics (see the module comment).
 */
function siteBatchNorm(net: Cnn, rows: Rows, prior: number): Rows {
  const { windowLength: len, inChannels: c } = net.spec;
  let h: Tensor3D[] = [];
  try {
    for (let from = 0; from < rows.n; from += CHUNK) {
      h.push(windowsTensor(rows, Array.from({ length: Math.min(CHUNK, rows.n - from) }, (_, j) => from + j), len, c));
    }
    net.blocks.forEach((b, i) => {
      const k = i + 1;
      const w = net.vars[`fe.conv${k}.w`]! as tf.Tensor as Tensor3D;
      const sum = new Float64Array(b.cout);
      const sq = new Float64Array(b.cout);
      let count = 0;
      const ys = h.map((x) => {
        const y = tf.conv1d(x, w, b.stride, b.pad === 0 ? 'valid' : [[0, 0], [0, 0], [b.pad, b.pad], [0, 0]]) as Tensor3D;
        const [s, q] = download(tf.tidy(() => [tf.sum(y, [0, 1]), tf.sum(tf.square(y), [0, 1])])) as [Float32Array, Float32Array];
        for (let j = 0; j < b.cout; j++) {
          sum[j]! += s[j]!;
          sq[j]! += q[j]!;
        }
        count += y.shape[0] * y.shape[1];
        return y;
      });
      for (const x of h) x.dispose();
      h = ys;
      const mean = Float32Array.from(sum, (v) => v / count);
      // Unbiased, like the running variance PyTorch keeps (docs/unikd.md §7.5).
      const variance = Float32Array.from(sq, (v, j) => Math.max(BN_EPS, (v - count * mean[j]! ** 2) / Math.max(1, count - 1)));
      const mixed = mixMoments(net, k, { mean, variance }, prior);
      tf.tidy(() => {
        net.vars[`fe.bn${k}.mean`]!.assign(tf.tensor1d(mixed.mean));
        net.vars[`fe.bn${k}.var`]!.assign(tf.tensor1d(mixed.variance));
      });
      const v = (name: string): tf.Tensor => net.vars[`fe.bn${k}.${name}`]!;
      h = ys.map((y) => tf.tidy(() => bnReluPoolEval(y, v('gamma'), v('beta'), v('mean'), v('var'))));
      for (const y of ys) y.dispose();
    });
    return joinRows(h.map((x) => download([tf.tidy(() => tf.mean(x, 1))])[0]!), net.blocks.at(-1)!.cout);
  } finally {
    for (const x of h) x.dispose();
  }
}

/** Mean and variance of the mixture `prior · (block k's current statistics) + (1 − prior) · site`. */
function mixMoments(net: Cnn, k: number, site: { mean: Float32Array; variance: Float32Array }, prior: number): { mean: Float32Array; variance: Float32Array } {
  if (prior === 0) return site;
  const m0 = net.vars[`fe.bn${k}.mean`]!.dataSync() as Float32Array;
  const v0 = net.vars[`fe.bn${k}.var`]!.dataSync() as Float32Array;
  const mean = Float32Array.from(site.mean, (m, j) => prior * m0[j]! + (1 - prior) * m);
  const variance = Float32Array.from(site.variance, (v, j) => {
    const second = prior * (v0[j]! + m0[j]! ** 2) + (1 - prior) * (v + site.mean[j]! ** 2);
    return Math.max(BN_EPS, second - mean[j]! ** 2);
  });
  return { mean, variance };
}

/**
 * The values of `ts`, which are disposed. (A typed array returned from tf.tidy is walked value by value as a tensor
 * container: 32k values per chunk cost more than the chunk's pooling.)
 */
function download(ts: readonly tf.Tensor[]): Float32Array[] {
  try {
    return ts.map((t) => t.dataSync() as Float32Array);
  } finally {
    for (const t of ts) t.dispose();
  }
}

/** Logits of the net's (original) head for feature rows. */
function headRows(net: Cnn, f: Rows): Rows {
  return mapChunks(f, CHUNK, (idx) => classify(net, gatherRows(f, idx, [f.width]) as Tensor2D));
}

function softmaxRows(r: Rows): Rows {
  const out = new Float32Array(r.data.length);
  for (let i = 0; i < r.n; i++) {
    const row = r.data.subarray(i * r.width, (i + 1) * r.width);
    const m = Math.max(...row);
    let z = 0;
    for (let j = 0; j < r.width; j++) z += out[i * r.width + j] = Math.exp(row[j]! - m);
    for (let j = 0; j < r.width; j++) out[i * r.width + j]! /= z;
  }
  return { n: r.n, width: r.width, data: out };
}

function hardWeights(labels: Uint8Array, k: number): Rows {
  const data = new Float32Array(labels.length * k);
  labels.forEach((l, i) => (data[i * k + l] = 1));
  return { n: labels.length, width: k, data };
}

/** Weighted mean feature per class, normalised to unit length (a class with no weight keeps a zero row). */
function centroidsOf(f: Rows, w: Rows, k: number): Float32Array {
  const out = new Float32Array(k * f.width);
  for (let i = 0; i < f.n; i++) {
    const nf = Math.hypot(...f.data.subarray(i * f.width, (i + 1) * f.width)) || 1;
    for (let c = 0; c < k; c++) {
      const wi = w.data[i * k + c]!;
      if (wi === 0) continue;
      for (let j = 0; j < f.width; j++) out[c * f.width + j]! += (wi * f.data[i * f.width + j]!) / nf;
    }
  }
  normaliseRows(out, k, f.width);
  return out;
}

function normaliseRows(m: Float32Array, rows: number, width: number): void {
  for (let c = 0; c < rows; c++) {
    const row = m.subarray(c * width, (c + 1) * width);
    const n = Math.hypot(...row);
    if (n > 0) for (let j = 0; j < width; j++) row[j]! /= n;
  }
}

/** Per row, the class whose centroid has the largest dot product (= cosine: the row's norm is common to all). */
function nearest(f: Rows, centroids: Float32Array): Uint8Array {
  const k = centroids.length / f.width;
  const out = new Uint8Array(f.n);
  for (let i = 0; i < f.n; i++) {
    let best = 0;
    let bestScore = -Infinity;
    for (let c = 0; c < k; c++) {
      let s = 0;
      for (let j = 0; j < f.width; j++) s += f.data[i * f.width + j]! * centroids[c * f.width + j]!;
      if (s > bestScore) [best, bestScore] = [c, s];
    }
    out[i] = best;
  }
  return out;
}

/** The factor that gives `f · ĉ` the same mean within-row standard deviation as the original logits. */
function matchedScale(logits: Rows, f: Rows, centroids: Float32Array): number {
  const k = logits.width;
  const spread = (get: (i: number, c: number) => number): number => {
    let total = 0;
    for (let i = 0; i < logits.n; i++) {
      let m = 0;
      for (let c = 0; c < k; c++) m += get(i, c) / k;
      let v = 0;
      for (let c = 0; c < k; c++) v += (get(i, c) - m) ** 2 / k;
      total += Math.sqrt(v);
    }
    return total / logits.n;
  };
  const dot = (i: number, c: number): number => {
    let s = 0;
    for (let j = 0; j < f.width; j++) s += f.data[i * f.width + j]! * centroids[c * f.width + j]!;
    return s;
  };
  const target = spread((i, c) => logits.data[i * k + c]!);
  const own = spread(dot);
  return own > 0 && Number.isFinite(target / own) ? target / own : 1;
}

function setHead(net: Cnn, centroids: Float32Array, scale: number): void {
  const k = net.spec.numClasses;
  const f = centroids.length / k;
  const w = new Float32Array(f * k);
  for (let c = 0; c < k; c++) for (let j = 0; j < f; j++) w[j * k + c] = scale * centroids[c * f + j]!;
  tf.tidy(() => {
    net.vars['clf.w']!.assign(tf.tensor2d(w, [f, k]));
    net.vars['clf.b']!.assign(tf.zeros([k]));
  });
}

function checkInit(init: Float32Array, k: number, width: number): Float32Array {
  if (init.length !== k * width || !init.every(Number.isFinite)) {
    throw new SitekdError(ErrorCode.MODEL_SPEC_MISMATCH, `warm-start centroids have ${init.length} values, expected ${k}×${width}`);
  }
  return init;
}
