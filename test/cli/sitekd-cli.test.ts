/**
 * The `sitekd` executable end to end on a small synthetic data set written to a temp dir: real files, real tfjs,
 * a real child process. Checks the --json contract, artifacts that reproduce their scores, and coded errors.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { writeDataset } from '../../shared/data/har';
import { defaultSyntheticSpec, generateSites, syntheticClassNames } from '../../shared/data/synthetic';

const CLI = resolve(__dirname, '../../bin/sitekd.js');
let dir = '';

function sitekd(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, SITEKD_BACKEND: 'wasm' }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sitekd-cli-'));
  const spec = { ...defaultSyntheticSpec.tiny, sites: 2 };
  writeDataset(join(dir, 'data'), { classNames: syntheticClassNames(spec.numClasses), domains: generateSites(spec) });
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('distill --json prints one JSON object with the documented fields and writes an artifact that eval reproduces', () => {
  const out = join(dir, 'student.skd');
  const r = sitekd('distill', '--data', join(dir, 'data'), '--source', 'site-0', '--target', 'site-1', '--epochs', '2', '--seed', '3', '--out', out, '--json');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1);
  const j = JSON.parse(lines[0] as string) as Record<string, unknown>;
  for (const k of ['algorithm', 'source', 'target', 'seed', 'macroF1', 'accuracy', 'teacherMacroF1', 'studentParams', 'teacherParams', 'trainSeconds', 'backend']) {
    assert.ok(k in j, `missing ${k}`);
  }
  assert.equal(j.algorithm, 'unikd');
  assert.equal(j.backend, 'wasm');
  assert.equal(j.seed, 3);
  assert.ok((j.teacherParams as number) >= 14 * (j.studentParams as number), 'student must be ≥ 14× smaller');
  const e = sitekd('eval', '--model', out, '--data', join(dir, 'data'), '--domain', 'site-1', '--json', '--log-level', 'debug');
  assert.equal(e.code, 0, e.stderr);
  const ej = JSON.parse(e.stdout) as Record<string, number>;
  // Logs go to stderr, as JSON lines off a terminal; stdout keeps only the result.
  const logs = e.stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.ok(logs.some((l) => l['level'] === 'debug' && l['msg'] === 'backend selected' && l['backend'] === 'wasm'), e.stderr);
  // The stored weights (BN running statistics included) reproduce the score measured right after training.
  assert.equal(Math.round((ej.macroF1 as number) * 100) / 100, j.macroF1);
});

test('a corrupt artifact is refused with a coded error and a non-zero exit', () => {
  const bad = join(dir, 'bad.skd');
  writeFileSync(bad, Buffer.from('not a model at all'));
  const r = sitekd('eval', '--model', bad, '--data', join(dir, 'data'), '--domain', 'site-1');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /SITEKD_ERR_MODEL_CORRUPT/);
});

test('an unknown domain and bad flags give coded errors', () => {
  const r = sitekd('distill', '--data', join(dir, 'data'), '--source', 'site-0', '--target', 'nope', '--epochs', '1');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /SITEKD_ERR_DATA_UNKNOWN_DOMAIN/);
  const u = sitekd('distill', '--data', join(dir, 'data'), '--source', 'site-0', '--target', 'site-1', '--epochs', 'ten');
  assert.equal(u.code, 64);
  assert.match(u.stderr, /SITEKD_ERR_CLI_USAGE/);
  const b = sitekd('eval', '--model', 'x', '--data', 'y', '--domain', 'z', '--backend', 'gpu');
  assert.equal(b.code, 64);
  assert.match(b.stderr, /--backend must be one of auto, tensorflow, wasm, cpu \(got "gpu"\)/);
  const n = sitekd('distill', '--data', join(dir, 'data'), '--source', 'site-0', '--target', 'site-1', '--epochs', '-3');
  assert.equal(n.code, 64);
  assert.match(n.stderr, /SITEKD_ERR_CLI_USAGE: --epochs must be a positive integer/);
});

test('a truncated data file is reported, not crashed on', () => {
  const copy = join(dir, 'trunc');
  const spec = { ...defaultSyntheticSpec.tiny, sites: 2 };
  writeDataset(copy, { classNames: syntheticClassNames(spec.numClasses), domains: generateSites(spec) });
  const f = join(copy, 'site-1_train.f32');
  const bytes = readFileSync(f);
  writeFileSync(f, bytes.subarray(0, bytes.length - 7));
  const r = sitekd('distill', '--data', copy, '--source', 'site-0', '--target', 'site-1', '--epochs', '1');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /SITEKD_ERR_DATA_TRUNCATED/);
});

test('a broker URL MQTT.js cannot use is a configuration error (78) that names the URL, not a stack trace', () => {
  const r = sitekd('redistill', '--site', 'plant-a', '--broker', 'mqtt://127.0.0.1:99999');
  assert.equal(r.code, 78, r.stderr);
  assert.match(r.stderr, /SITEKD_ERR_CONFIG_INVALID: cannot use the broker URL mqtt:\/\/127\.0\.0\.1:99999/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

test('an agent started without its required settings names the flags to add (issue 9 friction)', () => {
  const r = sitekd('agent', '--site', 'x');
  assert.equal(r.code, 78, r.stderr);
  assert.match(r.stderr, /SITEKD_ERR_CONFIG_INVALID/);
  assert.match(r.stderr, /set with --id, --broker, --sensor-topic, or in --config FILE/);
});

test('eval without --json prints the confusion matrix with class names (issue 9 friction)', () => {
  const out = join(dir, 'student-eval.skd');
  assert.equal(sitekd('distill', '--data', join(dir, 'data'), '--source', 'site-0', '--target', 'site-1', '--epochs', '1', '--out', out).code, 0);
  const e = sitekd('eval', '--model', out, '--data', join(dir, 'data'), '--domain', 'site-1');
  assert.equal(e.code, 0, e.stderr);
  const lines = e.stdout.trim().split('\n');
  const head = lines.findIndex((l) => l.startsWith('true \\ predicted'));
  assert.ok(head > 0, e.stdout);
  const rows = lines.slice(head + 1);
  assert.ok(rows.length >= 2 && rows.every((r) => /^\S+\s+(\d+\s*)+$/.test(r)), e.stdout);
});
