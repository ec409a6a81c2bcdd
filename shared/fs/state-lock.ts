/**
 * One process per state directory: a lock file `sitekd.lock` holding the owner's pid, host, process start time and a
 * random token. Two hubs (or two agents) on one directory would interleave writes to the same stores (segments,
 * seen-ids log, registry, outbox) and each believe its own view; the second one must refuse to start instead.
 *
 * Taking the lock: create the file exclusively (`wx`). If it exists, its owner is judged:
 * - same host, and its pid is not running (or it is our own pid but another process start: a container restarted
 *   with the same pid 1) → stale: it is removed and the lock taken over, reported through `onStale`;
 * - a file that does not parse (a crash between create and write) → stale as well;
 * - otherwise (a live pid on this host, or any other host: its pids cannot be checked) → STATE_LOCKED naming the owner.
 * Two processes that find the same stale lock at once both remove it, but only one can create the new file (`wx`); the
 * other then sees a live owner and refuses.
 *
 * Release removes the file only if it still holds our token, so a process never deletes a lock it lost.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { ErrorCode, SitekdError } from '../errors';
import { readValidJson } from './json-file';

export const LOCK_FILE = 'sitekd.lock';

const LockInfoSchema = z.object({
  pid: z.number().int().positive(),
  host: z.string().max(256),
  /** Epoch ms at which the owning process started (to tell a reused pid from the owner). */
  processStart: z.number(),
  token: z.string().max(64),
  what: z.string().max(64),
});
type LockInfo = z.infer<typeof LockInfoSchema>;

export interface StateLockOptions {
  /** `hub` or `agent`, written into the file for whoever finds it. */
  readonly what: string;
  /** Told when a stale lock is taken over (the caller logs it). */
  readonly onStale?: (previous: { pid?: number; host?: string; reason: string }) => void;
  /** Whether a pid runs on this host (tests inject it). Default: `process.kill(pid, 0)`. */
  readonly isAlive?: (pid: number) => boolean;
}

export interface StateLock {
  readonly file: string;
  /** Removes the lock if it is still ours. Idempotent; never throws. */
  release(): void;
}

/** Takes the lock on `dir` (created if needed). Throws STATE_LOCKED when a live process holds it. */
export function acquireStateLock(dir: string, opts: StateLockOptions): StateLock {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, LOCK_FILE);
  const me: LockInfo = {
    pid: process.pid, host: os.hostname(), processStart: Math.round(Date.now() - process.uptime() * 1000),
    token: randomBytes(12).toString('hex'), what: opts.what,
  };
  for (let attempt = 0; attempt < 2; attempt++) {
    if (tryCreate(file, me)) return { file, release: () => releaseIfOurs(file, me.token) };
    const owner = readOwner(file);
    const stale = staleReason(owner, me, opts.isAlive ?? isPidAlive);
    if (stale === undefined || attempt > 0) throw lockedError(file, owner);
    opts.onStale?.({ ...(owner !== undefined ? { pid: owner.pid, host: owner.host } : {}), reason: stale });
    fs.rmSync(file, { force: true });
  }
  throw lockedError(file, readOwner(file));
}

function tryCreate(file: string, info: LockInfo): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx', 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new SitekdError(ErrorCode.CONFIG_INVALID, `cannot create the lock file ${file}: ${(err as Error).message}`, { cause: err, details: { file } });
  }
  try {
    fs.writeSync(fd, `${JSON.stringify(info)}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

function readOwner(file: string): LockInfo | undefined {
  return readValidJson(file, LockInfoSchema);
}

/** Why the lock may be taken over, or undefined when its owner may still be running. */
function staleReason(owner: LockInfo | undefined, me: LockInfo, isAlive: (pid: number) => boolean): string | undefined {
  if (owner === undefined) return 'the lock file does not parse';
  if (owner.host !== me.host) return undefined;
  if (owner.pid === me.pid) {
    // Our own pid: either this very process holds it (refuse), or an earlier process that had the same pid.
    return Math.abs(owner.processStart - me.processStart) > 1000 ? 'its pid is ours, from an earlier process' : undefined;
  }
  return isAlive(owner.pid) ? undefined : 'its process is not running';
}

/** Whether a process of this host with `pid` is running (also used by hub/shard/site-lock.ts). */
export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function releaseIfOurs(file: string, token: string): void {
  try {
    if (readOwner(file)?.token === token) fs.rmSync(file, { force: true });
  } catch {
    // Best effort: a lock left behind is stale once this process is gone.
  }
}

function lockedError(file: string, owner: LockInfo | undefined): SitekdError {
  const who = owner === undefined ? 'another process' : `${owner.what} pid ${owner.pid} on ${owner.host}`;
  return new SitekdError(ErrorCode.STATE_LOCKED, `${path.dirname(file)} is in use by ${who} (lock ${file})`, {
    details: { file, ...(owner !== undefined ? { pid: owner.pid, host: owner.host, what: owner.what } : {}) },
  });
}
