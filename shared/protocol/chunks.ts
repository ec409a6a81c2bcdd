/**
 * Chunked model transfer (docs/ecosystem.md §3.5, after AWS IoT MQTT file delivery): the hub splits a model into
 * chunks under the broker's packet limit and lists each chunk's sha256 in the signed manifest; an agent collects
 * chunks in any order, checks each one on arrival against that list, and assembles only when all are there and the
 * whole matches the manifest's size and sha256. A chunk that fails its check is rejected and counted, never stored,
 * so a corrupt or hostile chunk cannot poison a transfer: the good copy can still arrive later.
 */
import { createHash } from 'node:crypto';
import { ErrorCode, SitekdError } from '../errors';
import type { ModelManifest } from './messages';
import { fail, ok, type Result } from './result';
import { MAX_CHUNKS } from './topics';

/** A safe default chunk size (docs/ecosystem.md §3.5): far below AWS IoT's 128 KB and Mosquitto's advertised 200,000. */
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
/** The largest MQTT control packet: 1 fixed-header byte + 4 remaining-length bytes + 268,435,455 (MQTT 3.1.1 §2.2.3). */
const MQTT_MAX_PACKET = 268_435_460;
/**
 * Bytes of a PUBLISH that are not payload, besides the topic: fixed header 1 + remaining length ≤ 4 + topic length 2 +
 * packet id 2 (QoS 1), plus room for MQTT 5 properties (property length, message expiry, content type, a user
 * property or two).
 */
const PUBLISH_OVERHEAD = 1 + 4 + 2 + 2 + 128;

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The largest chunk payload whose PUBLISH on a topic of `topicLength` bytes fits `brokerMaxPacket` (undefined = no limit). */
export function maxChunkSize(brokerMaxPacket: number | undefined, topicLength: number): number {
  const limit = brokerMaxPacket ?? MQTT_MAX_PACKET;
  if (!Number.isInteger(limit) || limit < 1 || !Number.isInteger(topicLength) || topicLength < 1) {
    throw new SitekdError(ErrorCode.CONFIG_INVALID, `invalid packet limit ${limit} or topic length ${topicLength}`);
  }
  const room = Math.min(limit, MQTT_MAX_PACKET) - PUBLISH_OVERHEAD - topicLength;
  if (room < 1) {
    throw new SitekdError(ErrorCode.CONFIG_INVALID, `a broker packet limit of ${limit} bytes leaves no room for a chunk`, {
      details: { brokerMaxPacket: limit, topicLength },
    });
  }
  return room;
}

export interface SplitChunks {
  /** Views into the input (no copy), in order. */
  readonly chunks: readonly Uint8Array[];
  readonly chunkSha256: readonly string[];
  readonly sha256: string;
  readonly size: number;
  readonly chunkSize: number;
}

/** `bytes` cut into ⌈size / chunkSize⌉ chunks, with every hash a manifest needs. */
export function splitChunks(bytes: Uint8Array, chunkSize: number): SplitChunks {
  if (!Number.isInteger(chunkSize) || chunkSize < 1) {
    throw new SitekdError(ErrorCode.CONFIG_INVALID, `chunk size must be a positive integer, got ${chunkSize}`);
  }
  if (bytes.byteLength === 0) throw new SitekdError(ErrorCode.CONFIG_INVALID, 'cannot split an empty model');
  const n = Math.ceil(bytes.byteLength / chunkSize);
  if (n > MAX_CHUNKS) {
    throw new SitekdError(ErrorCode.CONFIG_INVALID, `${n} chunks exceed the limit of ${MAX_CHUNKS}; use larger chunks`);
  }
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < n; i++) chunks.push(bytes.subarray(i * chunkSize, Math.min((i + 1) * chunkSize, bytes.byteLength)));
  return { chunks, chunkSha256: chunks.map(sha256Hex), sha256: sha256Hex(bytes), size: bytes.byteLength, chunkSize };
}

export type ChunkAddResult =
  | { readonly status: 'stored' | 'duplicate' }
  | { readonly status: 'rejected'; readonly error: SitekdError };

/** The manifest fields a transfer needs. */
export type ChunkPlan = Pick<ModelManifest, 'sha256' | 'size' | 'chunkSize' | 'chunks' | 'chunkSha256'>;

