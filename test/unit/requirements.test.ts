/**
 * test/helpers/requirements.ts: a missing mosquitto skips locally and fails in CI; missing real data always skips.
 * The last tests run node's test runner on a generated file, so what CI would see (exit code, closing summary lines)
 * is checked, not just the verdict.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { chromium, chromiumPath, isCi, mosquitto, realData, verdict, type Requirement } from '../helpers/requirements';

const TOOL: Requirement = { what: 'mosquitto', missing: 'mosquitto is not installed', requiredInCi: true };
const DATA: Requirement = { what: 'real data', missing: 'real data not found at /x', requiredInCi: false };

function tempDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sitekd-req-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('CI mode: CI set to anything but empty, 0 or false', () => {
  assert.deepEqual(['true', '1', 'yes', 'TRUE'].map((v) => isCi({ CI: v })), [true, true, true, true]);
  assert.deepEqual([undefined, '', '0', 'false', 'False', ' '].map((v) => isCi(v === undefined ? {} : { CI: v })), [false, false, false, false, false, false]);
});

test('a tool CI installs: run when present, skip locally, fail in CI', () => {
  assert.deepEqual(verdict({ ...TOOL, missing: undefined }, { CI: 'true' }), { kind: 'run' });
  assert.deepEqual(verdict(TOOL, {}), { kind: 'skip', reason: 'mosquitto is not installed' });
  const v = verdict(TOOL, { CI: 'true' });
  assert.equal(v.kind, 'fail');
  assert.match(v.kind === 'fail' ? v.reason : '', /mosquitto is not installed; CI=true makes a missing mosquitto a failure/);
});

test('real data is never required: missing data skips in CI too', () => {
  assert.deepEqual(verdict(DATA, { CI: 'true' }), { kind: 'skip', reason: 'real data not found at /x' });
  assert.deepEqual(verdict(realData(__filename), { CI: 'true' }), { kind: 'run' });
  assert.equal(realData(path.join(__dirname, 'no-such-file')).missing, `real data not found at ${path.join(__dirname, 'no-such-file')}`);
});

test('mosquitto(): looked up on PATH, naming each missing binary', (t) => {
  // A PATH with a shell and nothing else: the three binaries are missing, whatever this machine has installed.
  const bin = tempDir(t);
  const sh = spawnSync('sh', ['-c', 'command -v sh'], { encoding: 'utf8' }).stdout.trim();
  fs.symlinkSync(sh, path.join(bin, 'sh'));
  const req = mosquitto({ PATH: bin });
  assert.equal(req.requiredInCi, true);
  assert.match(req.missing ?? '', /mosquitto, mosquitto_pub, mosquitto_sub not on PATH/);
  // And found once they are there (stand-ins: `command -v` only needs an executable file).
  for (const b of ['mosquitto', 'mosquitto_pub', 'mosquitto_sub']) fs.writeFileSync(path.join(bin, b), '#!/bin/sh\n', { mode: 0o755 });
  assert.equal(mosquitto({ PATH: bin }).missing, undefined);
});

test('chromium(): SITEKD_CHROMIUM or /usr/bin/chromium, required in CI', (t) => {
  const file = path.join(tempDir(t), 'chromium');
  const req = chromium({ SITEKD_CHROMIUM: file });
  assert.equal(req.requiredInCi, true);
  assert.match(req.missing ?? '', /chromium is not installed \(.*chromium not found/);
  assert.equal(verdict(req, { CI: 'true' }).kind, 'fail');
  fs.writeFileSync(file, '', { mode: 0o755 });
  assert.equal(chromium({ SITEKD_CHROMIUM: file }).missing, undefined);
  assert.equal(chromiumPath({}), '/usr/bin/chromium');
});

/** Runs `node --test` on a file with one testNeeding(TOOL-like requirement) test, with `env`. */
function runNeeding(t: TestContext, env: NodeJS.ProcessEnv): { status: number | null; out: string } {
  const dir = tempDir(t);
  const file = path.join(dir, 'needs.test.js');
  const helper = path.join(__dirname, '..', 'helpers', 'requirements.js');
  fs.writeFileSync(file, [
    `const { testNeeding } = require(${JSON.stringify(helper)});`,
    `testNeeding(${JSON.stringify(TOOL)}, 'needs the broker', {}, () => {});`,
  ].join('\n'));
  // Without NODE_TEST_CONTEXT, which node sets for test files and which would make the child skip running files.
  const { CI: _ci, NODE_TEST_CONTEXT: _ctx, ...rest } = process.env;
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', file], { env: { ...rest, ...env }, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test('in CI a missing tool fails the run, and node\'s closing lines say so', (t) => {
  const r = runNeeding(t, { CI: 'true' });
  assert.equal(r.status, 1, r.out);
  const tail = r.out.trimEnd().split('\n').slice(-8).join('\n');
  assert.match(tail, /^# fail 1$/m, tail);
  assert.match(tail, /^# skipped 0$/m, tail);
  assert.match(r.out, /CI=true makes a missing mosquitto a failure/);
});

test('outside CI the same test is a skip and the run passes', (t) => {
  const r = runNeeding(t, {});
  assert.equal(r.status, 0, r.out);
  const tail = r.out.trimEnd().split('\n').slice(-8).join('\n');
  assert.match(tail, /^# fail 0$/m, tail);
  assert.match(tail, /^# skipped 1$/m, tail);
});
