/**
 * Layout conversion between the wire/store and the ML core. Agents send and the sample store keeps windows
 * channels-last `[n, L, C]` (value of window i, time t, channel c at `(i·L + t)·C + c`, as tfjs consumes them);
 * `WindowSet` (shared/ml/types.ts) is channels-first `[n, C, L]` like the dataset files and PyTorch
 * (`(i·C + c)·L + t`). Getting this wrong trains on scrambled windows without any error, hence the unit tests.
 */
import { ErrorCode, SitekdError } from '../../shared/errors';
import type { WindowSet } from '../../shared/ml/types';
import type { SampleSet } from './sample-set';

/** `[n, L, C]` → `[n, C, L]` (a new array). */
export function channelsLastToFirst(x: Float32Array, n: number, length: number, channels: number): Float32Array {
  const per = length * channels;
  if (x.length !== n * per) {
    throw new SitekdError(ErrorCode.INPUT_SHAPE, `expected ${n}·${length}·${channels} = ${n * per} values, got ${x.length}`);
  }
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++) {
    const base = i * per;
    for (let t = 0; t < length; t++) {
      const src = base + t * channels; // x[i, t, :]
      for (let c = 0; c < channels; c++) out[base + c * length + t] = x[src + c] as number; // out[i, c, t]
    }
  }
  return out;
}

/** `[n, C, L]` → `[n, L, C]` (a new array): what an agent would send for these windows. */
export function channelsFirstToLast(x: Float32Array, n: number, channels: number, length: number): Float32Array {
  const per = length * channels;
  if (x.length !== n * per) {
    throw new SitekdError(ErrorCode.INPUT_SHAPE, `expected ${n}·${channels}·${length} = ${n * per} values, got ${x.length}`);
  }
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++) {
    const base = i * per;
    for (let c = 0; c < channels; c++) {
      const src = base + c * length; // x[i, c, :]
      for (let t = 0; t < length; t++) out[base + t * channels + c] = x[src + t] as number; // out[i, t, c]
    }
  }
  return out;
}

/** Stored windows (channels-last, unlabelled) as a WindowSet for training or evaluation. */
export function sampleSetToWindowSet(set: SampleSet): WindowSet {
  return { n: set.n, channels: set.channels, length: set.windowLength, x: channelsLastToFirst(set.windows, set.n, set.windowLength, set.channels) };
}
