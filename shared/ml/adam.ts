/**
 * Adam with PyTorch's coupled L2 weight decay: g ← g + wd·θ before the Adam update (not AdamW; docs/unikd.md §7.9).
 * tfjs' Adam update is the same formula as PyTorch's once epsilon is set explicitly (tfjs defaults to 1e-7).
 */
import type { VarMap } from './params';
import { tf, type Tensor } from './tf';

export interface AdamOptions {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps?: number;
  readonly weightDecay: number;
}

export class AdamL2 {
  private readonly opt: tf.AdamOptimizer;
  private readonly vars: tf.Variable[];

  constructor(vars: VarMap, private readonly options: AdamOptions) {
    this.opt = tf.train.adam(options.lr, options.beta1, options.beta2, options.eps ?? 1e-8);
    this.vars = Object.values(vars).filter((v) => v.trainable);
  }

  get varList(): tf.Variable[] {
    return this.vars;
  }

  /** Applies the gradients of this optimizer's variables found in `grads` (keyed by tfjs variable name). */
  step(grads: tf.NamedTensorMap): void {
    tf.tidy(() => {
      // tfjs' Adam keys its moment slots by the position in this list, not by name, so every variable keeps its
      // position; a missing gradient is passed as null, which tfjs skips (like PyTorch skips `grad is None`).
      const named: { name: string; tensor: Tensor | null }[] = [];
      for (const v of this.vars) {
        const g = grads[v.name];
        named.push({ name: v.name, tensor: g === undefined ? null : this.options.weightDecay > 0 ? tf.add(g, tf.mul(v, this.options.weightDecay)) : g });
      }
      this.opt.applyGradients(named as { name: string; tensor: Tensor }[]);
    });
  }

  dispose(): void {
    this.opt.dispose();
  }
}
