/**
 * UNI-KD (Xu et al., IJCAI 2023): one training step as in the released `UDA_KD.update` (docs/unikd.md §2.2, §2.8).
 *
 * The teacher is frozen and always in eval mode, so its features and logits for every training window are computed
 * once before training (TeacherOutputs) instead of twice per step: the values are identical.
 *
 * Order: the released code updates D_f (stage 1) before the student step (stage 2). With the code's detached L_adv the
 * student's gradient does not depend on D_f, so running stage 2 first and then stage 1 on the same detached adapted
 * features gives bit-for-bit the same updates; L_adv is then logged with the updated D_f, as in the code. With
 * `advGradToStudent` (paper intent) the student sees D_f as it was before this step's D_f update.
 */
import type { Rng } from '../../random';
import { AdamL2 } from '../adam';
import { constantOneHot, gatherRows } from '../batches';
import { applyRunningStats, classify, featuresTrain, trainableVars, type Cnn } from '../cnn';
import { bceWithLogits, crossEntropy, customOp, gradReverse, klRows, l1Mean, type BatchStats } from '../ops';
import { createMlp, mlpForward, type Mlp, type VarMap } from '../params';
import { tf, type Tensor, type Tensor2D } from '../tf';
import { grlAlpha, type DistillAlgorithm, type HParams, type StepBatch, type StepContext, type StepLosses, type TeacherOutputs } from './algorithm';
import { readScalars } from './scalars';
import { kdBeta, type UniKdOptions } from './unikd-options';

/** Identity forward, zero gradient: PyTorch's `.detach()` inside a taped function. */
function detach(x: Tensor): Tensor {
  return customOp((xIn: Tensor) => ({ value: tf.clone(xIn), gradFunc: (dy: Tensor) => tf.zerosLike(dy) }))(x);
}

/** w = 1 − |p0 − p1| per sample (= 2·min(p0, p1)): 1 where D_d cannot tell the domain. */
function sharedWeights(domainLogits: Tensor2D): Tensor {
  const p = tf.softmax(domainLogits);
  const [p0, p1] = tf.split(p, 2, 1);
  return tf.reshape(tf.sub(1, tf.abs(tf.sub(p0 as Tensor, p1 as Tensor))), [-1]);
}

type LossName = 'cls' | 'dom' | 'kd' | 'hint' | 'adv' | 'discF';

/** This batch's rows of the precomputed teacher outputs, and the domain labels of D_d (1 = source). */
interface StageInputs {
  readonly fTs: Tensor2D;
  readonly fTt: Tensor2D;
  readonly zTs: Tensor2D;
  readonly zTt: Tensor2D;
  readonly srcDom: Tensor2D;
  readonly tgtDom: Tensor2D;
}

/** What one step's stages hand on: the kept loss parts for the log, and the detached adapted features for D_f. */
interface StepScratch {
  readonly parts: Record<LossName, Tensor>;
  adapted: Tensor2D | undefined; // detached [h_s; h_t] for D_f's step
}

export class UniKd implements DistillAlgorithm {
  readonly name = 'unikd' as const;
  private readonly adapter: Mlp;
  private readonly dataDisc: Mlp; // D_d on student features, 2 logits (1 = source)
  private readonly featDisc: Mlp; // D_f on 128-d teacher / adapted student features, 1 logit (1 = teacher)
  private readonly optStudent: AdamL2;
  private readonly optDataDisc: AdamL2;
  private readonly optFeatDisc: AdamL2;
  private readonly stats: BatchStats[] = [];

  constructor(
    readonly net: Cnn,
    private readonly hp: HParams,
    private readonly opts: UniKdOptions,
    private readonly rng: Rng,
    private readonly teacher: TeacherOutputs,
  ) {
    const fS = net.spec.finalChannels;
    const fT = teacher.srcFeatures.width;
    const h = hp.discHidden;
    this.adapter = createMlp([fS, fT], rng, 'unikd.adapter');
    this.dataDisc = createMlp([fS, h, h, 2], rng, 'unikd.dd');
    this.featDisc = createMlp([fT, h, h, 1], rng, 'unikd.df');
    const adam = { lr: hp.lr, beta1: hp.beta1, beta2: hp.beta2, weightDecay: hp.weightDecay };
    const studentVars: VarMap = { ...trainableVars(net) };
    for (const [k, v] of Object.entries(this.adapter.vars)) studentVars[`adapter.${k}`] = v;
    this.optStudent = new AdamL2(studentVars, adam);
    this.optDataDisc = new AdamL2(this.dataDisc.vars, adam);
    this.optFeatDisc = new AdamL2(this.featDisc.vars, adam);
  }

  /** Trained auxiliaries (for tests that check them; the hub keeps none: its default round recipe is site-adapt). */
  get auxiliaries(): { adapter: Mlp; dataDisc: Mlp; featDisc: Mlp } {
    return { adapter: this.adapter, dataDisc: this.dataDisc, featDisc: this.featDisc };
  }

  step(batch: StepBatch, ctx: StepContext): StepLosses {
    const alpha = grlAlpha(ctx);
    const beta = kdBeta(ctx.epoch, ctx.epochs, this.opts.betaLog);
    const scratch: StepScratch = { parts: {} as Record<LossName, Tensor>, adapted: undefined };
    const total = tf.tidy(() => {
      const inputs = this.stageInputs(batch);
      const value = this.studentStage(batch, inputs, alpha, beta, scratch);
      return this.featDiscStage(value, inputs, scratch);
    });
    scratch.adapted?.dispose();
    applyRunningStats(this.net, this.stats);
    const losses = readScalars({ total, ...scratch.parts });
    return { ...losses, beta, alpha };
  }

