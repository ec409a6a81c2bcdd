/**
 * The outbox directory on disk (agent/outbox.ts): record file names `<seq>-<id>.rec`, seq zero-padded to 16 digits so
 * that names sort in FIFO order; the bytes of a record, a header whose CRC-32 tells a torn or truncated write from a
 * whole one after a crash; and the scan of the directory when the outbox opens.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import { ErrorCode, SitekdError } from '../shared/errors';

const MAGIC = 0x424f4b53; // 'SKOB' read as little-endian u32
const VERSION = 1;
const HEADER_BYTES = 24;
export const ID_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;
const SEQ_PREFIX = /^(\d{16})-/;
export const NAME_PATTERN = /^(\d{16})-([A-Za-z0-9_.-]{1,128})\.rec$/;

/** The file of record `id`; NAME_PATTERN reads `seq` and `id` back. */
export function recordFileName(seq: number, id: string): string {
  return `${String(seq).padStart(16, '0')}-${id}.rec`;
}

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
  const bad = (why: string): { ok: false; error: SitekdError } => ({ ok: false, error: corrupt(why) });
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

/** OUTBOX_CORRUPT: a record file that is not what its header or name says. */
export function corrupt(why: string): SitekdError {
  return new SitekdError(ErrorCode.OUTBOX_CORRUPT, `outbox record ${why}`, { details: { reason: why } });
}

export function ioError(message: string, file: string, cause: unknown): SitekdError {
  return new SitekdError(ErrorCode.OUTBOX_IO, message, { cause, details: { path: file } });
}

/**
 * Creates the directory if needed, deletes leftover `.tmp` files (puts that never returned) and returns the record
 * files in FIFO order, with the first seq past every one in the directory (`.bad` and `.tmp` included), so a new
 * record never reuses a name seen here.
 */
export async function scanOutboxDir(dir: string): Promise<{ records: string[]; nextSeq: number }> {
  let names: string[];
  try {
    await fs.mkdir(dir, { recursive: true });
    names = await fs.readdir(dir);
  } catch (err) {
    throw ioError('cannot open outbox directory', dir, err);
  }
  let nextSeq = 1;
  for (const name of names) {
    const seq = SEQ_PREFIX.exec(name)?.[1];
    if (seq !== undefined) nextSeq = Math.max(nextSeq, Number(seq) + 1);
  }
  for (const name of names.filter((x) => x.endsWith('.tmp'))) {
    await fs.rm(path.join(dir, name), { force: true }).catch(() => undefined);
  }
  return { records: names.filter((x) => x.endsWith('.rec')).sort(), nextSeq };
}
