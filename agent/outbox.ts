/**
 * A durable, byte-capped FIFO of records (sample batches) that survives agent restarts and broker outages.
 *
 * Why our own: MQTT.js does not persist publishes made while disconnected (docs/ecosystem.md §4.1, MQTT.js#607), and an
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
 * records until it fits (`droppedRecords`/`droppedBytes`, reported through `onDrop`; the agent logs each and sends the
 * totals in its telemetry, so no batch disappears unnoticed): the newest samples reflect the current model and data, and a
 * long outage should not block fresh ones. A record larger than `maxBytes` by itself is rejected with OUTBOX_FULL.
 * Optional `maxAgeMs` (with the injected clock) expires old records the same way (`expiredRecords`).
 * Idempotence: a put of an id that is still queued is a no-op (the first bytes win).
 * Operations are serialised on one internal queue, so interleaved async put/ack/peek calls see a consistent order.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { isNotFound, writeFileAtomic } from '../shared/fs/atomic-file';
import { ErrorCode, SitekdError } from '../shared/errors';
import { corrupt, decodeRecord, encodeRecord, ID_PATTERN, ioError, NAME_PATTERN, recordFileName, scanOutboxDir } from './outbox-files';
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
  /** Told about each record deleted unsent to make room under the cap, with the totals so far (for the log). */
  onDrop?: (dropped: OutboxEntry, counters: OutboxCounters) => void;
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

export class Outbox {
  private readonly dir: string;
  private readonly maxBytes: number;
  private readonly maxAgeMs: number;
  private readonly now: () => number;
  private readonly onQuarantine: ((file: string, error: SitekdError) => void) | undefined;
  private readonly onDrop: ((dropped: OutboxEntry, counters: OutboxCounters) => void) | undefined;
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
    this.onDrop = opts.onDrop;
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
    await this.dropOldestToFit(payload.byteLength);
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
    const scan = await scanOutboxDir(this.dir);
    this.nextSeq = Math.max(this.nextSeq, scan.nextSeq);
    for (const name of scan.records) await this.loadOne(name);
    // A lowered cap applies to what is already queued, with the same drop-oldest policy.
    await this.dropOldestToFit(0);
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

  /** Deletes the oldest records until `extraBytes` more fit under the cap (or none is left); counted as dropped. */
  private async dropOldestToFit(extraBytes: number): Promise<void> {
    while (this.totalBytes + extraBytes > this.maxBytes && this.entries.length > 0) {
      const oldest = this.entries[0] as OutboxEntry;
      await this.remove(oldest);
      this.c.droppedRecords++;
      this.c.droppedBytes += oldest.size;
      this.onDrop?.({ ...oldest }, { ...this.c });
    }
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
    return path.join(this.dir, recordFileName(e.seq, e.id));
  }
}
