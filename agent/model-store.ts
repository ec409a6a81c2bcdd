/**
 * The agent's models on disk: the active one, the previous one, and the chunks of a transfer in progress.
 *
 *   {dataDir}/models/current.json              { active, previous } — which artifact file is which
 *   {dataDir}/models/{version}-{sha12}.skm     artifact bytes, exactly as the manifest's sha256 describes them
 *   {dataDir}/models/staging/{version}-{sha12}/chunk-{i}    verified chunks of a transfer (resume after restart)
 *
 * Why a pointer file: the swap must be one atomic step. Writing the new artifact under its own name first and then
 * replacing `current.json` by rename (tmp, fsync, rename, fsync dir) switches active and previous at once; a crash
 * before the rename keeps the old pair, after it the new pair — never a state with no active model or a half-written
 * one. Rollback rewrites the pointer as it was. Files no pointer names are removed after each change.
 * Every read checks the bytes against the sha256 in the pointer, and `current.json` is checked with zod (files read
 * back are untrusted, docs/conventions.md §4): a damaged pointer is set aside as `.bad` and the agent starts without a model.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { ErrorCode, SitekdError } from '../shared/errors';
import { sha256Hex } from '../shared/protocol/chunks';
import { ID_PATTERN } from '../shared/protocol/topics';
import { isNotFound, writeFileAtomic } from '../shared/fs/atomic-file';
import type { Logger } from '../shared/log';
import { SerialQueue } from '../shared/serial-queue';

const StoredModelSchema = z.strictObject({
  version: z.string().regex(ID_PATTERN),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  file: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}\.skm$/),
  /** The manifest's createdAt (ms), or null for a model installed from a local file. */
  createdAt: z.number().nullable(),
  installedAt: z.number(),
  source: z.enum(['hub', 'file']),
});
export type StoredModel = z.infer<typeof StoredModelSchema>;

const PointerSchema = z.strictObject({
  formatVersion: z.literal(1),
  active: StoredModelSchema.nullable(),
  previous: StoredModelSchema.nullable(),
  /**
   * The newest signed manifest time this agent ever accepted (installed, or seen for the model already active): the
   * floor below which a manifest is stale, whatever model is active now (agent/update-plan.ts). Absent in older files.
   */
  newestSignedAt: z.number().optional(),
});
type Pointer = z.infer<typeof PointerSchema>;

const POINTER = 'current.json';
const STAGING = 'staging';
const CHUNK_NAME = /^chunk-(0|[1-9][0-9]{0,5})$/;

export interface ModelStoreOptions {
  /** `{dataDir}/models`. */
  readonly dir: string;
  readonly now: () => number;
  readonly log: Logger;
}

/** What `swap` changed, for `rollback`. */
export interface SwapToken {
  readonly before: Pointer;
  readonly installed: StoredModel;
}

export interface InstallMeta {
  readonly version: string;
  readonly sha256: string;
  readonly createdAt: number | null;
  readonly source: 'hub' | 'file';
}

export class ModelStore {
  private pointer: Pointer = { formatVersion: 1, active: null, previous: null };
  /** Serialises pointer changes (swap, rollback, demote). */
  private readonly queue = new SerialQueue();

  private constructor(private readonly opts: ModelStoreOptions) {}

  static async open(opts: ModelStoreOptions): Promise<ModelStore> {
    const store = new ModelStore(opts);
    await fs.mkdir(path.join(opts.dir, STAGING), { recursive: true });
    await store.loadPointer();
    await store.collectGarbage();
    return store;
  }

  get active(): StoredModel | null {
    return this.pointer.active;
  }

  get previous(): StoredModel | null {
    return this.pointer.previous;
  }

  /** See `newestSignedAt` above; null before the first signed model. */
  get newestSignedAt(): number | null {
    return this.pointer.newestSignedAt ?? null;
  }

  /** Raises `newestSignedAt` to `t` (a verified manifest's createdAt), persisted; a lower `t` changes nothing. */
  noteSigned(t: number): Promise<void> {
    return this.queue.run(async () => {
      if (t > (this.pointer.newestSignedAt ?? -Infinity)) await this.writePointer({ ...this.pointer, newestSignedAt: t });
    });
  }

  /** The artifact bytes of a stored model, checked against its sha256 (MODEL_LOAD, MODEL_CHECKSUM). */
  async read(entry: StoredModel): Promise<Uint8Array> {
    const file = path.join(this.opts.dir, entry.file);
    let bytes: Uint8Array;
    try {
      bytes = await fs.readFile(file);
    } catch (cause) {
      throw new SitekdError(ErrorCode.MODEL_LOAD, `cannot read stored model ${entry.version}`, { cause, details: { path: file } });
    }
    if (sha256Hex(bytes) !== entry.sha256) {
      throw new SitekdError(ErrorCode.MODEL_CHECKSUM, `stored model ${entry.version} does not match its sha256`, { details: { path: file } });
    }
    return bytes;
  }

