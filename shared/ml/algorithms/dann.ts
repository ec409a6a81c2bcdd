/**
 * The teacher: DANN on the 64/128/128 CNN (docs/unikd.md §3.1). L = λcls·CE(src) + λdom·[CE(D(GRL(f_s)), 1) + CE(D(GRL(f_t)), 0)],
 * one backward, Adam (betas 0.5/0.99, coupled L2) on network and discriminator.
 */
import type { Rng } from '../../random';
import { AdamL2 } from '../adam';
import { constantOneHot } from '../batches';
import { applyRunningStats, classify, featuresTrain, trainableVars, type Cnn } from '../cnn';
import { crossEntropy, gradReverse, type BatchStats } from '../ops';
import { createMlp, mlpForward, type Mlp } from '../params';
import { tf } from '../tf';
import { grlAlpha, type DistillAlgorithm, type HParams, type StepBatch, type StepContext, type StepLosses } from './algorithm';

export class Dann implements DistillAlgorithm {
  readonly name = 'dann' as const;
  private readonly disc: Mlp;
  private readonly optNet: AdamL2;
  private readonly optDisc: AdamL2;
  private readonly stats: BatchStats[] = [];

  constructor(readonly net: Cnn, private readonly hp: HParams, private readonly rng: Rng) {
    const f = net.spec.finalChannels;
    this.disc = createMlp([f, hp.discHidden, hp.discHidden, 2], rng, 'dann.disc');
    const adam = { lr: hp.lr, beta1: hp.beta1, beta2: hp.beta2, weightDecay: hp.weightDecay };
    this.optNet = new AdamL2(trainableVars(net), adam);
    this.optDisc = new AdamL2(this.disc.vars, adam);
  }

  step(batch: StepBatch, ctx: StepContext): StepLosses {
    const alpha = grlAlpha(ctx);
    const next = (): number => this.rng.next();
    const out = tf.tidy(() => {
      const b = batch.xs.shape[0];
      const srcDom = constantOneHot(b, 1, 2);
      const tgtDom = constantOneHot(batch.xt.shape[0], 0, 2);
      const parts: tf.Scalar[] = [];
      const { value, grads } = tf.variableGrads(() => {
        const fs = featuresTrain(this.net, batch.xs, { stats: this.stats, next });
        const ft = featuresTrain(this.net, batch.xt, { stats: this.stats, next });
        const cls = crossEntropy(classify(this.net, fs), batch.ysOneHot);
        const dom = tf.add(
          crossEntropy(mlpForward(this.disc, gradReverse(fs, alpha)), srcDom),
          crossEntropy(mlpForward(this.disc, gradReverse(ft, alpha)), tgtDom),
        );
        parts.push(tf.keep(cls as tf.Scalar), tf.keep(dom as tf.Scalar));
        return tf.add(tf.mul(cls, this.hp.lambdaCls), tf.mul(dom, this.hp.lambdaDom)) as tf.Scalar;
      }, [...this.optNet.varList, ...this.optDisc.varList]);
      this.optNet.step(grads);
      this.optDisc.step(grads);
      return [value, ...parts];
    });
    applyRunningStats(this.net, this.stats);
    const [total, cls, dom] = out.map((t) => {
      const v = (t.dataSync() as Float32Array)[0] as number;
      t.dispose();
      return v;
    });
    return { total: total as number, cls: cls as number, dom: dom as number };
  }

  dispose(): void {
    this.optNet.dispose();
    this.optDisc.dispose();
    for (const v of Object.values(this.disc.vars)) v.dispose();
  }
}
