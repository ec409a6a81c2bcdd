/**
 * Rollback on evidence, the decision (pure: counts in, a decision with its reason out; hub/jobs/rollout-watcher.ts
 * gathers the counts and acts). After a round publishes version N in place of P, the hub judges N on fresh windows
 * that agents serving N sampled uniformly: the ML worker runs N, P and a reference model on the same windows, and per
 * window each of N and P agrees with the reference's argmax or not — the gate's paired design (hub/jobs/gate.ts) with
 * the roles swapped: P plays the candidate. The site is rolled back when
 *  1. P agrees with the reference more often than N with the stated confidence: gate.ts `pairedTest` with margin 0
 *     passes only when the exact lower bound on P − N is not below 0 (McNemar's Clopper–Pearson bound on P's share of
 *     the discordant windows is at least ½) and P wins strictly more of them; and
 *  2. the observed gap P − N is larger than `margin` (a share): on many windows a tiny difference is "significant"
 *     and still not worth a rollback.
 *
 * The watch looks at the evidence more than once (each time the windows double, up to the budget), and every look is
 * another chance of a false alarm. So each look is tested at confidence 1 − (1 − confidence) / looks (Bonferroni): all
 * looks together roll back a student that is not worse with probability below 1 − confidence. The minimum number of
 * windows is derived from that per-look test, as gate.ts `gateMinHeldOut` derives the gate's: below it no result
 * could roll back. After the last look without evidence the rollout is confirmed.
 */
import { gateMinHeldOut, pairedTest, type PairedCounts, type TestFigures } from './gate';

export interface WatchSettings {
  /** Confidence of all looks together, e.g. 0.95. */
  readonly confidence: number;
  /** How much more often (a share) P must agree with the reference than N, on top of the test. */
  readonly margin: number;
  /** Windows before the first look, at least (raised to what the test needs). */
  readonly minWindows?: number | undefined;
  /** Windows from agents serving N after which the watch ends. */
  readonly windowBudget: number;
}

export interface WatchPlan {
  readonly perLookConfidence: number;
  /** Fewest judged windows on which a look can roll back. */
  readonly minWindows: number;
  /** Window counts at which the looks happen; the last one is the budget. */
  readonly thresholds: readonly number[];
}

/** Looks at m, 2m, 4m, … below the budget, then at the budget. */
function lookThresholds(min: number, budget: number): number[] {
  const out: number[] = [];
  for (let t = min; t < budget; t *= 2) out.push(t);
  out.push(Math.max(min, budget));
  return out;
}

/** The looks and the per-look confidence (a fixed point: more looks need a stricter test, which needs more windows). */
export function watchPlan(s: WatchSettings): WatchPlan {
  if (!(s.windowBudget >= 1)) throw new RangeError(`window budget must be ≥ 1, got ${s.windowBudget}`);
  let looks = 1;
  for (;;) {
    const perLookConfidence = 1 - (1 - s.confidence) / looks;
    const minWindows = Math.max(s.minWindows ?? 1, gateMinHeldOut({ confidence: perLookConfidence, margin: 0 }));
    const thresholds = lookThresholds(minWindows, s.windowBudget);
    if (thresholds.length <= looks) return { perLookConfidence, minWindows, thresholds };
    looks = thresholds.length;
  }
}

export interface WatchInput {
  /** Per judged window: does P (candidate role) / N (current role) agree with the reference. */
  readonly counts: PairedCounts;
  readonly plan: WatchPlan;
  readonly margin: number;
  /** The look at the budget: no evidence now confirms the rollout. */
  readonly final: boolean;
  /** Names for the reasons. */
  readonly previous: string;
  readonly rolledOut: string;
  readonly reference: string;
}

export type WatchVerdict =
  /** Too few judged windows at this look; keep watching. */
  | 'wait'
  /** No evidence against N at this look; keep watching. */
  | 'keep'
  | 'rollback'
  /** The budget is reached without evidence against N. */
  | 'confirm'
  /** The budget is reached with too few judged windows to say anything. */
  | 'inconclusive';

export interface WatchDecision {
  readonly verdict: WatchVerdict;
  readonly reason: string;
  readonly test: TestFigures | undefined;
}

export function decideWatch(i: WatchInput): WatchDecision {
  const c = i.counts;
  if (c.n < i.plan.minWindows) {
    const reason = `${c.n} judged windows from agents serving ${i.rolledOut}, a decision needs ${i.plan.minWindows}`;
    return { verdict: i.final ? 'inconclusive' : 'wait', reason, test: undefined };
  }
  const test = pairedTest(c, { confidence: i.plan.perLookConfidence, margin: 0 });
  const gap = (c.candidateOnly - c.currentOnly) / c.n;
  const figures =
    `${i.previous} agrees with the ${i.reference} on ${c.both + c.candidateOnly} of ${c.n} fresh windows, ${i.rolledOut} on ${c.both + c.currentOnly}; ` +
    `discordant: ${i.previous} alone ${c.candidateOnly}, ${i.rolledOut} alone ${c.currentOnly} (McNemar exact p = ${test.pValue.toFixed(4)}); ` +
    `${i.previous} − ${i.rolledOut} = ${signed(100 * gap)} points (margin ${(100 * i.margin).toFixed(1)}) at ${(100 * i.plan.perLookConfidence).toFixed(2)}% confidence per look`;
  if (test.pass && gap > i.margin) return { verdict: 'rollback', reason: `roll back: ${figures}`, test };
  const why = test.pass ? 'the gap is within the margin' : 'not shown with the stated confidence';
  return { verdict: i.final ? 'confirm' : 'keep', reason: `${i.final ? 'confirm' : 'keep'} (${why}): ${figures}`, test };
}

function signed(x: number): string {
  return x >= 0 ? `+${x.toFixed(1)}` : `−${(-x).toFixed(1)}`;
}
