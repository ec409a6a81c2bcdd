/**
 * Fast eval-mode inference for deployment: each BN is folded into its conv (W' = W·γ/√(σ²+ε), b' = β − μ·γ/√(σ²+ε)),
 * so a block is one fused conv+bias+ReLU kernel (XNNPACK on wasm) and a max-pool. Equal to `featuresEval` up to
 * float rounding (tested); the hub scores with the exact path, agents serve with this one.
 */
import { ErrorCode, SitekdError } from '../errors';
import type { Cnn } from './cnn';
import { BN_EPS } from './ops';
import { tf, type Tensor, type Tensor2D } from './tf';

interface FoldedBlock {
  readonly filter: tf.Tensor4D; // [1, k, cin, cout]
  readonly bias: tf.Tensor1D; // [cout]
  readonly stride: number;
  readonly pad: number;
  readonly lenPool: number;
  readonly cout: number;
}

export interface Prediction {
  readonly cls: number;
  readonly confidence: number;
  readonly probs: Float32Array;
  readonly logits: Float32Array;
}

export class Predictor {
  private readonly blocks: FoldedBlock[];
  private readonly clfW: Tensor2D;
  private readonly clfB: tf.Tensor1D;
  readonly inChannels: number;
  readonly windowLength: number;
  readonly numClasses: number;

  constructor(net: Cnn) {
    const get = (name: string): tf.Variable => {
      const v = net.vars[name];
      if (v === undefined) throw new SitekdError(ErrorCode.MODEL_SPEC_MISMATCH, `model has no ${name}`);
      return v;
    };
    this.inChannels = net.spec.inChannels;
    this.windowLength = net.spec.windowLength;
    this.numClasses = net.spec.numClasses;
    this.blocks = net.blocks.map((b, i) => {
      const k = i + 1;
      return tf.tidy(() => {
        const scale = tf.mul(get(`fe.bn${k}.gamma`), tf.rsqrt(tf.add(get(`fe.bn${k}.var`), BN_EPS)));
        const filter = tf.keep(tf.reshape(tf.mul(get(`fe.conv${k}.w`), scale), [1, b.kernel, b.cin, b.cout]) as tf.Tensor4D);
        const bias = tf.keep(tf.sub(get(`fe.bn${k}.beta`), tf.mul(get(`fe.bn${k}.mean`), scale)) as tf.Tensor1D);
        return { filter, bias, stride: b.stride, pad: b.pad, lenPool: b.lenPool, cout: b.cout };
      });
    });
    this.clfW = tf.keep(tf.clone(get('clf.w')) as Tensor2D);
    this.clfB = tf.keep(tf.clone(get('clf.b')) as tf.Tensor1D);
  }

  /** Logits `[n, classes]` for x `[n, L, C]` (channels-last). */
  logits(x: tf.Tensor3D): Tensor2D {
    return tf.tidy(() => {
      const n = x.shape[0];
      let h = tf.reshape(x, [n, 1, x.shape[1], x.shape[2]]) as tf.Tensor4D;
      for (const b of this.blocks) {
        h = tf.fused.conv2d({ x: h, filter: b.filter, strides: [1, b.stride], pad: [[0, 0], [0, 0], [b.pad, b.pad], [0, 0]], bias: b.bias, activation: 'relu' });
        h = tf.maxPool(h, [1, 2], [1, 2], [[0, 0], [0, 0], [1, 1], [0, 0]]);
      }
      const feat = tf.reshape(tf.mean(h, 2), [n, h.shape[3]]) as Tensor2D;
      return tf.add(tf.matMul(feat, this.clfW), this.clfB) as Tensor2D;
    });
  }

  /**
   * One window, channels-last `[L·C]` (sample t, channel c at t·C + c), as an agent cuts it.
   * Synchronous: on wasm and cpu the read-back is a copy, not a GPU sync.
   */
  predictWindow(window: Float32Array): Prediction {
    const need = this.windowLength * this.inChannels;
    if (window.length !== need) {
      throw new SitekdError(ErrorCode.INPUT_SHAPE, `window has ${window.length} values, expected ${this.windowLength}×${this.inChannels} = ${need}`);
    }
    for (let i = 0; i < window.length; i++) {
      if (!Number.isFinite(window[i])) throw new SitekdError(ErrorCode.INPUT_NONFINITE, `window value ${i} is ${window[i]}`);
    }
    const out = tf.tidy(() => {
      const z = this.logits(tf.tensor3d(window, [1, this.windowLength, this.inChannels]));
      return tf.concat([z, tf.softmax(z)], 1) as Tensor;
    });
    const v = out.dataSync() as Float32Array;
    out.dispose();
    const c = this.numClasses;
    const logits = v.slice(0, c);
    const probs = v.slice(c, 2 * c);
    let cls = 0;
    for (let j = 1; j < c; j++) if (probs[j]! > probs[cls]!) cls = j;
    return { cls, confidence: probs[cls]!, probs, logits };
  }

  dispose(): void {
    for (const b of this.blocks) {
      b.filter.dispose();
      b.bias.dispose();
    }
    this.clfW.dispose();
    this.clfB.dispose();
  }
}
