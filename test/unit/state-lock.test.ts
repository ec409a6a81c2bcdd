import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { ErrorCode, isSitekdError } from '../../shared/errors';
import { acquireStateLock, LOCK_FILE } from '../../shared/fs/state-lock';

const LOCK_MODULE = path.resolve(__dirname, '../../shared/fs/state-lock.js');
const CLI = path.resolve(__dirname, '../../bin/sitekd.js');

function tempDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sitekd-lock-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A child process that takes the lock on `dir`, says so on stdout, and holds it until killed. */
async function holdInChild(t: TestContext, dir: string): Promise<{ pid: number; kill: () => Promise<void> }> {
  const code = `const l = require(${JSON.stringify(LOCK_MODULE)}).acquireStateLock(${JSON.stringify(dir)}, { what: 'hub' }); console.log('locked'); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.after(() => void child.kill('SIGKILL'));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => (b.toString().includes('locked') ? resolve() : undefined));
    child.once('exit', (c) => reject(new Error(`lock holder exited with ${c}`)));
  });
  return { pid: child.pid as number, kill: async () => void (child.kill('SIGKILL'), await exited) };
}

test('a second owner in the same process is refused until the first releases', (t) => {
  const dir = tempDir(t);
  const first = acquireStateLock(dir, { what: 'hub' });
  assert.throws(() => acquireStateLock(dir, { what: 'hub' }), (e: unknown) => isSitekdError(e, ErrorCode.STATE_LOCKED));
  first.release();
  assert.equal(fs.existsSync(path.join(dir, LOCK_FILE)), false);
  acquireStateLock(dir, { what: 'hub' }).release();
});

test('a live process holding the lock refuses a second one with STATE_LOCKED naming it; once it died, the lock is taken over', async (t) => {
  const dir = tempDir(t);
  const holder = await holdInChild(t, dir);
  assert.throws(
    () => acquireStateLock(dir, { what: 'hub' }),
    (e: unknown) => isSitekdError(e, ErrorCode.STATE_LOCKED) && e.details?.['pid'] === holder.pid,
  );
  await holder.kill();
  const stale: Array<{ pid?: number; reason: string }> = [];
  const lock = acquireStateLock(dir, { what: 'hub', onStale: (p) => stale.push(p) });
  assert.equal(stale.length, 1);
  assert.equal(stale[0]?.pid, holder.pid);
  lock.release();
});

test('a lock of another host is never taken over; an unreadable one is', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, LOCK_FILE);
  fs.writeFileSync(file, JSON.stringify({ pid: 4242, host: 'other-host', processStart: 0, token: 'x', what: 'agent' }));
  assert.throws(() => acquireStateLock(dir, { what: 'agent', isAlive: () => false }), (e: unknown) => isSitekdError(e, ErrorCode.STATE_LOCKED));
  fs.writeFileSync(file, '{"pid": 12');
  const stale: string[] = [];
  acquireStateLock(dir, { what: 'agent', onStale: (p) => stale.push(p.reason) }).release();
  assert.deepEqual(stale, ['the lock file does not parse']);
});

test('release never deletes a lock that another owner holds now', (t) => {
  const dir = tempDir(t);
  const first = acquireStateLock(dir, { what: 'hub' });
  const file = path.join(dir, LOCK_FILE);
  const theirs = JSON.stringify({ pid: 1, host: os.hostname(), processStart: 0, token: 'someone-else', what: 'hub' });
  fs.writeFileSync(file, theirs);
  first.release();
  assert.equal(fs.readFileSync(file, 'utf8'), theirs);
});

test('`sitekd hub` and `sitekd agent` on a locked state directory exit with STATE_LOCKED', async (t) => {
  const dir = tempDir(t);
  const hubDir = path.join(dir, 'hub');
  const agentDir = path.join(dir, 'agent');
  await holdInChild(t, hubDir);
  await holdInChild(t, agentDir);
  const run = (args: string[]): { status: number | null; stderr: string } =>
    spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, SITEKD_BACKEND: 'cpu' }, timeout: 60_000 });
  const hub = run(['hub', '--state-dir', hubDir, '--data', path.join(dir, 'no-data'), '--source', '2', '--mqtt-port', '0']);
  assert.equal(hub.status, 1, hub.stderr);
  assert.match(hub.stderr, /SITEKD_ERR_STATE_LOCKED/);
  const agent = run(['agent', '--site', 's-1', '--id', 'gw-1', '--broker', 'mqtt://127.0.0.1:1', '--sensor-topic', 'x/imu', '--data-dir', agentDir]);
  assert.equal(agent.status, 1, agent.stderr);
  assert.match(agent.stderr, /SITEKD_ERR_STATE_LOCKED/);
});
