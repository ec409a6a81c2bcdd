/**
 * `sitekd adapt-eval` end to end in a real child process, on a synthetic data set of another shape than HAR (4
 * channels, 24-sample windows at 20 Hz, 3 classes) written with shared/data, with tiny epochs: real files, the hub's
 * worker threads, the agent's window buffer and selector. Accuracy is not checked (tiny epochs say nothing); the
 * structure of the output and the invariants that tie its figures together are.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { writeDataset } from '../../shared/data/har';
import { generateSites, syntheticClassNames } from '../../shared/data/synthetic';
import type { RoundRow } from '../../lab/adapt-report';

const CLI = resolve(__dirname, '../../bin/sitekd.js');
const SITES = ['site-1', 'site-2'];
const WINDOWS = 200;
const ROUNDS = 2;
let dir = '';

function sitekd(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, SITEKD_BACKEND: 'wasm' }, timeout: 180_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sitekd-adapt-eval-'));
  const spec = { seed: 3, sites: 3, channels: 4, length: 24, numClasses: 3, trainPerClass: 20, testPerClass: 8, shift: 0.6, samplingRateHz: 20 };
  writeDataset(join(dir, 'data'), { classNames: syntheticClassNames(3), samplingRateHz: 20, domains: generateSites(spec) });
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface SiteJson {
  site: string;
  generic: number;
  final: number;
  gain: number;
  oracle: number;
  oracleGain: number;
  published: number;
  testWindows: number;
  stream: { returned: number; windowsCut: number; batches: number };
  rounds: RoundRow[];
}

const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) < 0.011, `${what}: ${a} vs ${b}`);

/** Each round starts from the model the previous one left serving; the decision says which model serves after it. */
function checkRounds(s: SiteJson, split: string): void {
  assert.equal(s.rounds.length, ROUNDS, s.site);
  assert.equal(s.stream.returned, WINDOWS, `${s.site} returns exactly --windows`);
  assert.ok(s.stream.windowsCut >= WINDOWS, `${s.site}: the agent returns only windows it cut`);
  s.rounds.forEach((r, i) => {
    assert.equal(r.round, i + 1);
    assert.equal(r.returned, Math.ceil((WINDOWS * (i + 1)) / ROUNDS), 'rounds run after every windows/rounds windows');
    if (split === 'cross-fit') {
      assert.equal(r.trainWindows, r.returned, 'a cross-fitted round adapts to every window returned so far');
      assert.ok(r.heldOut <= r.returned && r.setAside === 0, 'and judges the uniformly sampled ones');
    } else assert.equal(r.trainWindows + r.heldOut + r.setAside, r.returned, 'a round reads every window returned so far (trained, judged or set aside)');
    if (i > 0) {
      const prev = s.rounds[i - 1] as RoundRow;
      assert.equal(r.versionBefore, prev.versionAfter);
      assert.deepEqual(r.servingBefore, prev.servingAfter);
    }
    const n = (v: string): number => Number(v.split('-')[0]);
    if (r.outcome === 'published') {
      assert.deepEqual(r.servingAfter, r.candidate, 'a published candidate serves');
      assert.equal(n(r.versionAfter), n(r.versionBefore) + 1, 'a published candidate is the next version');
    } else {
      assert.deepEqual(r.servingAfter, r.servingBefore);
      assert.equal(r.versionAfter, r.versionBefore);
    }
    if (r.outcome === 'skipped') {
      assert.match(r.reason ?? '', /too few windows/);
      assert.equal(r.candidate, undefined);
      return;
    }
    assert.ok(r.gate !== undefined && r.gate.reasons.length > 0, 'a trained round names its gate figures');
    const t = r.timing;
    assert.ok(t !== undefined);
    for (const v of Object.values(t)) assert.ok(v >= 0);
    assert.ok(t.read + t.reference + t.student + t.evaluate <= t.total + 1e-3, 'the parts of a round fit in its total');
  });
  assert.equal(s.rounds[0]?.versionBefore.split('-')[0], '1', 'the generic student is a site\'s first version');
  close(s.rounds[0]?.servingBefore.macroF1 as number, s.generic, `${s.site} generic`);
  close(s.rounds.at(-1)?.servingAfter.macroF1 as number, s.final, `${s.site} final`);
  close(s.final - s.generic, s.gain, `${s.site} gain`);
  close(s.oracle - s.generic, s.oracleGain, `${s.site} oracle gain`);
}

