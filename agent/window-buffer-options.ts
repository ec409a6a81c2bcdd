/**
 * What agent/window-buffer.ts takes, and the checks it runs on it at construction: a mapping or rate that cannot work is
 * a CONFIG_INVALID at start-up, never a silent buffer that emits nothing.
 */
import { ErrorCode, SitekdError } from '../shared/errors';

export type FillMode = 'hold' | 'linear';

export interface WindowBufferOptions {
  /** Model channels C. */
  channelCount: number;
  /** Per source (the SensorParser's `sourceChannels`): the model channel of each value it delivers. */
  sources: readonly (readonly number[])[];
  sampleRateHz: number;
  /** L, in samples. */
  windowLength: number;
  /** Samples between window starts. */
  stride: number;
  /** Reorder horizon. Default 250 ms. */
  reorderMs?: number;
  /** Longest spacing between two readings of a source that is still filled. Default 5 sample periods. */
  maxGapMs?: number;
  /** Default 'linear'. */
  fill?: FillMode;
  /** Fastest rate a single topic is expected to publish at; sizes the rings. Default 4 × sampleRateHz. */
  maxSourceRateHz?: number;
  /** Consecutive late readings from one topic that mean its clock jumped. Default 25. */
  resyncAfterLate?: number;
  /** Receives each window `[windowLength · channelCount]` and the time of its first sample (ms). */
  onWindow: (window: Float32Array, startTs: number) => void;
}

export function checkCoverage(sources: readonly (readonly number[])[], channelCount: number): void {
  const seen = new Uint8Array(channelCount);
  for (const s of sources) {
    if (s.length === 0) throw configError('a source must feed at least one channel');
    for (const ch of s) {
      if (!Number.isInteger(ch) || ch < 0 || ch >= channelCount || seen[ch] === 1) {
        throw configError(`channel ${ch} is out of range or fed twice`);
      }
      seen[ch] = 1;
    }
  }
  if (seen.includes(0)) throw configError('every model channel needs a source, or no grid point is ever complete');
}

export function positive(v: number, name: string): number {
  if (!Number.isFinite(v) || v <= 0) throw configError(`${name} must be a positive number, got ${v}`);
  return v;
}

export function nonNegative(v: number, name: string): number {
  if (!Number.isFinite(v) || v < 0) throw configError(`${name} must be a non-negative number, got ${v}`);
  return v;
}

export function positiveInt(v: number, name: string): number {
  if (!Number.isInteger(v) || v <= 0) throw configError(`${name} must be a positive integer, got ${v}`);
  return v;
}

export function configError(message: string): SitekdError {
  return new SitekdError(ErrorCode.CONFIG_INVALID, message);
}
