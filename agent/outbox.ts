/**
 * A durable, byte-capped FIFO of records (sample batches) that survives agent restarts and broker outages.
 *
 * Why our own: MQTT.js does not persist publishes made while disconnected (ecosystem-notes §4.1, MQTT.js#607), and an
 * agent must delete a batch only after the hub's ack (docs/architecture.md), so the queue lives on disk.
 *
 * Layout: one file per record, `<seq>-<id>.rec`, seq zero-padded so that names sort in FIFO order. A put writes
 * `<name>.tmp`, fsyncs it, renames it to `.rec` and fsyncs the directory, so a crash leaves either no record or a whole
 * one. Each file starts with a header (magic, version, lengths, created-at, CRC-32 over header and body): a torn or
 * truncated file found on open or on read is renamed to `.bad`, counted, reported through `onQuarantine` with
 * OUTBOX_CORRUPT, and skipped; it never stops the agent. Leftover `.tmp` files are puts that never returned, so they are
 * deleted. An ack unlinks without an fsync of the directory: a record that reappears after a crash is sent again, and
 * the hub ignores it by batch id.
 *
 * Cap and drop policy: `bytes` counts record payloads. A put that would exceed `maxBytes` first deletes the OLDEST
 * records until it fits (`droppedRecords`/`droppedBytes`): the newest samples reflect the current model and data, and a
 * long outage should not block fresh ones. A record larger than `maxBytes` by itself is rejected with OUTBOX_FULL.
 * Optional `maxAgeMs` (with the injected clock) expires old records the same way (`expiredRecords`).
 * Idempotence: a put of an id that is still queued is a no-op (the first bytes win).
 * Operations are serialised on one internal queue, so interleaved async put/ack/peek calls see a consistent order.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import { isNotFound, writeFileAtomic } from '../shared/fs/atomic-file';
import { ErrorCode, SitekdError } from '../shared/errors';
import { SerialQueue } from '../shared/serial-queue';

export interface OutboxOptions {
  dir: string;
  /** Cap on the sum of payload bytes. */
  maxBytes: number;
  now: () => number;
  /** Records older than this are deleted. Default: kept until acked or dropped. */
  maxAgeMs?: number;
  /** Told about each quarantined file (for a rate-limited warn log). */
  onQuarantine?: (file: string, error: SitekdError) => void;
}

export interface OutboxEntry {
  id: string;
  seq: number;
  /** Payload bytes. */
  size: number;
  createdAt: number;
}

export interface OutboxRecord extends OutboxEntry {
  bytes: Uint8Array;
}

export interface OutboxCounters {
  droppedRecords: number;
  droppedBytes: number;
  expiredRecords: number;
  quarantinedRecords: number;
  /** Records whose file vanished under us (deleted by hand). */
  missingRecords: number;
}

export type PutOutcome = 'stored' | 'duplicate';

const MAGIC = 0x424f4b53; // 'SKOB' read as little-endian u32
const VERSION = 1;
const HEADER_BYTES = 24;
const ID_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;
const SEQ_PREFIX = /^(\d{16})-/;
const NAME_PATTERN = /^(\d{16})-([A-Za-z0-9_.-]{1,128})\.rec$/;

/**
 * Header (little-endian): 0 magic u32 | 4 version u8 | 5 flags u8 | 6 idLen u16 | 8 payloadLen u32 | 12 createdAt f64 |
 * 20 crc32 u32 over bytes [0, 20) + id + payload | 24 id (UTF-8) | payload.
 */
export function encodeRecord(id: string, createdAt: number, payload: Uint8Array): Uint8Array {
  const idBytes = Buffer.from(id, 'utf8');
  const out = new Uint8Array(HEADER_BYTES + idBytes.length + payload.byteLength);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint8(4, VERSION);
  dv.setUint16(6, idBytes.length, true);
  dv.setUint32(8, payload.byteLength, true);
  dv.setFloat64(12, createdAt, true);
  out.set(idBytes, HEADER_BYTES);
  out.set(payload, HEADER_BYTES + idBytes.length);
  dv.setUint32(20, checksum(out), true);
  return out;
}

/** Parses and verifies a record file; OUTBOX_CORRUPT on any mismatch. Never throws. */
export function decodeRecord(file: Uint8Array): { ok: true; id: string; createdAt: number; payload: Uint8Array } | { ok: false; error: SitekdError } {
  const bad = (why: string): { ok: false; error: SitekdError } => ({
    ok: false,
    error: new SitekdError(ErrorCode.OUTBOX_CORRUPT, `outbox record ${why}`, { details: { reason: why } }),
  });
  if (file.byteLength < HEADER_BYTES) return bad('shorter than its header');
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  if (dv.getUint32(0, true) !== MAGIC || dv.getUint8(4) !== VERSION) return bad('has no valid magic/version');
  const idLen = dv.getUint16(6, true);
  const payloadLen = dv.getUint32(8, true);
  if (HEADER_BYTES + idLen + payloadLen !== file.byteLength) return bad('length does not match its header (truncated?)');
  if (dv.getUint32(20, true) !== checksum(file)) return bad('fails its CRC-32');
  const id = Buffer.from(file.buffer, file.byteOffset + HEADER_BYTES, idLen).toString('utf8');
  const payload = file.subarray(HEADER_BYTES + idLen);
  return { ok: true, id, createdAt: dv.getFloat64(12, true), payload };
}

