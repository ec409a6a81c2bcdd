/**
 * The training loop shared by every algorithm (docs/unikd.md §2.5, §7.13): each epoch shuffles both training sets,
 * zips them, drops the last partial batch and stops at the shorter one.
 */
import { createRng, deriveSeed } from '../random';
import type { z } from 'zod';
import { ErrorCode, SitekdError } from '../errors';
import {
  HParamsSchema,
  type AlgorithmName,
  type DistillAlgorithm,
  type HParams,
  type StepLosses,
  type TeacherOutputs,
} from './algorithms/algorithm';
import { PlainKd, SourceOnly } from './algorithms/baselines';
import { Dann } from './algorithms/dann';
import { UniKd } from './algorithms/unikd';
import { UniKdOptionsSchema, type UniKdOptions } from './algorithms/unikd-options';
import { mapChunks, oneHot, toChannelsLast, windowsTensor, type Rows } from './batches';
import { classify, createCnn, featuresEval, type Cnn } from './cnn';
import type { CnnSpec } from './model-spec';
import { tf, type Tensor2D } from './tf';
import type { WindowSet } from './types';

export interface TrainRequest {
  readonly algorithm: AlgorithmName;
  /** The network to train: teacher spec for `dann`, student spec otherwise. */
  readonly spec: CnnSpec;
  readonly source: WindowSet; // labelled
  readonly target: WindowSet; // labels, if any, are never read
  readonly seed: number;
  readonly hparams?: Partial<HParams>;
  readonly unikd?: Partial<UniKdOptions>;
  /** Required for `kd` and `unikd`. */
  readonly teacher?: Cnn;
  readonly onEpoch?: (epoch: number, epochs: number, losses: StepLosses) => void;
}

export interface TrainResult {
  readonly net: Cnn;
  readonly hparams: HParams;
  readonly unikd?: UniKdOptions;
  readonly history: StepLosses[];
  readonly trainSeconds: number;
}

/** Eval-mode features `[n, finalChannels]` of channels-last rows, in chunks. */
export function featureRows(net: Cnn, rows: Rows): Rows {
  const { windowLength: len, inChannels: c } = net.spec;
  return mapChunks(rows, 128, (idx) => featuresEval(net, windowsTensor(rows, idx, len, c)));
}

/** Teacher features and logits of every row, eval mode, in chunks. */
export function teacherOutputs(teacher: Cnn, rows: Rows): { features: Rows; logits: Rows } {
  const features = featureRows(teacher, rows);
  const logits = mapChunks(features, 512, (idx) => {
    const f = tf.tensor2d(features.data.subarray(idx[0]! * features.width, (idx[idx.length - 1]! + 1) * features.width), [idx.length, features.width]);
    return classify(teacher, f);
  });
  return { features, logits };
}

function makeAlgorithm(req: TrainRequest, net: Cnn, hp: HParams, opts: UniKdOptions, src: Rows, tgt: Rows): DistillAlgorithm {
  const rng = createRng(deriveSeed(req.seed, 2)); // dropout masks and auxiliary-head init
  if (req.algorithm === 'dann') return new Dann(net, hp, rng);
  if (req.algorithm === 'source-only') return new SourceOnly(net, hp, rng);
  if (req.teacher === undefined) throw new SitekdError(ErrorCode.CLI_USAGE, `algorithm ${req.algorithm} needs a teacher`);
  const s = teacherOutputs(req.teacher, src);
  const t = teacherOutputs(req.teacher, tgt);
  const outputs: TeacherOutputs = { srcFeatures: s.features, srcLogits: s.logits, tgtFeatures: t.features, tgtLogits: t.logits };
  if (req.algorithm === 'kd') return new PlainKd(net, hp, rng, outputs);
  return new UniKd(net, hp, opts, rng, outputs);
}

/** Zod parse with a coded error (a ZodError would reach the CLI as an unexpected crash). */
function parseConfig<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new SitekdError(ErrorCode.CONFIG_INVALID, `invalid ${what}: ${issues}`, { details: { issues: r.error.issues } });
  }
  return r.data;
}

export function train(req: TrainRequest): TrainResult {
  const hp = parseConfig(HParamsSchema, req.hparams ?? {}, 'training hyper-parameters');
  const opts = parseConfig(UniKdOptionsSchema, req.unikd ?? {}, 'UNI-KD options');
  const { ys, batch } = checkRequest(req, hp);
  const src = toChannelsLast(req.source);
  const tgt = toChannelsLast(req.target);
  const started = performance.now();
  const net = createCnn(req.spec, createRng(deriveSeed(req.seed, 0)));
  let alg: DistillAlgorithm;
  try {
    alg = makeAlgorithm(req, net, hp, opts, src, tgt);
  } catch (err) {
    for (const v of Object.values(net.vars)) v.dispose();
    throw err;
  }
  let history: StepLosses[];
  try {
    history = runEpochs(req, alg, hp, { src, tgt, ys, batch });
  } catch (err) {
    alg.dispose();
    for (const v of Object.values(net.vars)) v.dispose();
    throw err;
  }
  alg.dispose();
  const trainSeconds = (performance.now() - started) / 1000;
  return { net, hparams: hp, ...(req.algorithm === 'unikd' ? { unikd: opts } : {}), history, trainSeconds };
}

