/**
 * The `predict` task of the hub's ML worker (hub/worker/ml-worker.ts): run several model artifacts on the same windows
 * and return their logits. Plain data only, no tfjs here, so the hub's main thread can import it: the rollout watch
 * (hub/jobs/rollout-watcher.ts) sends the version under watch, the one it replaced and a reference model.
 */
import type { BackendPreference } from '../../shared/ml/backend';
import type { SiteAdaptSettings } from '../../shared/ml/site-adapt';
import type { WindowSet } from '../../shared/ml/types';

export interface PredictTask {
  readonly kind: 'predict';
  readonly backend: BackendPreference;
  /** Model artifacts; each must take `windows`' channels and length. */
  readonly models: readonly Uint8Array[];
  /** Channels-first, as WindowSet always is. */
  readonly windows: WindowSet;
  /**
   * Adapt the last model to `adaptTo` (else `windows`) first (shared/ml/site-adapt.ts, label-free, with these
   * settings): how the gate's `adapted-teacher` reference is made.
   */
  readonly adaptLast?: SiteAdaptSettings;
  /** The windows the last model adapts to, when not `windows` (the rollout watch: all of the site's stored windows). */
  readonly adaptTo?: WindowSet;
}

export interface PredictOutput {
  /** Per model, in task order: logits `[n, numClasses]`, eval mode. */
  readonly logits: readonly Float32Array[];
  readonly numClasses: readonly number[];
  readonly backend: string;
}
