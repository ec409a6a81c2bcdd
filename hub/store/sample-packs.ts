/**
 * Pack files of the sample store (hub/store/sample-store.ts): one file per group commit holding every batch of the
 * group, of any site, as a sequence of frames (u32 LE length, then the batch's segment exactly as
 * hub/store/sample-segment.ts encodes it, with its own sha256). Why: with one file per batch, a group of 256 batches
 * cost 256 file creations, renames and fsyncs plus a directory fsync per site, and at 2,000 agents that, not the CPU,
 * was the hub's limit (docs/scaling.md). A pack is written like any crash-safe file (temporary file, fsync, rename,
 * one fsync of `packs/`; hub/store/durable-writer.ts), so it is whole or absent, and a group costs three fsyncs in all
 * with the seen log.
 *
 * A pack's batches leave it one by one (retention, quarantine) while the file stays until its last one is gone, so
 * the batches that left are remembered as tombstones (`packs/dead.log`, one `<pack> <offset>` line each) and skipped
 * at open. An eviction's tombstone is appended without fsync: if a crash loses it, the batch comes back at open and the
 * store's retention, which runs at open, evicts it again. A quarantine's tombstone is fsynced. Segment files of older
 * stores (`sites/<site>/<seq>.seg`) are still read, evicted and quarantined as before.
 *
 * A pack that holds few live batches is rewritten (hub/store/pack-compaction.ts): the book says which packs are
 * `sparse`, and `drop`s them once their batches live in a new pack.
 */
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { appendDurable, TMP_SUFFIX, writeFileAtomic } from './atomic-file';
import { decodeSegment, type SegmentHeader } from './sample-segment';

export const PACKS_DIR = 'packs';
export const PACK_SUFFIX = '.pack';
const DEAD_LOG = 'dead.log';
const FRAME_PREFIX = 4;

/** A new pack's name: the time first, so packs list oldest first, and random bytes, so two writers never collide. */
export function packName(now: number): string {
  return `${String(Math.max(0, Math.floor(now))).padStart(15, '0')}-${randomBytes(4).toString('hex')}${PACK_SUFFIX}`;
}

/** The pack's bytes and, per segment, the offset of its first byte (after its length prefix). */
export function framePack(segments: readonly Uint8Array[]): { bytes: Buffer; offsets: number[] } {
  const total = segments.reduce((s, b) => s + FRAME_PREFIX + b.length, 0);
  const out = Buffer.allocUnsafe(total);
  const offsets: number[] = [];
  let at = 0;
  for (const s of segments) {
    out.writeUInt32LE(s.length, at);
    out.set(s, at + FRAME_PREFIX);
    offsets.push(at + FRAME_PREFIX);
    at += FRAME_PREFIX + s.length;
  }
  return { bytes: out, offsets };
}

export interface PackFrame {
  /** Offset of the segment's first byte in the pack. */
  readonly offset: number;
  readonly bytes: Buffer;
}

/** The frames of a pack, and where its framing breaks (a length past the end: the rest cannot be read). */
export function readFrames(buf: Buffer): { frames: PackFrame[]; brokenAt?: number } {
  const frames: PackFrame[] = [];
  let at = 0;
  while (at < buf.length) {
    if (at + FRAME_PREFIX > buf.length) return { frames, brokenAt: at };
    const len = buf.readUInt32LE(at);
    const end = at + FRAME_PREFIX + len;
    if (len === 0 || end > buf.length) return { frames, brokenAt: at };
    frames.push({ offset: at + FRAME_PREFIX, bytes: buf.subarray(at + FRAME_PREFIX, end) });
    at = end;
  }
  return { frames };
}

/** One segment of a pack, read from disk (a read of its bytes only). */
export async function readPackSegment(file: string, offset: number, length: number): Promise<Uint8Array | undefined> {
  try {
    const fh = await fs.open(file, 'r');
    try {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      return bytesRead === length ? buf : undefined;
    } finally {
      await fh.close();
    }
  } catch {
    return undefined;
  }
}

