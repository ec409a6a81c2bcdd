/**
 * The layout of a state directory shared by several hubs (docs/scaling.md "Several hubs"), and the lock around the
 * hub-wide work that must happen once however many hubs start together:
 *
 *   keys/, models/ (teacher, generic student, published models), credentials.json   shared, as with one hub
 *   setup/sitekd.lock        held while a hub creates or loads the signing key and the teacher: the first hub to
 *                            start does the work, the others wait here and then load what it wrote
 *   hubs/<id>/               one hub's own files: its lock (one process per hub id) and its job journal
 *   sites/<site>/            one site's state: owner.lock (hub/shard/site-lock.ts), registry.json, samples/
 */
import { join } from 'node:path';
import type { Clock } from '../../shared/clock';
import { ErrorCode, isSitekdError } from '../../shared/errors';
import { acquireStateLock } from '../../shared/fs/state-lock';
import type { Logger } from '../../shared/log';

export const hubDir = (stateDir: string, hubId: string): string => join(stateDir, 'hubs', hubId);
export const siteDir = (stateDir: string, site: string): string => join(stateDir, 'sites', site);

/**
 * Runs `fn` holding `setup/sitekd.lock`, waiting (polling every 250 ms) while another live hub holds it. A lock left by a
 * dead process on this host is taken over (shared/fs/state-lock.ts); one held by another host is waited for, up to
 * `maxWaitMs`, then STATE_LOCKED is thrown.
 */
export async function withSetupLock<T>(stateDir: string, o: { clock: Clock; log: Logger; maxWaitMs: number; signal?: AbortSignal }, fn: () => Promise<T>): Promise<T> {
  const dir = join(stateDir, 'setup');
  const until = o.clock.now() + o.maxWaitMs;
  let told = false;
  // The Clock's timers never keep the process alive, and a hub waiting here before it connected has nothing else that does.
  const keepAlive = setInterval(() => undefined, 60_000);
  try {
    return await waitAndRun(dir, o, until, () => {
      if (!told) o.log.info('another hub is creating the shared key or teacher; waiting', { dir });
      told = true;
    }, fn);
  } finally {
    clearInterval(keepAlive);
  }
}

async function waitAndRun<T>(dir: string, o: { clock: Clock; log: Logger; signal?: AbortSignal }, until: number, waiting: () => void, fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      const lock = acquireStateLock(dir, { what: 'hub setup', onStale: (p) => o.log.warn('stale setup lock taken over', { dir, ...p }) });
      return await fn().finally(() => lock.release());
    } catch (err) {
      if (!isSitekdError(err, ErrorCode.STATE_LOCKED) || err.details?.['file'] !== join(dir, 'sitekd.lock') || o.clock.now() > until || o.signal?.aborted === true) throw err;
      waiting();
      await new Promise((r) => o.clock.after(250, () => r(undefined)));
    }
  }
}