  private stageInputs(batch: StepBatch): StageInputs {
    const t = this.teacher;
    const b = batch.xs.shape[0];
    return {
      fTs: gatherRows(t.srcFeatures, batch.srcIdx, [t.srcFeatures.width]) as Tensor2D,
      fTt: gatherRows(t.tgtFeatures, batch.tgtIdx, [t.tgtFeatures.width]) as Tensor2D,
      zTs: gatherRows(t.srcLogits, batch.srcIdx, [t.srcLogits.width]) as Tensor2D,
      zTt: gatherRows(t.tgtLogits, batch.tgtIdx, [t.tgtLogits.width]) as Tensor2D,
      srcDom: constantOneHot(b, 1, 2),
      tgtDom: constantOneHot(batch.xt.shape[0], 0, 2),
    };
  }

  /** Stage 2 (run first; see the file comment): one update of the student with its adapter, and of D_d. */
  private studentStage(batch: StepBatch, inputs: StageInputs, alpha: number, beta: number, scratch: StepScratch): tf.Scalar {
    const next = (): number => this.rng.next();
    const { value, grads } = tf.variableGrads(
      () => this.studentLoss(batch, inputs, { alpha, beta, next }, scratch),
      [...this.optStudent.varList, ...this.optDataDisc.varList],
    );
    this.optStudent.step(grads);
    this.optDataDisc.step(grads);
    return value;
  }

  /** The student's loss (docs/unikd.md §2.2), taped; keeps its parts and the detached adapted features in `scratch`. */
  private studentLoss(
    batch: StepBatch,
    inputs: StageInputs,
    k: { readonly alpha: number; readonly beta: number; readonly next: () => number },
    scratch: StepScratch,
  ): tf.Scalar {
    const o = this.opts;
    const hp = this.hp;
    const tau = hp.tau;
    const { alpha, beta, next } = k;
    const { fTs, fTt, zTs, zTt, srcDom, tgtDom } = inputs;
    const parts = scratch.parts;
    const fs = featuresTrain(this.net, batch.xs, { stats: this.stats, next });
    const ft = featuresTrain(this.net, batch.xt, { stats: this.stats, next });
    const hs = mlpForward(this.adapter, fs);
    const ht = mlpForward(this.adapter, ft);
    const hcat = tf.concat([hs, ht], 0);
    scratch.adapted = tf.keep(tf.clone(hcat));
    const hint = tf.add(l1Mean(hs, fTs), l1Mean(ht, fTt));
    const ft2 = o.secondTargetForward ? featuresTrain(this.net, batch.xt, { stats: this.stats, next }) : ft;
    const ds = mlpForward(this.dataDisc, gradReverse(fs, alpha));
    const dt = mlpForward(this.dataDisc, gradReverse(ft2, alpha));
    const dom = tf.add(crossEntropy(ds, srcDom), crossEntropy(dt, tgtDom));
    let ws = sharedWeights(ds);
    let wt = sharedWeights(dt);
    if (o.detachDomainWeights) {
      ws = detach(ws);
      wt = detach(wt);
    }
    const zs = classify(this.net, fs);
    // Released-code bug kept by default: the "target" KD term reuses the source logits (docs/unikd.md §2.2 step 9).
    const [zTtUsed, ztUsed] = o.targetKdUsesTargetLogits ? [zTt, classify(this.net, ft)] : [zTs, zs];
    const kd = tf.mul(tf.add(tf.mean(tf.mul(ws, klRows(zTs, zs, tau))), tf.mean(tf.mul(wt, klRows(zTtUsed, ztUsed, tau)))), tau * tau);
    const cls = crossEntropy(zs, batch.ysOneHot);
    let loss = tf.addN([tf.mul(cls, hp.lambdaCls), tf.mul(dom, (1 - beta) * hp.lambdaDom), tf.mul(kd, beta), hint]);
    if (o.advGradToStudent) {
      const adv = bceWithLogits(mlpForward(this.featDisc, hcat), 1);
      parts.adv = tf.keep(adv);
      loss = tf.add(loss, adv);
    }
    parts.cls = tf.keep(cls);
    parts.dom = tf.keep(dom);
    parts.kd = tf.keep(kd);
    parts.hint = tf.keep(hint);
    return loss as tf.Scalar;
  }

  /** Stage 1 (see the file comment for the order): D_f learns teacher features (1) vs adapted student ones (0). */
  private featDiscStage(value: tf.Scalar, inputs: StageInputs, scratch: StepScratch): Tensor {
    const fake = scratch.adapted as Tensor2D;
    const real = tf.concat([inputs.fTs, inputs.fTt], 0);
    const dfStep = tf.variableGrads(
      () => tf.add(bceWithLogits(mlpForward(this.featDisc, real), 1), bceWithLogits(mlpForward(this.featDisc, fake), 0)) as tf.Scalar,
      this.optFeatDisc.varList,
    );
    this.optFeatDisc.step(dfStep.grads);
    scratch.parts.discF = tf.keep(dfStep.value);
    if (!this.opts.advGradToStudent) {
      // Logged only: the code's L_adv is detached, enters the loss value with weight 1 and trains nothing.
      const adv = bceWithLogits(mlpForward(this.featDisc, fake), 1);
      scratch.parts.adv = tf.keep(adv);
      return tf.add(value, adv);
    }
    return value;
  }

  dispose(): void {
    this.optStudent.dispose();
    this.optDataDisc.dispose();
    this.optFeatDisc.dispose();
    for (const m of [this.adapter, this.dataDisc, this.featDisc]) for (const v of Object.values(m.vars)) v.dispose();
  }
}