test('adapt-eval on a non-HAR data set: a table per site, then one JSON line whose figures agree with each other', () => {
  const r = sitekd('adapt-eval', '--data', join(dir, 'data'), '--source', 'site-0', '--sites', SITES.join(','), '--windows', String(WINDOWS),
    // 200 windows in two folds: the hub's default minimum of 128 per fold would skip every round of this tiny run.
    '--rounds', String(ROUNDS), '--epochs', '1', '--teacher-epochs', '1', '--seed', '2', '--min-train-windows', '32', '--json');
  assert.equal(r.code, 0, r.stderr);
  for (const s of SITES) assert.match(r.stdout, new RegExp(`^### Site ${s}$`, 'm'));
  const last = r.stdout.trim().split('\n').at(-1) as string;
  const j = JSON.parse(last) as Record<string, unknown> & { sites: SiteJson[] };
  for (const k of ['meanGain', 'worsePublished', 'missedBetter', 'rounds', 'published', 'oracleGapClosed', 'sites', 'secondsPerRound']) assert.ok(k in j, `missing ${k}`);
  assert.deepEqual(j.sites.map((s) => s.site), SITES);
  const split = (j['settings'] as { gateSplit: string }).gateSplit;
  assert.equal(split, 'cross-fit', 'the hub\'s default');
  j.sites.forEach((s) => checkRounds(s, split));
  const rows = j.sites.flatMap((s) => s.rounds);
  assert.equal(j.rounds, SITES.length * ROUNDS);
  assert.equal((j.published as number) + (j.rejected as number) + (j.skipped as number), j.rounds);
  assert.equal(j.published, rows.filter((x) => x.outcome === 'published').length);
  assert.ok(rows.some((x) => x.outcome !== 'skipped'), 'at least one round trained (else this test checks little)');
  const diff = (x: RoundRow): number => (x.candidate?.macroF1 ?? NaN) - x.servingBefore.macroF1;
  assert.equal(j.worsePublished, rows.filter((x) => x.outcome === 'published' && diff(x) < -2).length);
  assert.equal(j.missedBetter, rows.filter((x) => x.outcome === 'rejected' && diff(x) > 2).length);
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const meanGain = mean(j.sites.map((s) => s.final - s.generic));
  close(j.meanGain as number, meanGain, 'meanGain');
  const oracleGain = mean(j.sites.map((s) => s.oracle - s.generic));
  if (oracleGain > 0) close(j.oracleGapClosed as number, meanGain / oracleGain, 'oracleGapClosed');
  else assert.equal(j.oracleGapClosed, null);
});

test('adapt-eval refuses a site that is also a source, more rounds than windows and an unknown gate reference, as usage errors', () => {
  const data = join(dir, 'data');
  const both = sitekd('adapt-eval', '--data', data, '--source', 'site-0,site-1', '--sites', 'site-1', '--windows', '10');
  assert.equal(both.code, 64);
  assert.match(both.stderr, /SITEKD_ERR_CLI_USAGE: domain site-1 is both a source and a site/);
  const few = sitekd('adapt-eval', '--data', data, '--source', 'site-0', '--sites', 'site-1', '--windows', '2', '--rounds', '3');
  assert.equal(few.code, 64);
  assert.match(few.stderr, /SITEKD_ERR_CLI_USAGE: --windows 2 cannot feed 3 rounds/);
  const reference = sitekd('adapt-eval', '--data', data, '--source', 'site-0', '--sites', 'site-1', '--windows', '10', '--gate-reference', 'oracle');
  assert.equal(reference.code, 64);
  assert.match(reference.stderr, /SITEKD_ERR_CLI_USAGE: .*gate-reference/);
  const unknown = sitekd('adapt-eval', '--data', data, '--source', 'site-0', '--sites', 'nope', '--windows', '10');
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /SITEKD_ERR_DATA_UNKNOWN_DOMAIN/);
});