/** Which batches of each pack are still in the store, and the tombstones of those that left. */
export class PackBook {
  private readonly live = new Map<string, number>(); // pack name → batches still in the store
  private readonly dead = new Map<string, Set<number>>(); // pack name → offsets of batches that left
  private readonly written = new Map<string, { frames: number; bytes: number }>(); // pack name → what was written in it
  private diskBytes = 0;
  private pendingDead: string[] = [];
  private deadLines = 0;

  private constructor(readonly dir: string) {}

  /** Reads the tombstones; a line that does not parse is ignored (its batch is judged again). */
  static async open(storeDir: string): Promise<PackBook> {
    const book = new PackBook(join(storeDir, PACKS_DIR));
    await fs.mkdir(book.dir, { recursive: true });
    const text = await fs.readFile(join(book.dir, DEAD_LOG), 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      const m = /^(\S+\.pack) (\d+)$/.exec(line);
      if (m !== null) book.markDead(m[1] as string, Number(m[2]));
    }
    return book;
  }

  isDead(pack: string, offset: number): boolean {
    return this.dead.get(pack)?.has(offset) ?? false;
  }

  /** A pack of `frames` batches and `bytes` bytes is on disk (just written, or found at open); it holds none of the store's yet. */
  created(pack: string, frames: number, bytes: number): void {
    this.diskBytes += bytes - (this.written.get(pack)?.bytes ?? 0);
    this.written.set(pack, { frames, bytes });
    this.hold(pack, 0);
  }

  /** Bytes of the pack files on disk. */
  get bytes(): number {
    return this.diskBytes;
  }

  /**
   * Packs whose live batches are at most a `share` of those written in them (and at least one: a pack with none is
   * deleted anyway), the emptiest first.
   */
  sparse(share: number): string[] {
    const kept = (p: string, n: number): number => n / Math.max(1, this.written.get(p)?.frames ?? 0);
    return [...this.live].filter(([p, n]) => n > 0 && kept(p, n) <= share).sort(([p, n], [q, m]) => kept(p, n) - kept(q, m) || (p < q ? -1 : 1)).map(([p]) => p);
  }

  /** The pack now holds `n` more batches of the store. */
  hold(pack: string, n: number): void {
    this.live.set(pack, (this.live.get(pack) ?? 0) + n);
  }

  /**
   * A batch left the store: its tombstone is written (fsynced when `durable`, else with the next flush) and the pack
   * is deleted once none of its batches is left.
   */
  async release(pack: string, offset: number, durable: boolean): Promise<void> {
    this.markDead(pack, offset);
    const left = (this.live.get(pack) ?? 1) - 1;
    this.live.set(pack, left);
    if (left <= 0) return await this.drop(pack);
    await this.tombstone(pack, offset, durable);
  }

  /** Appends the tombstones of evictions (no fsync, module comment); rewrites the log when mostly stale. */
  async flush(): Promise<void> {
    if (this.pendingDead.length > 0) {
      const text = this.pendingDead.join('');
      this.deadLines += this.pendingDead.length;
      this.pendingDead = [];
      await fs.appendFile(join(this.dir, DEAD_LOG), text).catch(() => undefined);
    }
    const current = [...this.dead.values()].reduce((s, o) => s + o.size, 0);
    if (this.deadLines > 2 * current + 1000) await this.compact();
  }

  /** Forgets packs with no batch left (deleting them) and rewrites the tombstones of the rest. */
  async settle(): Promise<void> {
    for (const [pack, n] of [...this.live]) if (n <= 0) await this.drop(pack);
    for (const pack of [...this.dead.keys()]) if (!this.live.has(pack)) this.dead.delete(pack);
    await this.compact();
  }

  private async compact(): Promise<void> {
    const lines = [...this.dead].flatMap(([pack, offs]) => [...offs].map((o) => `${pack} ${o}\n`));
    await writeFileAtomic(join(this.dir, DEAD_LOG), lines.join('')).catch(() => undefined);
    this.deadLines = lines.length;
  }

