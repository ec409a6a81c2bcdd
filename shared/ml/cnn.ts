/**
 * The AdaTime 1D-CNN (feature extractor + linear classifier) with PyTorch-exact semantics (docs/unikd.md §1, §7).
 * Weight names: `fe.conv{i}.w` `[k, cin, cout]`, `fe.bn{i}.gamma|beta|mean|var`, `clf.w` `[feat, classes]`, `clf.b`.
 */
import type { Rng } from '../random';
import { blockShapes, countParams, type BlockShape, type CnnSpec } from './model-spec';
import { bnReluPoolEval, bnReluPoolTrain, conv1d, dropoutMask, dense, type BatchStats } from './ops';
import { constantVar, uniformFanIn, type VarMap } from './params';
import { tf, type Tensor2D, type Tensor3D } from './tf';

export interface Cnn {
  readonly spec: CnnSpec;
  readonly blocks: readonly BlockShape[];
  /** Trainable parameters and BN running statistics (non-trainable), in a stable order. */
  readonly vars: VarMap;
}

export function createCnn(spec: CnnSpec, rng: Rng): Cnn {
  const blocks = blockShapes(spec);
  const vars: VarMap = {};
  blocks.forEach((b, i) => {
    const k = i + 1;
    vars[`fe.conv${k}.w`] = uniformFanIn([b.kernel, b.cin, b.cout], b.cin * b.kernel, rng, `fe.conv${k}.w`);
    vars[`fe.bn${k}.gamma`] = constantVar([b.cout], 1, `fe.bn${k}.gamma`, true);
    vars[`fe.bn${k}.beta`] = constantVar([b.cout], 0, `fe.bn${k}.beta`, true);
    vars[`fe.bn${k}.mean`] = constantVar([b.cout], 0, `fe.bn${k}.mean`, false);
    vars[`fe.bn${k}.var`] = constantVar([b.cout], 1, `fe.bn${k}.var`, false);
  });
  vars['clf.w'] = uniformFanIn([spec.finalChannels, spec.numClasses], spec.finalChannels, rng, 'clf.w');
  vars['clf.b'] = uniformFanIn([spec.numClasses], spec.finalChannels, rng, 'clf.b');
  if (countParams(spec) !== Object.values(vars).filter((v) => v.trainable).reduce((s, v) => s + v.size, 0)) {
    throw new Error('cnn: parameter count does not match countParams');
  }
  return { spec, blocks, vars };
}

/** Variables an optimizer updates (everything but the BN running statistics). */
export function trainableVars(net: Cnn, part: 'all' | 'fe' | 'clf' = 'all'): VarMap {
  const out: VarMap = {};
  for (const [name, v] of Object.entries(net.vars)) {
    if (!v.trainable) continue;
    if (part === 'fe' && !name.startsWith('fe.')) continue;
    if (part === 'clf' && !name.startsWith('clf.')) continue;
    out[name] = v;
  }
  return out;
}

function v(net: Cnn, name: string): tf.Variable {
  const x = net.vars[name];
  if (x === undefined) throw new Error(`cnn: no variable ${name}`);
  return x;
}

export interface TrainForwardCtx {
  /** Batch statistics of each BN call, in call order (3 per forward). */
  readonly stats: BatchStats[];
  /** Uniform [0, 1) source for dropout masks. */
  readonly next: () => number;
}

/** Train-mode features `[n, finalChannels]` of x `[n, L, cin]`: batch-statistics BN, dropout after block 1. */
export function featuresTrain(net: Cnn, x: Tensor3D, ctx: TrainForwardCtx): Tensor2D {
  let h = x;
  net.blocks.forEach((b, i) => {
    const k = i + 1;
    const y = conv1d(h, v(net, `fe.conv${k}.w`) as tf.Tensor as Tensor3D, b.stride, b.pad, i > 0);
    h = bnReluPoolTrain(y, v(net, `fe.bn${k}.gamma`), v(net, `fe.bn${k}.beta`), ctx.stats);
    if (i === 0 && net.spec.dropout > 0) h = tf.mul(h, dropoutMask(h.shape, net.spec.dropout, ctx.next)) as Tensor3D;
  });
  return tf.mean(h, 1) as Tensor2D; // AdaptiveAvgPool1d(1) + flatten
}

/** Eval-mode features (running statistics, no dropout): PyTorch `model.eval()`. */
export function featuresEval(net: Cnn, x: Tensor3D): Tensor2D {
  let h = x;
  net.blocks.forEach((b, i) => {
    const k = i + 1;
    const y = tf.conv1d(h, v(net, `fe.conv${k}.w`) as tf.Tensor as Tensor3D, b.stride, b.pad === 0 ? 'valid' : [[0, 0], [0, 0], [b.pad, b.pad], [0, 0]]);
    h = bnReluPoolEval(y, v(net, `fe.bn${k}.gamma`), v(net, `fe.bn${k}.beta`), v(net, `fe.bn${k}.mean`), v(net, `fe.bn${k}.var`));
  });
  return tf.mean(h, 1) as Tensor2D;
}

export function classify(net: Cnn, features: Tensor2D): Tensor2D {
  return dense(features, v(net, 'clf.w'), v(net, 'clf.b'));
}

/**
 * PyTorch running-statistics update, applied after the optimizer step in call order:
 * rm ← (1−m)·rm + m·mean, rv ← (1−m)·rv + m·var·n/(n−1) (momentum 0.1, unbiased variance; docs/unikd.md §7.5).
 * `stats` holds 3 entries per forward pass (one per block). Disposes them.
 */
export function applyRunningStats(net: Cnn, stats: BatchStats[], momentum = 0.1): void {
  const nb = net.blocks.length;
  if (stats.length % nb !== 0) throw new Error(`cnn: ${stats.length} batch stats for ${nb} blocks`);
  tf.tidy(() => {
    stats.forEach((s, i) => {
      const k = (i % nb) + 1;
      const rm = v(net, `fe.bn${k}.mean`);
      const rv = v(net, `fe.bn${k}.var`);
      const unbiased = s.count > 1 ? s.count / (s.count - 1) : 1;
      rm.assign(tf.add(tf.mul(rm, 1 - momentum), tf.mul(tf.reshape(s.mean, rm.shape), momentum)));
      rv.assign(tf.add(tf.mul(rv, 1 - momentum), tf.mul(tf.reshape(s.variance, rv.shape), momentum * unbiased)));
    });
  });
  for (const s of stats) {
    s.mean.dispose();
    s.variance.dispose();
  }
  stats.length = 0;
}
