/**
 * Named parameter sets (tf.Variables) with PyTorch's default initialisation, and their plain-data form.
 */
import type { Rng } from '../random';
import { ErrorCode, SitekdError } from '../errors';
import { tf, type Tensor, type Variable } from './tf';
import type { NamedWeights } from './types';

export type VarMap = Record<string, Variable>;

let instanceCounter = 0;

/** tfjs needs globally unique variable names; a teacher and a student both have `fe.conv1.w`. */
function uniqueName(name: string): string {
  instanceCounter += 1;
  return `${name}#${instanceCounter}`;
}

/** U(−1/√fan_in, 1/√fan_in): PyTorch's Conv1d/Linear default for weights and biases (docs/unikd.md §1.4, §7.10). */
export function uniformFanIn(shape: number[], fanIn: number, rng: Rng, name: string, trainable = true): Variable {
  let size = 1;
  for (const d of shape) size *= d;
  const bound = 1 / Math.sqrt(fanIn);
  const v = new Float32Array(size);
  for (let i = 0; i < size; i++) v[i] = rng.uniform(-bound, bound);
  return variableFrom(tf.tensor(v, shape), trainable, name);
}

export function constantVar(shape: number[], value: number, name: string, trainable: boolean): Variable {
  return variableFrom(tf.fill(shape, value), trainable, name);
}

/**
 * tf.variable shares the initial tensor's data but leaves that tensor alive (and counted) as well: dispose it, or
 * every variable leaves one orphan tensor behind when it is disposed.
 */
function variableFrom(init: Tensor, trainable: boolean, name: string): Variable {
  const v = tf.variable(init, trainable, uniqueName(name));
  init.dispose();
  return v;
}

export function exportVars(vars: VarMap): NamedWeights {
  const out: NamedWeights = {};
  for (const [name, v] of Object.entries(vars)) {
    out[name] = { shape: [...v.shape], data: new Float32Array(v.dataSync() as Float32Array) };
  }
  return out;
}

/** Assigns plain weights to existing variables; every name and shape must match. */
export function importVars(vars: VarMap, weights: NamedWeights, prefix = ''): void {
  for (const [name, v] of Object.entries(vars)) {
    const w = weights[prefix + name];
    if (w === undefined) throw new SitekdError(ErrorCode.MODEL_SPEC_MISMATCH, `missing weight ${prefix + name}`);
    if (w.shape.length !== v.shape.length || w.shape.some((d, i) => d !== v.shape[i])) {
      throw new SitekdError(ErrorCode.MODEL_SPEC_MISMATCH, `weight ${prefix + name} has shape [${w.shape.join(',')}], expected [${v.shape.join(',')}]`);
    }
    if (w.data.length !== v.size) {
      throw new SitekdError(ErrorCode.MODEL_SPEC_MISMATCH, `weight ${prefix + name} has ${w.data.length} values for shape [${w.shape.join(',')}]`);
    }
    // assign() takes over the data of the new tensor but not the tensor itself: dispose it.
    tf.tidy(() => v.assign(tf.tensor(w.data, [...w.shape])));
  }
}

export function disposeVars(vars: VarMap): void {
  for (const v of Object.values(vars)) v.dispose();
}

export function countVars(vars: VarMap, onlyTrainable = true): number {
  let n = 0;
  for (const v of Object.values(vars)) if (!onlyTrainable || v.trainable) n += v.size;
  return n;
}

/** A multi-layer perceptron: Linear → ReLU → … → Linear. Names `l{i}.w` `[in, out]`, `l{i}.b`. */
export interface Mlp {
  readonly sizes: readonly number[];
  readonly vars: VarMap;
}

export function createMlp(sizes: number[], rng: Rng, prefix: string): Mlp {
  const vars: VarMap = {};
  for (let i = 0; i + 1 < sizes.length; i++) {
    const fin = sizes[i] as number;
    const fout = sizes[i + 1] as number;
    vars[`l${i}.w`] = uniformFanIn([fin, fout], fin, rng, `${prefix}.l${i}.w`);
    vars[`l${i}.b`] = uniformFanIn([fout], fin, rng, `${prefix}.l${i}.b`);
  }
  return { sizes, vars };
}

export function mlpForward(mlp: Mlp, x: Tensor): tf.Tensor2D {
  let h = x as tf.Tensor2D;
  const layers = mlp.sizes.length - 1;
  for (let i = 0; i < layers; i++) {
    h = tf.add(tf.matMul(h, mlp.vars[`l${i}.w`] as Tensor as tf.Tensor2D), mlp.vars[`l${i}.b`] as Tensor) as tf.Tensor2D;
    if (i + 1 < layers) h = tf.relu(h);
  }
  return h;
}
