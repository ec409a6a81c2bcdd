/**
 * Figures the rollout watch reads from logits (pure, plain arrays, no tfjs): whether the logits an agent returned are
 * the ones the hub's own copy of the version computes (an agent that claims N but runs something else must not be
 * judged as N), the serving student's mean confidence, and the shift of its predicted class mix.
 */

/** Logits of one window that differ by more than this (absolute plus relative) come from another model. */
const LOGIT_ABS_TOLERANCE = 1e-2;
const LOGIT_REL_TOLERANCE = 1e-2;

/** Agents whose returned logits match the hub's on fewer windows than this share are not judged. */
export const MIN_MATCHING_SHARE = 0.9;

/** Index of the largest value of each row of `[n, k]` logits. */
export function argmaxRows(logits: Float32Array, k: number): Uint8Array {
  const n = Math.floor(logits.length / k);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if ((logits[i * k + j] as number) > (logits[i * k + best] as number)) best = j;
    out[i] = best;
  }
  return out;
}

/** Mean over rows of the largest softmax probability (the prediction's confidence); null without rows. */
export function meanConfidence(logits: Float32Array, k: number): number | null {
  const n = Math.floor(logits.length / k);
  if (n === 0) return null;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let j = 0; j < k; j++) max = Math.max(max, logits[i * k + j] as number);
    let z = 0;
    for (let j = 0; j < k; j++) z += Math.exp((logits[i * k + j] as number) - max);
    sum += 1 / z; // softmax of the largest logit
  }
  return sum / n;
}

/** Share of each class among `labels`; null without labels. */
export function classMix(labels: ArrayLike<number>, k: number): number[] | null {
  if (labels.length === 0) return null;
  const mix = new Array<number>(k).fill(0);
  for (let i = 0; i < labels.length; i++) mix[labels[i] as number] = (mix[labels[i] as number] as number) + 1 / labels.length;
  return mix;
}

/** Total variation distance ½ Σ |p − q| between two class mixes (0 = same mix, 1 = disjoint); null if either is. */
export function totalVariation(p: readonly number[] | null, q: readonly number[] | null): number | null {
  if (p === null || q === null || p.length !== q.length) return null;
  let d = 0;
  for (let j = 0; j < p.length; j++) d += Math.abs((p[j] as number) - (q[j] as number));
  return d / 2;
}

/** Per row of `[n, k]` logits: does the returned row equal the hub's within the tolerance. */
export function logitsMatch(returned: Float32Array, hub: Float32Array, k: number): boolean[] {
  if (returned.length !== hub.length) throw new RangeError(`logits of ${returned.length} and ${hub.length} values`);
  const n = Math.floor(returned.length / k);
  return Array.from({ length: n }, (_, i) => {
    for (let j = i * k; j < (i + 1) * k; j++) {
      const [r, h] = [returned[j] as number, hub[j] as number];
      if (!(Math.abs(r - h) <= LOGIT_ABS_TOLERANCE + LOGIT_REL_TOLERANCE * Math.abs(h))) return false;
    }
    return true;
  });
}

/** Agents whose windows match on at least MIN_MATCHING_SHARE of them: the ones really serving the version. */
export function agentsServing(agents: readonly string[], matches: readonly boolean[]): { readonly serving: Set<string>; readonly excluded: string[] } {
  const tally = new Map<string, { n: number; ok: number }>();
  agents.forEach((a, i) => {
    const t = tally.get(a) ?? { n: 0, ok: 0 };
    t.n++;
    if (matches[i] === true) t.ok++;
    tally.set(a, t);
  });
  const serving = new Set<string>();
  const excluded: string[] = [];
  for (const [a, t] of tally) {
    if (t.ok >= MIN_MATCHING_SHARE * t.n) serving.add(a);
    else excluded.push(a);
  }
  return { serving, excluded: excluded.sort() };
}
