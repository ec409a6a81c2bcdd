/**
 * The rollout gate of a redistillation round (pure: counts in, a decision with reasons out). It compares candidate
 * and current student window by window on the same held-out windows (a paired design), never just two rates:
 *  - without labels, per window: does each student's argmax agree with a reference model's (which reference — the
 *    hub's teacher, an adapted teacher, a versioned one — is the caller's business: the gate only sees the two
 *    0/1 vectors); the held-out windows are the ones the agents sampled uniformly (hub/store/sample-set.ts);
 *  - when an operator supplied a labelled set for the site, per window: is each student right. The labelled set then
 *    decides alone (labels beat agreement with any reference); the agreement test is still reported.
 *
 * A test passes when both hold:
 *  1. not worse with stated confidence: the one-sided `confidence` lower bound of candidate − current (an exact,
 *     conservative bound built on McNemar's test, hub/jobs/gate-stats.ts) is at least −`margin`;
 *  2. better on the windows: the candidate is right (agrees) on more of the discordant windows than the current
 *     student, by at least `minGain` of the windows (and at least one window). A tie is not an improvement, nor is one
 *     window in 700, so neither republishes: a new version costs every agent a download, a verify and a swap, and "as
 *     good as before" is not evidence of being better on newer data. (`npm start` once republished a site on 2 wins
 *     against 1 loss of 714 windows.)
 * With labels, macro-F1 must also not fall by more than the margin (accuracy alone can hide a lost minority class).
 *
 * `gateMinHeldOut` is the smallest held-out set on which this can pass at all: below it a round cannot be published
 * whatever the candidate does, so the round is skipped before training.
 */
import { differenceLowerBound, mcnemarExactP } from './gate-stats';

/** Per window of a paired comparison: 1 = right (or agrees with the reference), 0 = not. */
export interface PairedCounts {
  readonly n: number;
  readonly both: number;
  /** Windows only the candidate gets right: its wins. */
  readonly candidateOnly: number;
  /** Windows only the current student gets right: the candidate's losses. */
  readonly currentOnly: number;
  readonly neither: number;
}

export interface GateSettings {
  /** One-sided confidence of the "not worse" bound, e.g. 0.95. */
  readonly confidence: number;
  /** How much worse (a share, 0..1) the candidate may be at that confidence. */
  readonly margin: number;
  /** Wins minus losses needed, as a share of the windows (0.005 = half a point); at least one window in any case. */
  readonly minGain: number;
  /** Fewer held-out windows never pass (at least gateMinHeldOut; an operator may demand more). */
  readonly minHeldOut: number;
}

export interface GateInput {
  /** Agreement of candidate and current student with the reference, on the held-out windows. */
  readonly agreement: PairedCounts;
  /** Named in the reasons, e.g. `adapted-teacher`. */
  readonly reference: string;
  /**
   * With turns of the site's sensors on (docs/adaptation.md §1.5): agreement with the reference adapted unturned. The
   * candidate must also be not worse than the margin against it, with the same confidence (no gain needed): a wrong
   * turn that the turned reference shares, and so passes, is caught by a judge that does not share it.
   */
  readonly unturned?: PairedCounts;
  /** The operator's labelled set: correctness per window, and macro-F1 in percent. */
  readonly labelled?: { readonly correct: PairedCounts; readonly candidateMacroF1: number; readonly currentMacroF1: number; readonly head?: string };
  readonly settings: GateSettings;
}

/** The figures behind one paired test, for logs, job results and benchmarks. */
export interface TestFigures {
  readonly n: number;
  readonly candidateOnly: number;
  readonly currentOnly: number;
  /** McNemar exact one-sided p-value of "the candidate is better". */
  readonly pValue: number;
  /** Candidate − current ≥ this with the stated confidence (a share; 0 when the bound is not below 0). */
  readonly lowerBound: number;
  /** Wins minus losses the test asked for (rule 2 of the module comment). */
  readonly neededNetWins: number;
  readonly pass: boolean;
}

