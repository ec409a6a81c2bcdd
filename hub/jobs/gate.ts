/**
 * The rollout gate of a redistillation round (pure: numbers in, a decision with reasons out). The candidate must not
 * do worse than the current student of the site:
 *  - on the site's held-out returned windows, by agreement with a reference teacher's argmax (no labels needed), and
 *  - when an operator supplied a labelled set for the site, by macro-F1 on it.
 * "Not worse" allows `tolerance` (0 by default: equal is fine, so a candidate that only matches the current student
 * still replaces it with one trained on newer data).
 *
 * Which teacher is the reference matters. The hub's own teacher is trained on the source only (there is no site data
 * at first start), and the generic student was distilled to imitate it, so the generic student agrees with it most
 * exactly where both are wrong on the site: on real HAR (10 epochs, 5 source→target scenarios, measured in the
 * worker) the unadapted teacher's agreement rejected the UNI-KD candidate in 3 of 5 scenarios although the candidate
 * had the better target macro-F1 in all 5 (e.g. 2→11: 78.3 vs 54.9). So by default (`gateReference:
 * 'adapted-teacher'`) each round first trains a DANN teacher on source + the site's training windows — its
 * data-domain discriminator has seen the site — and measures agreement with that; it chose right in 5 of 5.
 */

export interface GateInput {
  /** Held-out windows the agreements were measured on. */
  readonly heldOut: number;
  /** Share of held-out windows where candidate / current student and teacher pick the same class, 0..1. */
  readonly candidateAgreement: number;
  readonly currentAgreement: number;
  /** Macro-F1 in percent on the operator's labelled set, when there is one. */
  readonly labelled?: { readonly n: number; readonly candidateMacroF1: number; readonly currentMacroF1: number };
  /** Allowed shortfall: agreement in 0..1, macro-F1 in the same fraction (× 100 points). */
  readonly tolerance: number;
  readonly minHeldOut: number;
  /** Named in the reasons. */
  readonly reference?: 'teacher' | 'adapted-teacher';
}

export interface GateDecision {
  readonly pass: boolean;
  /** Every check, passed or failed, for people (JobEvent.message, the hub log). */
  readonly reasons: readonly string[];
}

/** Fraction of rows where two label vectors agree (0 for empty input). */
export function agreement(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`agreement of ${a.length} and ${b.length} labels`);
  if (a.length === 0) return 0;
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

export function decideGate(g: GateInput): GateDecision {
  const reasons: string[] = [];
  let pass = true;
  const valid = [g.candidateAgreement, g.currentAgreement, g.tolerance].every(Number.isFinite);
  if (!valid) return { pass: false, reasons: ['a gate metric is not a finite number'] };
  if (g.heldOut < g.minHeldOut) {
    pass = false;
    reasons.push(`only ${g.heldOut} held-out windows, the gate needs ${g.minHeldOut}`);
  }
  const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
  const who = g.reference === 'adapted-teacher' ? 'adapted-teacher' : 'teacher';
  if (g.candidateAgreement + g.tolerance + 1e-12 >= g.currentAgreement) {
    reasons.push(`${who} agreement on ${g.heldOut} held-out windows: candidate ${pct(g.candidateAgreement)} ≥ current ${pct(g.currentAgreement)}${tol(g.tolerance)}`);
  } else {
    pass = false;
    reasons.push(`${who} agreement on ${g.heldOut} held-out windows: candidate ${pct(g.candidateAgreement)} < current ${pct(g.currentAgreement)}${tol(g.tolerance)}`);
  }
  if (g.labelled !== undefined) {
    const { n, candidateMacroF1: c, currentMacroF1: p } = g.labelled;
    if (!Number.isFinite(c) || !Number.isFinite(p)) {
      pass = false;
      reasons.push('macro-F1 on the labelled set is not a finite number');
    } else if (c + 100 * g.tolerance + 1e-9 >= p) {
      reasons.push(`macro-F1 on ${n} labelled windows: candidate ${c.toFixed(1)} ≥ current ${p.toFixed(1)}`);
    } else {
      pass = false;
      reasons.push(`macro-F1 on ${n} labelled windows: candidate ${c.toFixed(1)} < current ${p.toFixed(1)}`);
    }
  }
  return { pass, reasons };
}

function tol(t: number): string {
  return t > 0 ? ` (tolerance ${(100 * t).toFixed(1)} points)` : '';
}
