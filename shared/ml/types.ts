/**
 * Plain-data types shared by the ML core, the data readers and the artifact codec.
 * No tensors here: these cross every boundary (files, wire, workers).
 */

/** A set of windows in the PyTorch / file layout `[n, channels, length]`, row-major. */
export interface WindowSet {
  readonly n: number;
  readonly channels: number;
  readonly length: number;
  /** `x[(i * channels + c) * length + t]` */
  readonly x: Float32Array;
  /** 0-based class per window; absent for unlabelled target data. */
  readonly y?: Uint8Array;
}

/** One domain (a site, or a HAR subject) with its train and test splits. */
export interface Domain {
  readonly id: string;
  readonly train: WindowSet;
  readonly test: WindowSet;
}

/** A weight tensor as plain data, in tfjs layout (conv kernels `[k, cin, cout]`, dense `[in, out]`). */
export interface NamedTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** All weights of a model by stable name, e.g. `fe.conv1.w`, `fe.bn1.gamma`, `fe.bn1.runningMean`, `clf.w`. */
export type NamedWeights = Record<string, NamedTensor>;