  /** Deletes the pack and forgets its tombstones: its last batch left, or its batches now live in another pack. */
  async drop(pack: string): Promise<void> {
    this.live.delete(pack);
    this.dead.delete(pack);
    this.diskBytes -= this.written.get(pack)?.bytes ?? 0;
    this.written.delete(pack);
    // Tombstones of a deleted pack are dropped at the next compaction; a failed unlink leaves a pack of dead batches.
    await fs.rm(join(this.dir, pack), { force: true }).catch(() => undefined);
  }

  /**
   * A segment never held: one that cannot be read is tombstoned `durable`ly, so it is not judged again at every open; a
   * second copy of a batch the store holds, with the next flush (if a crash loses that, the next open buries it again).
   */
  async bury(pack: string, offset: number, durable: boolean): Promise<void> {
    this.markDead(pack, offset);
    await this.tombstone(pack, offset, durable).catch(() => undefined);
  }

  /** Writes a tombstone: appended and fsynced when `durable`, else queued for the next flush. */
  private async tombstone(pack: string, offset: number, durable: boolean): Promise<void> {
    const line = `${pack} ${offset}\n`;
    if (durable) await appendDurable(join(this.dir, DEAD_LOG), line).then(() => void this.deadLines++);
    else this.pendingDead.push(line);
  }

  private markDead(pack: string, offset: number): void {
    let s = this.dead.get(pack);
    if (s === undefined) this.dead.set(pack, (s = new Set()));
    s.add(offset);
  }
}

export interface PackSegment {
  readonly pack: string;
  readonly file: string;
  readonly offset: number;
  readonly bytes: Buffer;
}

/**
 * Every segment of every pack not tombstoned, in pack order (oldest first), and the unreadable rest of a pack whose
 * framing breaks (`bytes` from `offset` to its end). Deletes leftover temporary files: a pack not yet renamed was
 * never acknowledged. Each pack is registered with the book (`created`, holding none yet).
 */
export async function scanPacks(book: PackBook): Promise<{ segments: PackSegment[]; broken: PackSegment[] }> {
  const segments: PackSegment[] = [];
  const broken: PackSegment[] = [];
  for (const name of (await fs.readdir(book.dir)).sort()) {
    const file = join(book.dir, name);
    if (name.endsWith(TMP_SUFFIX)) await fs.rm(file, { force: true });
    if (!name.endsWith(PACK_SUFFIX)) continue;
    const buf = await fs.readFile(file).catch(() => Buffer.alloc(0));
    const { frames, brokenAt } = readFrames(buf);
    book.created(name, frames.length + (brokenAt === undefined ? 0 : 1), buf.length);
    for (const f of frames) if (!book.isDead(name, f.offset)) segments.push({ pack: name, file, offset: f.offset, bytes: f.bytes });
    if (brokenAt !== undefined && !book.isDead(name, brokenAt)) broken.push({ pack: name, file, offset: brokenAt, bytes: buf.subarray(brokenAt) });
  }
  return { segments, broken };
}

/** What `join` answers for a segment the store already holds byte for byte (a compaction's copy, or its original). */
export const SAME_BATCH = Symbol('the same batch again');

/**
 * Loads every pack at open: each readable segment is offered to `join` (the store attaches it to its site, says why
 * it cannot, or that it holds this very batch already), the unreadable and refused ones go to `quarantine` with the
 * reason, a second copy is tombstoned; the book holds the ones joined.
 */
export async function loadPacks(
  book: PackBook, quarantine: (x: PackSegment, reason: string) => Promise<void>,
  join: (h: SegmentHeader, x: PackSegment) => Promise<string | typeof SAME_BATCH | undefined>,
): Promise<void> {
  const { segments, broken } = await scanPacks(book);
  for (const b of broken) await quarantine(b, 'pack framing broken (truncated or corrupted)');
  for (const x of segments) {
    const res = decodeSegment(x.bytes);
    const problem = res.ok ? await join(res.segment.header, x) : res.reason;
    if (problem === undefined) book.hold(x.pack, 1);
    else if (problem === SAME_BATCH) await book.bury(x.pack, x.offset, false);
    else await quarantine(x, problem);
  }
}