function checksum(file: Uint8Array): number {
  const head = crc32(file.subarray(0, 20));
  return crc32(file.subarray(HEADER_BYTES), head) >>> 0;
}

export class Outbox {
  private readonly dir: string;
  private readonly maxBytes: number;
  private readonly maxAgeMs: number;
  private readonly now: () => number;
  private readonly onQuarantine: ((file: string, error: SitekdError) => void) | undefined;
  /** FIFO order (ascending seq). */
  private readonly entries: OutboxEntry[] = [];
  private readonly byId = new Map<string, OutboxEntry>();
  private nextSeq = 1;
  private totalBytes = 0;
  private readonly queue = new SerialQueue();
  private readonly c: OutboxCounters = { droppedRecords: 0, droppedBytes: 0, expiredRecords: 0, quarantinedRecords: 0, missingRecords: 0 };

  private constructor(opts: OutboxOptions) {
    if (!Number.isInteger(opts.maxBytes) || opts.maxBytes <= 0) {
      throw new SitekdError(ErrorCode.CONFIG_INVALID, `outbox maxBytes must be a positive integer, got ${opts.maxBytes}`);
    }
    const age = opts.maxAgeMs ?? Infinity;
    if (!(age > 0)) throw new SitekdError(ErrorCode.CONFIG_INVALID, `outbox maxAgeMs must be positive, got ${age}`);
    this.dir = opts.dir;
    this.maxBytes = opts.maxBytes;
    this.maxAgeMs = age;
    this.now = opts.now;
    this.onQuarantine = opts.onQuarantine;
  }

  /** Creates the directory if needed and loads the records already in it (verifying each). */
  static async open(opts: OutboxOptions): Promise<Outbox> {
    const box = new Outbox(opts);
    await box.load();
    return box;
  }