export interface GateDecision {
  readonly pass: boolean;
  /** Every check with its figures, for people (JobEvent.message, the hub log). */
  readonly reasons: readonly string[];
  readonly decidedBy: 'agreement' | 'labelled';
  readonly agreement: TestFigures;
  readonly labelled?: TestFigures;
}

/** Fraction of rows where two label vectors agree (0 for empty input). */
export function agreement(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`agreement of ${a.length} and ${b.length} labels`);
  if (a.length === 0) return 0;
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

/** 1 where a[i] equals b[i], else 0: e.g. "does this student agree with the reference on window i". */
export function matches(a: ArrayLike<number>, b: ArrayLike<number>): Uint8Array {
  if (a.length !== b.length) throw new RangeError(`matches of ${a.length} and ${b.length} labels`);
  return Uint8Array.from({ length: a.length }, (_, i) => (a[i] === b[i] ? 1 : 0));
}

/** Paired counts from two per-window 0/1 vectors over the same windows. */
export function pairedCounts(candidate: ArrayLike<number>, current: ArrayLike<number>): PairedCounts {
  if (candidate.length !== current.length) throw new RangeError(`paired vectors of ${candidate.length} and ${current.length} windows`);
  const c = { n: candidate.length, both: 0, candidateOnly: 0, currentOnly: 0, neither: 0 };
  for (let i = 0; i < c.n; i++) {
    const [x, y] = [candidate[i] === 1, current[i] === 1];
    if (x && y) c.both++;
    else if (x) c.candidateOnly++;
    else if (y) c.currentOnly++;
    else c.neither++;
  }
  return c;
}

/** Settings of one paired test; without `minGain`, one window more is enough (the rollout watch's test). */
export type TestSettings = Pick<GateSettings, 'confidence' | 'margin'> & Partial<Pick<GateSettings, 'minGain'>>;

/** The paired test of the module comment on one set of counts. */
export function pairedTest(c: PairedCounts, s: TestSettings): TestFigures {
  const { lower } = differenceLowerBound(c.candidateOnly, c.currentOnly, c.n, s.confidence);
  const neededNetWins = Math.max(1, Math.ceil((s.minGain ?? 0) * c.n - 1e-9));
  const pass = lower >= -s.margin - 1e-12 && c.candidateOnly - c.currentOnly >= neededNetWins;
  return { n: c.n, candidateOnly: c.candidateOnly, currentOnly: c.currentOnly, pValue: mcnemarExactP(c.candidateOnly, c.currentOnly), lowerBound: lower, neededNetWins, pass };
}

/**
 * The smallest number of held-out windows on which the gate could pass: the best outcome for n windows is b wins
 * and no loss (a loss only lowers the bound); n grows until some b ≤ n passes. It ends by n = ⌈log2(2 / (1 −
 * confidence))⌉, where n wins out of n put McNemar's bound at ½.
 */
export function gateMinHeldOut(s: TestSettings): number {
  checkSettings(s);
  for (let n = 1; ; n++) {
    for (let b = n; b >= 1; b--) if (pairedTest({ n, both: 0, candidateOnly: b, currentOnly: 0, neither: n - b }, s).pass) return n;
  }
}