/**
 * Collects the chunks of one model version. Resuming a cut transfer = creating an assembler for the same manifest
 * and adding the chunks already saved (each is checked again), then fetching `missing()`.
 */
export class ChunkAssembler {
  readonly plan: ChunkPlan;
  private readonly parts: Array<Uint8Array | undefined>;
  private storedCount = 0;
  private rejectedCount = 0;
  private duplicateCount = 0;

  constructor(plan: ChunkPlan) {
    // The schema already checks this for decoded manifests; a hand-built plan gets the same check here.
    if (plan.chunks !== Math.ceil(plan.size / plan.chunkSize) || plan.chunkSha256.length !== plan.chunks || plan.chunks > MAX_CHUNKS) {
      throw new SitekdError(ErrorCode.MSG_SCHEMA, 'manifest chunk fields are inconsistent', {
        details: { size: plan.size, chunkSize: plan.chunkSize, chunks: plan.chunks, hashes: plan.chunkSha256.length },
      });
    }
    this.plan = plan;
    this.parts = new Array<Uint8Array | undefined>(plan.chunks).fill(undefined);
  }

  /** The byte length chunk `index` must have. */
  expectedLength(index: number): number {
    const { size, chunkSize, chunks } = this.plan;
    return index === chunks - 1 ? size - chunkSize * (chunks - 1) : chunkSize;
  }

  /** Checks and keeps one chunk (a copy). Never throws: chunks arrive from the broker. */
  add(index: number, bytes: Uint8Array): ChunkAddResult {
    const reject = (reason: string, message: string): ChunkAddResult => {
      this.rejectedCount++;
      return { status: 'rejected', error: new SitekdError(ErrorCode.MODEL_CHECKSUM, message, { details: { index, reason } }) };
    };
    if (!Number.isInteger(index) || index < 0 || index >= this.plan.chunks) {
      return reject('index', `chunk index ${index} is outside 0..${this.plan.chunks - 1}`);
    }
    if (this.parts[index] !== undefined) {
      this.duplicateCount++;
      return { status: 'duplicate' };
    }
    if (!(bytes instanceof Uint8Array) || bytes.byteLength !== this.expectedLength(index)) {
      return reject('size', `chunk ${index} has ${bytes?.byteLength} bytes, expected ${this.expectedLength(index)}`);
    }
    if (sha256Hex(bytes) !== this.plan.chunkSha256[index]) return reject('sha256', `chunk ${index} does not match its sha256`);
    this.parts[index] = bytes.slice();
    this.storedCount++;
    return { status: 'stored' };
  }

  has(index: number): boolean {
    return this.parts[index] !== undefined;
  }

  /** Indices still needed, ascending. */
  missing(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.parts.length; i++) if (this.parts[i] === undefined) out.push(i);
    return out;
  }

  isComplete(): boolean {
    return this.storedCount === this.plan.chunks;
  }

  get stored(): number {
    return this.storedCount;
  }

  /** Chunks refused (bad index, size or hash) so far. */
  get rejected(): number {
    return this.rejectedCount;
  }

  get duplicates(): number {
    return this.duplicateCount;
  }

  /** The whole model once every chunk is in and it matches the manifest's size and sha256; MODEL_CHECKSUM otherwise. */
  assemble(): Result<Uint8Array> {
    const missing = this.missing();
    if (missing.length > 0) {
      return fail(
        new SitekdError(ErrorCode.MODEL_CHECKSUM, `${missing.length} of ${this.plan.chunks} chunks are missing`, {
          details: { reason: 'incomplete', missing: missing.slice(0, 100), missingCount: missing.length },
        }),
      );
    }
    const out = new Uint8Array(this.plan.size);
    let at = 0;
    for (const part of this.parts) {
      if (part === undefined || at + part.byteLength > out.byteLength) break;
      out.set(part, at);
      at += part.byteLength;
    }
    if (at !== this.plan.size) {
      return fail(new SitekdError(ErrorCode.MODEL_CHECKSUM, `assembled ${at} bytes, manifest says ${this.plan.size}`, { details: { reason: 'size' } }));
    }
    if (sha256Hex(out) !== this.plan.sha256) {
      return fail(new SitekdError(ErrorCode.MODEL_CHECKSUM, 'assembled model does not match the manifest sha256', { details: { reason: 'sha256' } }));
    }
    return ok(out);
  }
}
