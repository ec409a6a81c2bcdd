/**
 * Choosing one teacher among several DANN runs without target labels: the teacher whose predictions on the target's
 * unlabelled training windows agree most with the majority vote of all of them. DANN runs differ a lot from seed to
 * seed (docs/pytorch-reference.md: per-scenario sd up to 34 F1); the consensus discards the outliers when most runs agree.
 */
import type { Cnn } from './cnn';
import { argmaxRows, predictLogits } from './train';
import type { WindowSet } from './types';

export interface TeacherChoice {
  readonly index: number;
  /** Agreement of each teacher with the majority vote, 0..1. */
  readonly agreement: number[];
}

export function selectByConsensus(teachers: readonly Cnn[], targetUnlabelled: WindowSet): TeacherChoice {
  const preds = teachers.map((t) => argmaxRows(predictLogits(t, targetUnlabelled)));
  const k = teachers[0]?.spec.numClasses ?? 0;
  const n = targetUnlabelled.n;
  const vote = new Uint8Array(n);
  const counts = new Int32Array(k);
  for (let i = 0; i < n; i++) {
    counts.fill(0);
    for (const p of preds) counts[p[i] as number]! += 1;
    let best = 0;
    for (let c = 1; c < k; c++) if (counts[c]! > counts[best]!) best = c;
    vote[i] = best;
  }
  const agreement = preds.map((p) => {
    let same = 0;
    for (let i = 0; i < n; i++) if (p[i] === vote[i]) same++;
    return n === 0 ? 0 : same / n;
  });
  let index = 0;
  for (let j = 1; j < agreement.length; j++) if (agreement[j]! > agreement[index]!) index = j;
  return { index, agreement };
}