  /**
   * Writes the artifact under its own name, then makes it active and the old active previous in one atomic pointer
   * replace. MODEL_WRITE on I/O failure (the old pointer then still holds).
   */
  swap(bytes: Uint8Array, meta: InstallMeta): Promise<SwapToken> {
    return this.queue.run(async () => {
      const installed: StoredModel = {
        version: meta.version,
        sha256: meta.sha256,
        file: `${meta.version}-${meta.sha256.slice(0, 12)}.skm`,
        createdAt: meta.createdAt,
        installedAt: this.opts.now(),
        source: meta.source,
      };
      const before = this.pointer;
      const sameAsActive = before.active !== null && before.active.sha256 === meta.sha256 && before.active.version === meta.version;
      try {
        await writeFileAtomic(path.join(this.opts.dir, installed.file), bytes, { durable: true });
        const newest = Math.max(before.newestSignedAt ?? -Infinity, meta.createdAt ?? -Infinity);
        await this.writePointer({
          formatVersion: 1, active: installed, previous: sameAsActive ? before.previous : before.active,
          ...(Number.isFinite(newest) ? { newestSignedAt: newest } : {}),
        });
      } catch (cause) {
        if (cause instanceof SitekdError) throw cause;
        throw new SitekdError(ErrorCode.MODEL_WRITE, `cannot install model ${meta.version}`, { cause, details: { dir: this.opts.dir } });
      }
      await this.collectGarbage();
      return { before, installed };
    });
  }

  /** Puts the pointer back as it was before `token`'s swap and removes the installed file. */
  rollback(token: SwapToken): Promise<void> {
    return this.queue.run(async () => {
      await this.writePointer(token.before);
      await this.collectGarbage();
    });
  }

  /** The active model is unusable (damaged file, failed probe at start): make the previous one active. */
  demoteActive(reason: string): Promise<StoredModel | null> {
    return this.queue.run(async () => {
      const bad = this.pointer.active;
      this.opts.log.warn('stored model set aside', { version: bad?.version, reason });
      await this.writePointer({ ...this.pointer, active: this.pointer.previous, previous: null });
      await this.collectGarbage();
      return this.pointer.active;
    });
  }

  /** The staging area of one transfer (created on first write). */
  staging(version: string, sha256: string): ChunkStaging {
    return new ChunkStaging(path.join(this.opts.dir, STAGING, `${version}-${sha256.slice(0, 12)}`));
  }

  /** Removes every staging directory except `keep`'s. */
  async pruneStaging(keep?: ChunkStaging): Promise<void> {
    const root = path.join(this.opts.dir, STAGING);
    let names: string[] = [];
    try {
      names = await fs.readdir(root);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    for (const name of names) {
      const dir = path.join(root, name);
      if (keep !== undefined && dir === keep.dir) continue;
      await fs.rm(dir, { recursive: true, force: true });
    }
  }

  private async loadPointer(): Promise<void> {
    const file = path.join(this.opts.dir, POINTER);
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      if (isNotFound(err)) return;
      throw new SitekdError(ErrorCode.MODEL_LOAD, 'cannot read the model store pointer', { cause: err, details: { path: file } });
    }
    let parsed: z.ZodSafeParseResult<Pointer>;
    try {
      parsed = PointerSchema.safeParse(JSON.parse(text));
    } catch {
      parsed = PointerSchema.safeParse(undefined);
    }
    if (parsed.success) {
      this.pointer = parsed.data;
      return;
    }
    // Without a trustworthy pointer no stored file can be trusted to be the right model: start empty, keep the evidence.
    this.opts.log.error('model store pointer is damaged; starting without a model', { path: file });
    await fs.rename(file, `${file}.bad`).catch(() => fs.rm(file, { force: true }));
  }

  private async writePointer(p: Pointer): Promise<void> {
    await writeFileAtomic(path.join(this.opts.dir, POINTER), `${JSON.stringify(p, null, 2)}\n`, { durable: true });
    this.pointer = p;
  }

  /** Deletes artifact files no pointer names and leftover temporary files. */
  private async collectGarbage(): Promise<void> {
    const keep = new Set([this.pointer.active?.file, this.pointer.previous?.file, POINTER, STAGING, `${POINTER}.bad`]);
    for (const name of await fs.readdir(this.opts.dir)) {
      if (keep.has(name)) continue;
      if (name.endsWith('.skm') || name.includes('.tmp-')) await fs.rm(path.join(this.opts.dir, name), { force: true });
    }
  }
}

/**
 * The verified chunks of one transfer, one file each, written atomically (tmp + rename). No fsync: a chunk torn by a
 * power cut fails its sha256 when the transfer resumes and is simply fetched again.
 */
export class ChunkStaging {
  constructor(readonly dir: string) {}

  async put(index: number, bytes: Uint8Array): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    await writeFileAtomic(path.join(this.dir, `chunk-${index}`), bytes, { durable: false });
  }

  /** Every chunk file present, by index (unchecked: the caller checks each against the manifest). */
  async load(): Promise<Array<{ index: number; bytes: Uint8Array }>> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
    const out: Array<{ index: number; bytes: Uint8Array }> = [];
    for (const name of names) {
      const m = CHUNK_NAME.exec(name);
      if (m === null) continue;
      try {
        out.push({ index: Number(m[1]), bytes: await fs.readFile(path.join(this.dir, name)) });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    return out.sort((a, b) => a.index - b.index);
  }

  /** Deletes one chunk file (it failed its check on resume). */
  async discard(index: number): Promise<void> {
    await fs.rm(path.join(this.dir, `chunk-${index}`), { force: true });
  }

  async remove(): Promise<void> {
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}
