/**
 * The gate's exact statistics (hub/jobs/gate-stats.ts) against closed forms, direct sums and published
 * Clopper–Pearson values, and the validity of the paired bound by simulation: a candidate exactly `margin` worse
 * must pass less often than 1 − confidence.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  betaRegularized, binomialUpperTail, clopperPearsonLower, clopperPearsonUpper, differenceLowerBound, logGamma, mcnemarExactP,
} from '../../hub/jobs/gate-stats';
import { createRng } from '../../shared/random';

const close = (a: number, b: number, tol: number, what: string): void => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

function choose(n: number, k: number): number {
  let c = 1;
  for (let i = 1; i <= k; i++) c = (c * (n - k + i)) / i;
  return c;
}

/** P(X ≥ k), X ~ Binomial(n, p), by summing the mass function. */
function tailBySum(k: number, n: number, p: number): number {
  let s = 0;
  for (let i = Math.max(0, k); i <= n; i++) s += choose(n, i) * p ** i * (1 - p) ** (n - i);
  return s;
}

test('ln Γ matches factorials and Γ(½) = √π', () => {
  for (const [x, f] of [[1, 1], [2, 1], [5, 24], [11, 3_628_800]] as const) close(logGamma(x), Math.log(f), 1e-12, `lnΓ(${x})`);
  close(logGamma(0.5), 0.5 * Math.log(Math.PI), 1e-12, 'lnΓ(½)');
  close(logGamma(171.5), 709.1431630309282, 1e-9, 'lnΓ(171.5)');
});

test('the regularised incomplete beta and the binomial tail agree with direct sums', () => {
  close(betaRegularized(0.3, 1, 1), 0.3, 1e-14, 'I(0.3; 1, 1)');
  close(betaRegularized(0.5, 4, 4), 0.5, 1e-14, 'symmetry');
  for (const [k, n, p] of [[0, 10, 0.3], [3, 10, 0.5], [7, 20, 0.2], [20, 20, 0.9], [21, 20, 0.9], [150, 400, 0.35], [1, 1, 0.01]] as const) {
    close(binomialUpperTail(k, n, p), tailBySum(k, n, p), 1e-12, `P(X ≥ ${k}; ${n}, ${p})`);
  }
});

test('Clopper–Pearson bounds: published values and the closed forms at 0 and n', () => {
  // The two-sided 95 % interval for 5 of 10 is (0.1871, 0.8129); each side is a one-sided 97.5 % bound.
  close(clopperPearsonLower(5, 10, 0.025), 0.187086, 1e-6, 'lower 5/10');
  close(clopperPearsonUpper(5, 10, 0.025), 0.812914, 1e-6, 'upper 5/10');
  close(clopperPearsonUpper(0, 10, 0.05), 1 - 0.05 ** (1 / 10), 1e-12, 'upper 0/10');
  close(clopperPearsonLower(10, 10, 0.05), 0.05 ** (1 / 10), 1e-12, 'lower 10/10');
  assert.equal(clopperPearsonLower(0, 10, 0.05), 0);
  assert.equal(clopperPearsonUpper(10, 10, 0.05), 1);
  // The defining property: at the bound, the tail equals alpha.
  close(binomialUpperTail(37, 1000, clopperPearsonLower(37, 1000, 0.025)), 0.025, 1e-9, 'tail at the lower bound');
  close(1 - binomialUpperTail(38, 1000, clopperPearsonUpper(37, 1000, 0.025)), 0.025, 1e-9, 'cdf at the upper bound');
});

test('McNemar exact one-sided p-value', () => {
  assert.equal(mcnemarExactP(0, 0), 1);
  close(mcnemarExactP(6, 0), 1 / 64, 1e-15, '6 wins, no loss');
  close(mcnemarExactP(9, 1), 11 / 1024, 1e-15, '9 wins, 1 loss');
  close(mcnemarExactP(5, 5), tailBySum(5, 10, 0.5), 1e-15, 'a tie');
});

test('the paired bound: 0 when McNemar\'s bound passes ½, negative and shrinking with evidence otherwise', () => {
  assert.equal(differenceLowerBound(9, 0, 64, 0.95).lower, 0);
  const none = differenceLowerBound(0, 0, 200, 0.95);
  close(none.lower, -(1 - 0.025 ** (1 / 200)), 1e-12, 'no discordant pair: −(upper bound of the discordant share)');
  assert.equal(differenceLowerBound(0, 0, 0, 0.95).lower, -1);
  const few = differenceLowerBound(8, 2, 60, 0.95).lower;
  const many = differenceLowerBound(80, 20, 600, 0.95).lower;
  assert.ok(few < many && many <= 0, `${few} < ${many}`);
  assert.ok(differenceLowerBound(8, 2, 60, 0.99).lower < few, 'more confidence, lower bound');
});

test('a candidate exactly `margin` worse passes the "not worse" bound less often than 1 − confidence', () => {
  const rng = createRng(7);
  const margin = 0.02;
  for (const [pWin, pLoss, n] of [[0.05, 0.07, 300], [0.0, 0.02, 200], [0.2, 0.22, 100]] as const) {
    let passed = 0;
    const trials = 400;
    for (let t = 0; t < trials; t++) {
      let [b, w] = [0, 0];
      for (let i = 0; i < n; i++) {
        const u = rng.next();
        if (u < pWin) b++;
        else if (u < pWin + pLoss) w++;
      }
      if (differenceLowerBound(b, w, n, 0.95).lower >= -margin) passed++;
    }
    assert.ok(passed / trials <= 0.05, `${pWin}/${pLoss} over ${n}: passed ${passed} of ${trials}`);
  }
});