/** Throws a coded error for windows, labels or a teacher that do not fit the spec; returns the labels and batch size. */
function checkRequest(req: TrainRequest, hp: HParams): { ys: Uint8Array; batch: number } {
  const { windowLength: len, inChannels: c, numClasses } = req.spec;
  for (const [role, ws] of [['source', req.source], ['target', req.target]] as const) {
    if (ws.channels !== c || ws.length !== len) {
      throw new SitekdError(ErrorCode.INPUT_SHAPE, `${role} windows are ${ws.channels}×${ws.length}, the model expects ${c}×${len}`);
    }
  }
  const ys = req.source.y;
  if (ys === undefined) throw new SitekdError(ErrorCode.INPUT_SHAPE, 'source windows need labels');
  if (ys.length !== req.source.n) throw new SitekdError(ErrorCode.INPUT_SHAPE, `source has ${ys.length} labels for ${req.source.n} windows`);
  // oneHot() would silently drop an out-of-range label (an all-zero target row).
  const badLabel = ys.findIndex((y) => y >= numClasses);
  if (badLabel >= 0) throw new SitekdError(ErrorCode.INPUT_SHAPE, `source label ${ys[badLabel]} at window ${badLabel} is not below numClasses ${numClasses}`);
  const batch = Math.min(hp.batchSize, req.source.n, req.target.n);
  if (batch < 2) {
    throw new SitekdError(ErrorCode.DISTILL_TOO_FEW_SAMPLES, `need at least 2 source and 2 target windows (have ${req.source.n} and ${req.target.n})`);
  }
  if (req.algorithm === 'kd' || req.algorithm === 'unikd') {
    if (req.teacher === undefined) throw new SitekdError(ErrorCode.CLI_USAGE, `algorithm ${req.algorithm} needs a teacher`);
    const t = req.teacher.spec;
    if (t.inChannels !== c || t.windowLength !== len || t.numClasses !== numClasses) {
      throw new SitekdError(
        ErrorCode.MODEL_SPEC_MISMATCH,
        `the teacher expects ${t.inChannels}×${t.windowLength} windows and ${t.numClasses} classes, the student ${c}×${len} and ${numClasses}`,
      );
    }
  }
  return { ys, batch };
}

/** The epochs (see the module comment); returns each epoch's mean losses. Throws DISTILL_NONFINITE on a NaN loss. */
function runEpochs(
  req: TrainRequest,
  alg: DistillAlgorithm,
  hp: HParams,
  d: { src: Rows; tgt: Rows; ys: Uint8Array; batch: number },
): StepLosses[] {
  const { windowLength: len, inChannels: c, numClasses } = req.spec;
  const { src, tgt, ys, batch } = d;
  const shuffle = createRng(deriveSeed(req.seed, 1));
  const stepsPerEpoch = Math.min(Math.floor(src.n / batch), Math.floor(tgt.n / batch));
  const history: StepLosses[] = [];
  for (let epoch = 1; epoch <= hp.epochs; epoch++) {
    const ps = shuffle.permutation(src.n);
    const pt = shuffle.permutation(tgt.n);
    const sums: Record<string, number> = {};
    for (let step = 0; step < stepsPerEpoch; step++) {
      const srcIdx = ps.subarray(step * batch, (step + 1) * batch);
      const tgtIdx = pt.subarray(step * batch, (step + 1) * batch);
      const losses = tf.tidy(() => {
        const b = { xs: windowsTensor(src, srcIdx, len, c), ysOneHot: oneHot(ys, srcIdx, numClasses), xt: windowsTensor(tgt, tgtIdx, len, c), srcIdx, tgtIdx };
        return alg.step(b, { epoch, step, stepsPerEpoch, epochs: hp.epochs });
      });
      for (const [k, v] of Object.entries(losses)) {
        if (!Number.isFinite(v)) {
          throw new SitekdError(ErrorCode.DISTILL_NONFINITE, `${req.algorithm}: loss ${k} is ${v} at epoch ${epoch} step ${step}`);
        }
        sums[k] = (sums[k] ?? 0) + v / stepsPerEpoch;
      }
    }
    history.push(sums);
    req.onEpoch?.(epoch, hp.epochs, sums);
  }
  return history;
}

/** Eval-mode logits `[n, classes]` of a window set, as plain rows. */
export function predictLogits(net: Cnn, ws: WindowSet): Rows {
  const rows = toChannelsLast(ws);
  const { windowLength: len, inChannels: c } = net.spec;
  if (ws.channels !== c || ws.length !== len) {
    throw new SitekdError(ErrorCode.INPUT_SHAPE, `windows are ${ws.channels}×${ws.length}, the model expects ${c}×${len}`);
  }
  return mapChunks(rows, 128, (idx) => classify(net, featuresEval(net, windowsTensor(rows, idx, len, c))) as Tensor2D);
}

export function argmaxRows(rows: Rows): Uint8Array {
  const out = new Uint8Array(rows.n);
  for (let i = 0; i < rows.n; i++) {
    let best = 0;
    for (let j = 1; j < rows.width; j++) if (rows.data[i * rows.width + j]! > rows.data[i * rows.width + best]!) best = j;
    out[i] = best;
  }
  return out;
}
