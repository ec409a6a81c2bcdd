/**
 * Per-site leases in a state directory shared by several hubs (docs/scaling.md "Several hubs"): the hub that writes a
 * site's sample store, registry entry and model files holds `sites/<site>/owner.lock`, a JSON file naming its hub id,
 * pid, host, a random token and a lease end it moves forward every `leaseMs / 3` while it holds the site.
 *
 * Why a file and not the broker: two hubs whose views of the live hubs differ for a moment (a last will still on its
 * way) would both believe they own a site; the file lets exactly one of them write. A lock is taken over only when
 * its owner is provably gone: same host and its pid is not running (a killed hub: at once), or its lease ended (a hub
 * on another host that stopped refreshing: within `leaseMs`), or the file does not parse.
 *
 * Creating is atomic (a complete file is hard-linked into place, so nobody reads a half-written lock); a takeover runs
 * under a `owner.lock.takeover` directory (mkdir is atomic), re-reads the owner inside it, and only then replaces the
 * file, so two hubs finding the same stale lock cannot both take it. A takeover directory left by a crash is removed
 * after 10 s.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { readValidJson } from '../../shared/fs/json-file';
import { isPidAlive } from '../../shared/fs/state-lock';

const LeaseSchema = z.strictObject({
  hub: z.string().max(64),
  pid: z.number().int().positive(),
  host: z.string().max(256),
  token: z.string().max(64),
  expiresAt: z.number(),
});
type Lease = z.infer<typeof LeaseSchema>;

export const SITE_LOCK_FILE = 'owner.lock';
const TAKEOVER_STALE_MS = 10_000;

export interface SiteLocksOptions {
  /** The directory of a site's shared state (`<stateDir>/sites/<site>`). */
  readonly siteDir: (site: string) => string;
  readonly hubId: string;
  readonly leaseMs: number;
  readonly now: () => number;
  /** Whether a pid runs on this host (tests inject it). Default: `process.kill(pid, 0)`. */
  readonly isAlive?: (pid: number) => boolean;
}

/** The owner of a site's lock as found on disk, for logs and the refusal message. */
export interface LockOwner {
  readonly hub: string;
  readonly pid: number;
  readonly host: string;
  readonly expiresAt: number;
}

export class SiteLocks {
  private readonly token = randomBytes(12).toString('hex');
  private readonly host = os.hostname();
  private readonly mine = new Set<string>();

  constructor(private readonly o: SiteLocksOptions) {}

  held(): string[] {
    return [...this.mine].sort();
  }

  /** Takes the site's lock if it is free or stale; otherwise returns its live owner. Never throws on a busy lock. */
  tryAcquire(site: string): { readonly ok: true } | { readonly ok: false; readonly owner: LockOwner | undefined } {
    const file = this.file(site);
    fs.mkdirSync(this.o.siteDir(site), { recursive: true });
    if (this.create(file)) return this.took(site);
    const owner = readLease(file);
    if (owner?.token === this.token) return this.took(site);
    if (!this.stale(owner)) return { ok: false, owner };
    const mutex = `${file}.takeover`;
    if (!enter(mutex)) return { ok: false, owner };
    try {
      const again = readLease(file);
      if (again?.token !== owner?.token || !this.stale(again)) return { ok: false, owner: again };
      fs.rmSync(file, { force: true });
      return this.create(file) ? this.took(site) : { ok: false, owner: readLease(file) };
    } finally {
      fs.rmSync(mutex, { recursive: true, force: true });
    }
  }

  /** Moves the lease end forward. False (and the site is no longer counted as held) when the lock is not ours any more. */
  refresh(site: string): boolean {
    const file = this.file(site);
    if (readLease(file)?.token !== this.token) {
      this.mine.delete(site);
      return false;
    }
    const tmp = `${file}.${this.token}.tmp`;
    fs.writeFileSync(tmp, this.lease());
    fs.renameSync(tmp, file);
    return true;
  }

  /** Removes the lock if it is still ours. Never throws. */
  release(site: string): void {
    this.mine.delete(site);
    try {
      const file = this.file(site);
      if (readLease(file)?.token === this.token) fs.rmSync(file, { force: true });
    } catch {
      // Best effort: a lock left behind is stale once this process is gone or its lease ends.
    }
  }

  private file(site: string): string {
    return join(this.o.siteDir(site), SITE_LOCK_FILE);
  }

  private took(site: string): { readonly ok: true } {
    this.mine.add(site);
    return { ok: true };
  }

  private lease(): string {
    const l: Lease = { hub: this.o.hubId, pid: process.pid, host: this.host, token: this.token, expiresAt: this.o.now() + this.o.leaseMs };
    return `${JSON.stringify(l)}\n`;
  }

  /** Atomic create: a complete file linked into place; false when a lock exists. */
  private create(file: string): boolean {
    const tmp = `${file}.${this.token}.new`;
    fs.writeFileSync(tmp, this.lease());
    try {
      fs.linkSync(tmp, file);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  private stale(owner: Lease | undefined): boolean {
    if (owner === undefined) return true;
    if (owner.expiresAt < this.o.now()) return true;
    return owner.host === this.host && owner.pid !== process.pid && !(this.o.isAlive ?? isPidAlive)(owner.pid);
  }
}

/** A missing file is no owner; an unreadable one counts as stale. */
function readLease(file: string): Lease | undefined {
  return readValidJson(file, LeaseSchema);
}

function enter(mutex: string): boolean {
  try {
    fs.mkdirSync(mutex);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const age = Date.now() - (fs.statSync(mutex, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
    if (age > TAKEOVER_STALE_MS) fs.rmSync(mutex, { recursive: true, force: true });
    return false;
  }
}
