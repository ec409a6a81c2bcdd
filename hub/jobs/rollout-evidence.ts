/**
 * The evidence for one look of the rollout watch (hub/jobs/rollout-watcher.ts): the windows that agents serving the
 * watched version N returned since its rollout and sampled uniformly (the only ones representative of the site), N's,
 * the replaced version P's and a reference model's predictions on them from the ML worker (an adapted reference adapted
 * to all of the site's stored windows), and the figures read from the returned logits. Windows of an agent whose
 * returned logits are not what the hub's own copy of N computes are left out (rollout-figures.ts `agentsServing`): such
 * an agent does not really serve N.
 */
import type { SiteAdaptSettings } from '../../shared/ml/site-adapt';
import { ErrorCode, SitekdError } from '../../shared/errors';
import type { BackendPreference } from '../../shared/ml/backend';
import type { ModelFiles } from '../models/model-files';
import { subset, type SampleSet } from '../store/sample-set';
import type { SampleStore } from '../store/sample-store';
import { sampleSetToWindowSet } from '../store/windows';
import type { MlRunner } from '../worker/ml-runner';
import { matches, pairedCounts, type PairedCounts } from './gate';
import type { RolloutWatch } from '../sites/model-history';
import { agentsServing, argmaxRows, classMix, logitsMatch, meanConfidence, totalVariation } from './rollout-figures';

/** The watch's judge: a model artifact, adapted to the judged windows first when `adapt` is set. */
export interface Reference {
  readonly bytes: Uint8Array;
  readonly adapt?: SiteAdaptSettings;
}

export interface EvidenceDeps {
  readonly store: Pick<SampleStore, 'read'>;
  readonly files: Pick<ModelFiles, 'load'>;
  readonly referenceFor: (site: string) => Promise<Reference>;
  readonly run: MlRunner;
  readonly backend: BackendPreference;
  /** Windows judged at most (the watch's budget). */
  readonly budget: number;
  /** Stored windows read at most per look. */
  readonly maxReadWindows: number;
  readonly signal?: AbortSignal | undefined;
}

export interface Evidence {
  /** P in the candidate role, N in the current role (hub/jobs/rollout-watch.ts). */
  readonly counts: PairedCounts;
  /** Uniform windows returned by agents claiming N (up to the budget), and how many of them were left out. */
  readonly claimed: number;
  readonly excludedWindows: number;
  readonly excludedAgents: readonly string[];
  /** Mean confidence of N's returned predictions on the judged windows, and of P's before the rollout. */
  readonly servingConfidence: number | null;
  readonly previousConfidence: number | null;
  /** Total variation distance between N's predicted class mix (returned logits) and P's before the rollout. */
  readonly classMixShift: number | null;
}

/** Uniform windows whose logits came from `version`, at most `limit` (the oldest when `oldest`, else the newest). */
function uniformOf(set: SampleSet, version: string, limit: number, oldest: boolean): SampleSet {
  const idx = set.seq.map((_, i) => i).filter((i) => set.modelVersions[i] === version && set.selectedBy[i] === 'uniform');
  const keep = new Set(oldest ? idx.slice(0, limit) : idx.slice(-limit));
  return subset(set, set.seq.map((_, i) => keep.has(i)));
}

/** How many uniform windows agents claiming `version` returned after `sinceSeq` (a restarted hub recounts). */
export async function countClaimed(store: Pick<SampleStore, 'read'>, site: string, w: RolloutWatch, maxReadWindows: number): Promise<number> {
  const set = await store.read(site, { afterSeq: w.sinceSeq, limit: maxReadWindows });
  return uniformOf(set, w.version, Number.MAX_SAFE_INTEGER, true).n;
}

export async function gatherEvidence(d: EvidenceDeps, site: string, w: RolloutWatch): Promise<Evidence> {
  const post = uniformOf(await d.store.read(site, { afterSeq: w.sinceSeq, limit: d.maxReadWindows }), w.version, d.budget, true);
  const [rolledOut, previous] = [await d.files.load(site, w.version), await d.files.load(site, w.previous)];
  if (rolledOut === undefined || previous === undefined) {
    const missing = rolledOut === undefined ? w.version : w.previous;
    throw new SitekdError(ErrorCode.MODEL_MISSING, `the artifact of ${missing} of site ${site} is missing or fails its check`, { details: { site, version: missing } });
  }
  const k = post.numClasses;
  if (post.n === 0) return { counts: pairedCounts([], []), claimed: 0, excludedWindows: 0, excludedAgents: [], servingConfidence: null, previousConfidence: null, classMixShift: null };
  const reference = await d.referenceFor(site);
  // An adapted reference adapts to the site's stored windows (as many as a round reads), not to the fresh windows
  // alone: those come from the stretch of time since the rollout, often one or two activities, and a reference adapted
  // to them alone misjudges (npm start, HAR 11: it rolled a student of 99.0 % back to one of 92.8 %, test split).
  const adaptTo = reference.adapt === undefined ? undefined : sampleSetToWindowSet(await d.store.read(site, { limit: d.maxReadWindows }));
  const out = await d.run(
    {
      kind: 'predict', backend: d.backend, models: [rolledOut.bytes, previous.bytes, reference.bytes], windows: sampleSetToWindowSet(post),
      ...(reference.adapt !== undefined ? { adaptLast: reference.adapt, adaptTo } : {}),
    },
    d.signal !== undefined ? { signal: d.signal } : {},
  );
  const [nLogits, pLogits, refLogits] = out.logits as [Float32Array, Float32Array, Float32Array];
  const same = logitsMatch(post.logits, nLogits, k);
  const { serving, excluded } = agentsServing(post.agents, same);
  const judged = post.agents.map((a, i) => serving.has(a) && same[i] === true);
  const pick = <T>(xs: ArrayLike<T>): T[] => Array.from(xs).filter((_, i) => judged[i]);
  const ref = argmaxRows(refLogits, out.numClasses[2] as number);
  const counts = pairedCounts(pick(matches(argmaxRows(pLogits, k), ref)), pick(matches(argmaxRows(nLogits, k), ref)));
  const judgedSet = subset(post, judged);
  const before = uniformOf(await d.store.read(site, { upToSeq: w.sinceSeq, limit: d.maxReadWindows }), w.previous, d.budget, false);
  return {
    counts, claimed: post.n, excludedWindows: post.n - judgedSet.n, excludedAgents: excluded,
    servingConfidence: meanConfidence(judgedSet.logits, k), previousConfidence: meanConfidence(before.logits, k),
    classMixShift: totalVariation(classMix(argmaxRows(judgedSet.logits, k), k), classMix(argmaxRows(before.logits, k), k)),
  };
}
