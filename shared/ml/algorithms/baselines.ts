/**
 * Student baselines that bracket UNI-KD:
 * - `source-only`: source cross-entropy only (the lower bound; docs/unikd.md §8, Adam with default betas as in the code).
 * - `kd`: plain Hinton KD on target windows: λcls·CE(src) + τ²·KL(teacher ‖ student) on the target batch, with the
 *   UNI-KD optimizer settings, so the difference to `unikd` is the domain-aware machinery alone.
 */
import type { Rng } from '../../random';
import { AdamL2 } from '../adam';
import { gatherRows } from '../batches';
import { applyRunningStats, classify, featuresTrain, trainableVars, type Cnn } from '../cnn';
import { crossEntropy, klRows, type BatchStats } from '../ops';
import { tf, type Tensor2D } from '../tf';
import type { DistillAlgorithm, HParams, StepBatch, StepContext, StepLosses, TeacherOutputs } from './algorithm';
import { readScalars } from './scalars';

export class SourceOnly implements DistillAlgorithm {
  readonly name = 'source-only' as const;
  private readonly opt: AdamL2;
  private readonly stats: BatchStats[] = [];

  constructor(readonly net: Cnn, private readonly hp: HParams, private readonly rng: Rng) {
    // same_domain_trainer.py uses Adam's default betas (0.9, 0.999).
    this.opt = new AdamL2(trainableVars(net), { lr: hp.lr, beta1: 0.9, beta2: 0.999, weightDecay: hp.weightDecay });
  }

  step(batch: StepBatch, _ctx: StepContext): StepLosses {
    const next = (): number => this.rng.next();
    const out = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(
        () => crossEntropy(classify(this.net, featuresTrain(this.net, batch.xs, { stats: this.stats, next })), batch.ysOneHot) as tf.Scalar,
        this.opt.varList,
      );
      this.opt.step(grads);
      return value;
    });
    applyRunningStats(this.net, this.stats);
    return readScalars({ total: out, cls: out.clone() });
  }

  dispose(): void {
    this.opt.dispose();
  }
}

export class PlainKd implements DistillAlgorithm {
  readonly name = 'kd' as const;
  private readonly opt: AdamL2;
  private readonly stats: BatchStats[] = [];

  constructor(readonly net: Cnn, private readonly hp: HParams, private readonly rng: Rng, private readonly teacher: TeacherOutputs) {
    this.opt = new AdamL2(trainableVars(net), { lr: hp.lr, beta1: hp.beta1, beta2: hp.beta2, weightDecay: hp.weightDecay });
  }

  step(batch: StepBatch, _ctx: StepContext): StepLosses {
    const next = (): number => this.rng.next();
    const tau = this.hp.tau;
    const parts: Record<'cls' | 'kd', tf.Tensor> = {} as Record<'cls' | 'kd', tf.Tensor>;
    const total = tf.tidy(() => {
      const zTt = gatherRows(this.teacher.tgtLogits, batch.tgtIdx, [this.teacher.tgtLogits.width]) as Tensor2D;
      const { value, grads } = tf.variableGrads(() => {
        const zs = classify(this.net, featuresTrain(this.net, batch.xs, { stats: this.stats, next }));
        const zt = classify(this.net, featuresTrain(this.net, batch.xt, { stats: this.stats, next }));
        const cls = crossEntropy(zs, batch.ysOneHot);
        const kd = tf.mul(tf.mean(klRows(zTt, zt, tau)), tau * tau);
        parts.cls = tf.keep(cls);
        parts.kd = tf.keep(kd);
        return tf.add(tf.mul(cls, this.hp.lambdaCls), kd) as tf.Scalar;
      }, this.opt.varList);
      this.opt.step(grads);
      return value;
    });
    applyRunningStats(this.net, this.stats);
    return readScalars({ total, ...parts });
  }

  dispose(): void {
    this.opt.dispose();
  }
}
