/**
 * `sitekd --help`, `sitekd <command> --help` and `sitekd --version` read only the light spec modules: in a real child
 * process, a `--require` hook records every module in require.cache at exit, and none may be TensorFlow.js (nor, for
 * help, an MQTT client). A command that does run is the control: the same hook must see tfjs there.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { repoRoot } from '../helpers/repo-root';

const CLI = resolve(__dirname, '../../bin/sitekd.js');
const COMMANDS = ['demo', 'train-teacher', 'distill', 'eval', 'hub', 'redistill', 'rollback', 'agent', 'fleet', 'sim', 'import-uci', 'adapt-eval'];
const dir = mkdtempSync(join(tmpdir(), 'sitekd-help-'));
const hook = join(dir, 'record-modules.js');
writeFileSync(hook, "process.on('exit', () => require('fs').writeFileSync(process.env.SITEKD_TEST_MODULES, JSON.stringify(Object.keys(require.cache))));\n");
after(() => rmSync(dir, { recursive: true, force: true }));

let runs = 0;
function run(...args: string[]): { code: number | null; stdout: string; stderr: string; modules: string[] } {
  const out = join(dir, `modules-${runs++}.json`);
  const r = spawnSync(process.execPath, ['--require', hook, CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, SITEKD_TEST_MODULES: out },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, modules: JSON.parse(readFileSync(out, 'utf8')) as string[] };
}

const tfjs = (modules: readonly string[]): string[] => modules.filter((m) => m.includes('@tensorflow'));
const mqtt = (modules: readonly string[]): string[] => modules.filter((m) => /node_modules[\\/](mqtt|aedes)[\\/]/.test(m));

test('sitekd --help lists every command without loading tfjs or MQTT', () => {
  const r = run('--help');
  assert.equal(r.code, 0, r.stderr);
  for (const c of COMMANDS) assert.match(r.stdout, new RegExp(`^  ${c} +\\S`, 'm'), c);
  assert.deepEqual(tfjs(r.modules), []);
  assert.deepEqual(mqtt(r.modules), []);
});

test('sitekd <command> --help prints the options without loading tfjs or MQTT', () => {
  for (const c of COMMANDS) {
    const r = run(c, '--help');
    assert.equal(r.code, 0, `${c}: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^Usage: sitekd ${c} \\[options\\]`), c);
    assert.match(r.stdout, /--log-level <level>/, c);
    assert.deepEqual(tfjs(r.modules), [], c);
    assert.deepEqual(mqtt(r.modules), [], c);
  }
});

test('the control: running a command does load tfjs, and the hook sees it', () => {
  const r = run('eval', '--model', join(dir, 'missing.skd'), '--data', dir, '--domain', 'x', '--backend', 'cpu');
  assert.notEqual(r.code, 0);
  assert.ok(tfjs(r.modules).length > 0, 'the hook must see tfjs once a command runs');
});

test('sitekd --version and -V print package.json\'s version, also without tfjs', () => {
  const version = (JSON.parse(readFileSync(join(repoRoot(__dirname), 'package.json'), 'utf8')) as { version: string }).version;
  assert.match(version, /^\d+\.\d+\.\d+/);
  for (const flag of ['--version', '-V']) {
    const r = run(flag);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${version}\n`);
    assert.deepEqual(tfjs(r.modules), []);
  }
});

test('no command, or an unknown one, is a usage error with the command list on stderr', () => {
  const none = run();
  assert.equal(none.code, 64);
  assert.match(none.stderr, /Usage: sitekd <command>/);
  const unknown = run('toString');
  assert.equal(unknown.code, 64);
  assert.match(unknown.stderr, /unknown command 'toString'/);
});