export function decideGate(g: GateInput): GateDecision {
  checkSettings(g.settings);
  const s = g.settings;
  const reasons: string[] = [];
  const agree = pairedTest(g.agreement, s);
  const n = g.agreement.n;
  reasons.push(describe(`${g.reference} agreement on ${n} held-out windows`, g.agreement, agree, s));
  if (g.labelled === undefined) {
    const enough = n >= s.minHeldOut;
    // A second judge that does not share the turn: not worse than the margin against it, with the same confidence.
    const u = g.unturned === undefined ? undefined : { counts: g.unturned, test: pairedTest(g.unturned, s) };
    if (u !== undefined) reasons.push(describe(`${g.reference} (unturned) agreement on ${u.counts.n} held-out windows`, u.counts, u.test, s));
    const unturnedOk = u === undefined || u.test.lowerBound >= -s.margin - 1e-12;
    reasons.push(
      !enough ? `reject: only ${n} held-out windows, the gate needs ${s.minHeldOut}`
      : agree.pass && u !== undefined && !unturnedOk ? `reject: against the reference adapted unturned the candidate is not shown to be no worse than the margin (bound ${signed(100 * u.test.lowerBound)} points): its turn is not confirmed`
      : verdict(agree, g.agreement),
    );
    return { pass: agree.pass && enough && unturnedOk, reasons, decidedBy: 'agreement', agreement: agree };
  }
  const { correct, candidateMacroF1: f1c, currentMacroF1: f1p } = g.labelled;
  const lab = pairedTest(correct, s);
  if (g.labelled.head !== undefined) reasons.push(g.labelled.head);
  reasons.push(describe(`accuracy on ${correct.n} labelled windows`, correct, lab, s));
  const f1Ok = Number.isFinite(f1c) && Number.isFinite(f1p) && f1c + 100 * s.margin + 1e-9 >= f1p;
  reasons.push(`macro-F1 there: candidate ${fmt(f1c)} vs current ${fmt(f1p)}${f1Ok ? '' : `, more than ${fmt(100 * s.margin)} points lower`}`);
  reasons.push(`${verdict(lab, correct)}; the labelled set decides`);
  return { pass: lab.pass && f1Ok, reasons, decidedBy: 'labelled', agreement: agree, labelled: lab };
}

function describe(what: string, c: PairedCounts, t: TestFigures, s: Pick<GateSettings, 'confidence' | 'margin'>): string {
  const rate = (k: number): string => (c.n === 0 ? 'n/a' : `${fmt((100 * k) / c.n)}%`);
  return (
    `${what}: candidate ${rate(c.both + c.candidateOnly)} vs current ${rate(c.both + c.currentOnly)}; ` +
    `discordant: candidate alone ${c.candidateOnly}, current alone ${c.currentOnly} (McNemar exact p = ${t.pValue.toFixed(3)}); ` +
    `candidate − current ≥ ${signed(100 * t.lowerBound)} points at ${fmt(100 * s.confidence)}% confidence (margin ${fmt(100 * s.margin)})`
  );
}

function verdict(t: TestFigures, c: PairedCounts): string {
  const net = c.candidateOnly - c.currentOnly;
  if (t.pass) return `pass: not worse with the stated confidence, and right on ${net} more windows`;
  if (c.candidateOnly === c.currentOnly) return `reject: a tie (${c.candidateOnly} against ${c.currentOnly}) is not an improvement`;
  if (c.candidateOnly < c.currentOnly) return `reject: the candidate loses more windows than it wins (${c.currentOnly} against ${c.candidateOnly})`;
  if (net < t.neededNetWins) {
    return `reject: right on only ${net} more of ${c.n} windows (${fmt((100 * net) / c.n)} points); a new version needs ${t.neededNetWins} (gateMinGain)`;
  }
  return 'reject: not shown to be no worse than the margin at this confidence (too few windows or too many losses)';
}

function checkSettings(s: Pick<GateSettings, 'confidence' | 'margin'>): void {
  if (!(s.confidence >= 0.5 && s.confidence < 1)) throw new RangeError(`gate confidence must be in [0.5, 1), got ${s.confidence}`);
  if (!(s.margin >= 0 && s.margin < 1)) throw new RangeError(`gate margin must be in [0, 1), got ${s.margin}`);
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toFixed(1) : String(x);
}

function signed(x: number): string {
  return x >= 0 ? `+${x.toFixed(1)}` : `−${(-x).toFixed(1)}`;
}