  get depth(): number {
    return this.entries.length;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  get counters(): OutboxCounters {
    return { ...this.c };
  }

  /** Queued records, oldest first (metadata only). */
  list(): OutboxEntry[] {
    return this.entries.map((e) => ({ ...e }));
  }

  put(id: string, bytes: Uint8Array): Promise<PutOutcome> {
    if (!ID_PATTERN.test(id)) {
      return Promise.reject(new SitekdError(ErrorCode.INPUT_SHAPE, 'outbox ids are 1–128 chars of [A-Za-z0-9_.-]', { details: { id } }));
    }
    if (bytes.byteLength > this.maxBytes) {
      return Promise.reject(
        new SitekdError(ErrorCode.OUTBOX_FULL, `record of ${bytes.byteLength} bytes exceeds the outbox cap`, {
          details: { id, bytes: bytes.byteLength, maxBytes: this.maxBytes },
        }),
      );
    }
    // Copy now: the caller may reuse its buffer before the queued write runs.
    const payload = Uint8Array.from(bytes);
    return this.queue.run(() => this.doPut(id, payload));
  }

  /** The oldest `n` records with their bytes. Corrupt or vanished files are skipped (and counted). */
  peek(n: number): Promise<OutboxRecord[]> {
    return this.queue.run(() => this.doPeek(n));
  }

  /** Deletes a record; false if no record has that id (already acked, dropped or never put). */
  ack(id: string): Promise<boolean> {
    return this.queue.run(async () => {
      const e = this.byId.get(id);
      if (e === undefined) return false;
      await this.remove(e);
      return true;
    });
  }

  /** Waits for queued operations to finish. */
  async close(): Promise<void> {
    await this.queue.drain();
  }

  private async doPut(id: string, payload: Uint8Array): Promise<PutOutcome> {
    await this.expire();
    if (this.byId.has(id)) return 'duplicate';
    // Drop first: on a full disk, this is what frees the space the new record needs.
    while (this.totalBytes + payload.byteLength > this.maxBytes && this.entries.length > 0) {
      const oldest = this.entries[0] as OutboxEntry;
      await this.remove(oldest);
      this.c.droppedRecords++;
      this.c.droppedBytes += oldest.size;
    }
    const entry: OutboxEntry = { id, seq: this.nextSeq++, size: payload.byteLength, createdAt: this.now() };
    const file = this.file(entry);
    try {
      // A fixed `.tmp` suffix: open() deletes leftovers of puts that never returned.
      await writeFileAtomic(file, encodeRecord(id, entry.createdAt, payload), { tmpPath: `${file}.tmp` });
    } catch (err) {
      throw ioError('cannot write outbox record', file, err);
    }
    this.add(entry);
    return 'stored';
  }

  private async doPeek(n: number): Promise<OutboxRecord[]> {
    await this.expire();
    const out: OutboxRecord[] = [];
    for (const e of [...this.entries]) {
      if (out.length >= n) break;
      const payload = await this.read(e);
      if (payload !== undefined) out.push({ ...e, bytes: payload });
    }
    return out;
  }

  /** The payload of a queued record, or undefined after quarantining/forgetting a bad or missing file. */
  private async read(e: OutboxEntry): Promise<Uint8Array | undefined> {
    const file = this.file(e);
    let raw: Uint8Array;
    try {
      raw = await fs.readFile(file);
    } catch (err) {
      if (!isNotFound(err)) throw ioError('cannot read outbox record', file, err);
      this.forget(e);
      this.c.missingRecords++;
      return undefined;
    }
    const rec = decodeRecord(raw);
    if (rec.ok && rec.id === e.id && rec.payload.byteLength === e.size) return rec.payload;
    await this.quarantine(file, rec.ok ? corrupt('does not match its file name') : rec.error);
    this.forget(e);
    return undefined;
  }

  private async load(): Promise<void> {
    let names: string[];
    try {
      await fs.mkdir(this.dir, { recursive: true });
      names = await fs.readdir(this.dir);
    } catch (err) {
      throw ioError('cannot open outbox directory', this.dir, err);
    }
    // Start past every seq in the directory (.bad and .tmp included), so a new record never reuses a name seen here.
    for (const name of names) {
      const seq = SEQ_PREFIX.exec(name)?.[1];
      if (seq !== undefined) this.nextSeq = Math.max(this.nextSeq, Number(seq) + 1);
    }
    for (const name of names.filter((x) => x.endsWith('.tmp'))) {
      await fs.rm(path.join(this.dir, name), { force: true }).catch(() => undefined);
    }
    for (const name of names.filter((x) => x.endsWith('.rec')).sort()) await this.loadOne(name);
    // A lowered cap applies to what is already queued, with the same drop-oldest policy.
    while (this.totalBytes > this.maxBytes && this.entries.length > 0) {
      const oldest = this.entries[0] as OutboxEntry;
      await this.remove(oldest);
      this.c.droppedRecords++;
      this.c.droppedBytes += oldest.size;
    }
    await this.expire();
  }

  private async loadOne(name: string): Promise<void> {
    const file = path.join(this.dir, name);
    const m = NAME_PATTERN.exec(name);
    let raw: Uint8Array;
    try {
      raw = await fs.readFile(file);
    } catch (err) {
      // One unreadable file (EIO on a worn SD card) must not keep the agent from starting: set it aside.
      if (!isNotFound(err)) await this.quarantine(file, corrupt('cannot be read'));
      return;
    }
    const rec = decodeRecord(raw);
    if (m === null || !rec.ok || rec.id !== m[2]) {
      await this.quarantine(file, rec.ok ? corrupt('does not match its file name') : rec.error);
      return;
    }
    if (this.byId.has(rec.id)) {
      // Only possible if files were copied in by hand: keep the older copy, as a put would have.
      await fs.rm(file, { force: true }).catch(() => undefined);
      return;
    }
    this.add({ id: rec.id, seq: Number(m[1]), size: rec.payload.byteLength, createdAt: rec.createdAt });
  }

  private async expire(): Promise<void> {
    if (this.maxAgeMs === Infinity) return;
    const cutoff = this.now() - this.maxAgeMs;
    while (this.entries.length > 0 && (this.entries[0] as OutboxEntry).createdAt < cutoff) {
      await this.remove(this.entries[0] as OutboxEntry);
      this.c.expiredRecords++;
    }
  }

  private add(e: OutboxEntry): void {
    this.entries.push(e); // seqs only grow, so pushing keeps FIFO order
    this.byId.set(e.id, e);
    this.totalBytes += e.size;
  }

  private forget(e: OutboxEntry): void {
    const i = this.entries.indexOf(e);
    if (i >= 0) this.entries.splice(i, 1);
    this.byId.delete(e.id);
    this.totalBytes -= e.size;
  }

  private async remove(e: OutboxEntry): Promise<void> {
    const file = this.file(e);
    try {
      await fs.rm(file, { force: true });
    } catch (err) {
      throw ioError('cannot delete outbox record', file, err);
    }
    this.forget(e);
  }

  private async quarantine(file: string, error: SitekdError): Promise<void> {
    this.c.quarantinedRecords++;
    // If even the rename fails, delete: a file that is neither readable nor movable must not be retried for ever.
    await fs.rename(file, `${file}.bad`).catch(() => fs.rm(file, { force: true }).catch(() => undefined));
    this.onQuarantine?.(file, error);
  }

  private file(e: OutboxEntry): string {
    return path.join(this.dir, `${String(e.seq).padStart(16, '0')}-${e.id}.rec`);
  }
}

function corrupt(why: string): SitekdError {
  return new SitekdError(ErrorCode.OUTBOX_CORRUPT, `outbox record ${why}`, { details: { reason: why } });
}

function ioError(message: string, file: string, cause: unknown): SitekdError {
  return new SitekdError(ErrorCode.OUTBOX_IO, message, { cause, details: { path: file } });
}
