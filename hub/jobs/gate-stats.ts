/**
 * Exact binomial statistics for the rollout gate (hub/jobs/gate.ts): tails of the binomial distribution through the
 * regularised incomplete beta function, Clopper–Pearson bounds, McNemar's exact test, and a lower confidence bound on
 * the difference of two paired proportions. Pure functions on counts; no tfjs, no I/O.
 *
 * Why exact and not a normal approximation or a bootstrap: the gate often judges a few dozen windows with a handful
 * of discordant pairs, exactly where asymptotic intervals and the bootstrap claim more confidence than the data hold
 * (with 3 wins and 0 losses a bootstrap interval of the difference never goes below 0).
 */

/** ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms: ~15 significant digits). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  const z = x - 1;
  let a = c[0] as number;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += (c[i] as number) / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the incomplete beta function (modified Lentz), valid for x < (a + 1) / (a + b + 2). */
function betaFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  d = 1 / (Math.abs(d) < tiny ? tiny : d);
  let h = d;
  for (let m = 1; m <= 10_000; m++) {
    for (const num of [(m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m)), (-(a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1))]) {
      d = 1 + num * d;
      d = 1 / (Math.abs(d) < tiny ? tiny : d);
      c = 1 + num / c;
      if (Math.abs(c) < tiny) c = tiny;
      h *= d * c;
    }
    if (Math.abs(d * c - 1) < 1e-15) break;
  }
  return h;
}

/** I_x(a, b), the regularised incomplete beta function, for a, b > 0 and x in [0, 1]. */
export function betaRegularized(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log1p(-x));
  // The fraction converges fast on one side of the mean; the symmetry I_x(a,b) = 1 − I_{1−x}(b,a) covers the other.
  return x < (a + 1) / (a + b + 2) ? (front * betaFraction(x, a, b)) / a : 1 - (front * betaFraction(1 - x, b, a)) / b;
}

/** P(X ≥ k) for X ~ Binomial(n, p). */
export function binomialUpperTail(k: number, n: number, p: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  return betaRegularized(p, k, n - k + 1);
}

/** The p in [0, 1] where the increasing function f crosses `target` (bisection to double precision). */
function solveIncreasing(f: (p: number) => number, target: number): number {
  let [lo, hi] = [0, 1];
  for (let i = 0; i < 200 && hi - lo > 1e-15; i++) {
    const mid = (lo + hi) / 2;
    if (f(mid) < target) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** One-sided Clopper–Pearson lower bound of a proportion: P(p ≥ bound) ≥ 1 − alpha, x successes in n trials. */
export function clopperPearsonLower(x: number, n: number, alpha: number): number {
  if (x <= 0) return 0;
  return solveIncreasing((p) => binomialUpperTail(x, n, p), alpha);
}

/** One-sided Clopper–Pearson upper bound of a proportion: P(p ≤ bound) ≥ 1 − alpha, x successes in n trials. */
export function clopperPearsonUpper(x: number, n: number, alpha: number): number {
  if (x >= n) return 1;
  // P(X ≤ x; p) = 1 − P(X ≥ x + 1; p) falls as p grows; the bound is where it reaches alpha.
  return solveIncreasing((p) => binomialUpperTail(x + 1, n, p), 1 - alpha);
}

/**
 * McNemar's exact test, one-sided: the probability of at least `wins` wins among `wins + losses` discordant pairs if
 * a discordant pair were a fair coin, i.e. the p-value of "the candidate is better" (1 without discordant pairs).
 */
export function mcnemarExactP(wins: number, losses: number): number {
  return binomialUpperTail(wins, wins + losses, 0.5);
}

export interface DifferenceBound {
  /** With probability ≥ confidence, candidate − current ≥ lower (a share, −1..0; 0 stands for "≥ 0"). */
  readonly lower: number;
  /** Lower bound of P(candidate wins | a discordant pair) (McNemar's parameter). */
  readonly winShareLower: number;
  /** Upper bound of the share of discordant windows. */
  readonly discordantUpper: number;
}

/**
 * One-sided lower confidence bound of Δ = P(candidate right, current wrong) − P(candidate wrong, current right) from
 * paired counts over n windows, exact and conservative. Δ = π·(2θ − 1) with π the share of discordant windows and θ the
 * candidate's share of the discordant ones. With θ ≥ θ_L (McNemar's exact Clopper–Pearson bound on wins among the
 * discordant pairs, at alpha/2) and π ≤ π_U (Clopper–Pearson on discordant among n, at alpha/2), both holding together
 * with probability ≥ 1 − alpha (Bonferroni): Δ ≥ π_U·(2θ_L − 1) when θ_L < ½, and Δ ≥ 0 otherwise.
 */
export function differenceLowerBound(wins: number, losses: number, n: number, confidence: number): DifferenceBound {
  const half = (1 - confidence) / 2;
  const discordant = wins + losses;
  const winShareLower = clopperPearsonLower(wins, discordant, half);
  const discordantUpper = n > 0 ? clopperPearsonUpper(discordant, n, half) : 1;
  const lower = winShareLower >= 0.5 ? 0 : discordantUpper * (2 * winShareLower - 1);
  return { lower, winShareLower, discordantUpper };
}
