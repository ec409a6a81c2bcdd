/**
 * One self-describing binary model file (docs/conventions.md §4: files describe themselves, after nanoGPT's
 * checkpoints). Layout, both levels plain msgpack maps (`useRecords: false`, docs/ecosystem.md §4.4):
 *
 *   envelope = { format: 'sitekd-model', formatVersion: 1, sha256: hex(sha256(body)), body: bin }
 *   body     = msgpack({ kind, version, createdAt, spec, algorithm, options, hparams, [teacherVersion, source,
 *                        target, seed, backend], metrics, weights: [{ name, dtype: 'float32', shape, data: bin }] })
 *
 * Why hash the body *bytes*: no canonical re-encoding is needed to verify, so the digest cannot drift with msgpackr
 * versions or key order. Why raw little-endian `bin` for weights instead of msgpackr's `moreTypes` extension: any
 * msgpack decoder (e.g. a Python hub) can read it, and we copy into a fresh buffer on decode anyway, which gives an
 * aligned Float32Array (a decoded `bin` is a view at an arbitrary byte offset). Weights are an array, not a map, so
 * their order is explicit on the wire.
 */
import { createHash } from 'node:crypto';
import { Packr } from 'msgpackr';
import { z } from 'zod';
import { ErrorCode, SitekdError } from '../errors';
import type { NamedTensor, NamedWeights } from '../ml/types';

export const ARTIFACT_FORMAT = 'sitekd-model';
export const ARTIFACT_FORMAT_VERSION = 1;

/** Placeholder until the ML core's `ModelSpecSchema` is passed to `decodeArtifact(bytes, { specSchema })`. */
export type ModelSpecLike = Record<string, unknown>;
export type HParamValue = number | string | boolean;

/** What a caller hands to `encodeArtifact`; the codec adds format, formatVersion and sha256. */
export interface ModelArtifact<S = ModelSpecLike> {
  readonly kind: 'teacher' | 'student';
  /** Short id, e.g. `s-2-11-a1b2c3`. */
  readonly version: string;
  /** ISO 8601, e.g. `new Date().toISOString()`. */
  readonly createdAt: string;
  readonly spec: S;
  readonly algorithm: string;
  /** Algorithm flags (docs/unikd.md §2.7). */
  readonly options: Readonly<Record<string, unknown>>;
  readonly hparams: Readonly<Record<string, HParamValue>>;
  readonly teacherVersion?: string | undefined;
  readonly source?: string | undefined;
  readonly target?: string | undefined;
  readonly seed?: number | undefined;
  readonly backend?: string | undefined;
  /** The data set's class names, index = class id (agents put them in their predictions). */
  readonly classNames?: readonly string[] | undefined;
  /** e.g. `{ macroF1: 0.81, accuracy: 0.86 }`; finite numbers only. */
  readonly metrics: Readonly<Record<string, number>>;
  /** ALL weights including BN running statistics, in the model's own order. */
  readonly weights: NamedWeights;
}

/** What `decodeArtifact` returns: the artifact plus its verified identity. */
export interface DecodedArtifact<S = ModelSpecLike> extends ModelArtifact<S> {
  readonly format: typeof ARTIFACT_FORMAT;
  readonly formatVersion: typeof ARTIFACT_FORMAT_VERSION;
  /** Hex sha256 of the body bytes; the artifact's identity (manifests and caches key on it). */
  readonly sha256: string;
}

// Decoded maps are plain objects; msgpackr would give Maps or records otherwise.
const packr = new Packr({ useRecords: false });

// An all-digit key is an array index to JS: objects list those first, so NamedWeights could not keep its order.
const WeightNameSchema = z
  .string()
  .min(1)
  .refine((n) => !/^\d+$/.test(n), { error: 'weight names must not be all digits (JS would reorder them)' });

const WireWeightSchema = z
  .strictObject({
    name: WeightNameSchema,
    dtype: z.literal('float32'),
    shape: z.array(z.number().int().min(0).max(2 ** 31)),
    data: z.instanceof(Uint8Array),
  })
  .refine((w) => w.data.byteLength === product(w.shape) * 4, {
    error: 'weight data length does not match its shape',
    path: ['data'],
  });

const BodySchema = z.strictObject({
  kind: z.enum(['teacher', 'student']),
  version: z.string().min(1).max(200),
  createdAt: z.iso.datetime({ offset: true }),
  spec: z.record(z.string(), z.unknown()),
  algorithm: z.string().min(1),
  options: z.record(z.string(), z.unknown()),
  hparams: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])),
  teacherVersion: z.string().min(1).optional(),
  source: z.string().optional(),
  target: z.string().optional(),
  seed: z.number().int().optional(),
  backend: z.string().optional(),
  classNames: z.array(z.string().min(1).max(64)).max(1000).optional(),
  metrics: z.record(z.string(), z.number()),
  weights: z.array(WireWeightSchema).refine((ws) => new Set(ws.map((w) => w.name)).size === ws.length, {
    error: 'duplicate weight names',
  }),
});
type WireBody = z.infer<typeof BodySchema>;

const EnvelopeSchema = z.strictObject({
  format: z.literal(ARTIFACT_FORMAT),
  formatVersion: z.literal(ARTIFACT_FORMAT_VERSION),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  body: z.instanceof(Uint8Array),
});
type Envelope = z.infer<typeof EnvelopeSchema>;

export interface DecodeOptions<S> {
  /** Validates `spec`; a failure is `MODEL_SPEC_INVALID`. Without it `spec` is only checked to be a map. */
  readonly specSchema: z.ZodType<S>;
}

/** Serialises an artifact. Throws `MODEL_CORRUPT` for input that `decodeArtifact` would reject (e.g. NaN weights). */
export function encodeArtifact(a: ModelArtifact<object>): Uint8Array {
  const wire: Record<string, unknown> = {
    kind: a.kind,
    version: a.version,
    createdAt: a.createdAt,
    spec: a.spec,
    algorithm: a.algorithm,
    options: a.options,
    hparams: a.hparams,
  };
  // Absent optionals are omitted, not packed as msgpackr's `undefined` extension: plain msgpack stays readable.
  for (const key of ['teacherVersion', 'source', 'target', 'seed', 'backend', 'classNames'] as const) {
    if (a[key] !== undefined) wire[key] = a[key];
  }
  wire['metrics'] = a.metrics;
  wire['weights'] = Object.entries(a.weights).map(([name, t]) => toWireWeight(name, t));

  const checked = BodySchema.safeParse(wire);
  if (!checked.success) {
    throw new SitekdError(ErrorCode.MODEL_CORRUPT, 'refusing to encode an invalid model artifact', {
      details: { issues: checked.error.issues },
    });
  }
  // Copies: msgpackr returns views into a shared scratch buffer.
  const body = new Uint8Array(packr.pack(wire));
  const envelope: Envelope = { format: ARTIFACT_FORMAT, formatVersion: ARTIFACT_FORMAT_VERSION, sha256: sha256Hex(body), body };
  return new Uint8Array(packr.pack(envelope));
}

export function decodeArtifact(bytes: Uint8Array): DecodedArtifact;
export function decodeArtifact<S>(bytes: Uint8Array, opts: DecodeOptions<S>): DecodedArtifact<S>;
/**
 * Parses and verifies an artifact. Only `SitekdError` escapes: `MODEL_CORRUPT` (not an artifact, truncated, schema
 * violation, non-finite weight), `MODEL_CHECKSUM` (body digest mismatch), `MODEL_SPEC_INVALID` (spec rejected by
 * `opts.specSchema`).
 */
export function decodeArtifact<S>(bytes: Uint8Array, opts?: DecodeOptions<S>): DecodedArtifact<S | ModelSpecLike> {
  const envelope = readEnvelope(bytes);
  const body = parseOrCorrupt(BodySchema, safeUnpack(envelope.body, 'artifact body'), 'artifact body');
  const weights = fromWireWeights(body.weights);
  let spec: S | ModelSpecLike = body.spec;
  if (opts !== undefined) {
    const r = opts.specSchema.safeParse(body.spec);
    if (!r.success) {
      throw new SitekdError(ErrorCode.MODEL_SPEC_INVALID, 'model spec in artifact is invalid', {
        details: { issues: r.error.issues },
      });
    }
    spec = r.data;
  }
  return {
    ...body,
    spec,
    weights,
    format: ARTIFACT_FORMAT,
    formatVersion: ARTIFACT_FORMAT_VERSION,
    sha256: envelope.sha256,
  };
}

/** The verified sha256 of an encoded artifact (equals `decodeArtifact(bytes).sha256`) without decoding the weights. */
export function artifactDigest(bytes: Uint8Array): string {
  return readEnvelope(bytes).sha256;
}

function readEnvelope(bytes: Uint8Array): Envelope {
  if (!(bytes instanceof Uint8Array)) {
    throw new SitekdError(ErrorCode.MODEL_CORRUPT, 'model artifact must be a Uint8Array');
  }
  const envelope = parseOrCorrupt(EnvelopeSchema, safeUnpack(bytes, 'artifact envelope'), 'artifact envelope');
  const actual = sha256Hex(envelope.body);
  if (actual !== envelope.sha256) {
    throw new SitekdError(ErrorCode.MODEL_CHECKSUM, 'model artifact checksum mismatch', {
      details: { expected: envelope.sha256, actual },
    });
  }
  return envelope;
}

// msgpackr throws plain Errors (and RangeErrors from DataView) on garbage; none of them may escape.
function safeUnpack(bytes: Uint8Array, what: string): unknown {
  try {
    return packr.unpack(bytes);
  } catch (err) {
    throw new SitekdError(ErrorCode.MODEL_CORRUPT, `${what} is not valid msgpack`, { cause: err });
  }
}

function parseOrCorrupt<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    throw new SitekdError(ErrorCode.MODEL_CORRUPT, `${what} does not match the sitekd-model format`, {
      details: { issues: r.error.issues },
    });
  }
  return r.data;
}

function toWireWeight(name: string, t: NamedTensor): Record<string, unknown> {
  if (!isFiniteArray(t.data)) {
    throw new SitekdError(ErrorCode.MODEL_CORRUPT, `refusing to encode non-finite values in weight ${name}`, {
      details: { name },
    });
  }
  // A view, not a copy: packr.pack copies the bytes into its output.
  return { name, dtype: 'float32', shape: [...t.shape], data: float32ToLe(t.data) };
}

function fromWireWeights(ws: WireBody['weights']): NamedWeights {
  const out: Record<string, NamedTensor> = {};
  for (const w of ws) {
    const data = leToFloat32(w.data);
    if (!isFiniteArray(data)) {
      throw new SitekdError(ErrorCode.MODEL_CORRUPT, `weight ${w.name} contains non-finite values`, {
        details: { name: w.name },
      });
    }
    // defineProperty: a weight named `__proto__` must stay data, not replace the prototype.
    Object.defineProperty(out, w.name, {
      value: { shape: w.shape, data },
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

const IS_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function float32ToLe(data: Float32Array): Uint8Array {
  if (IS_LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i] as number, true);
  return out;
}

// Always copies into a fresh ArrayBuffer: the result is aligned and does not pin the (larger) input buffer.
function leToFloat32(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.byteLength / 4);
  if (IS_LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

function isFiniteArray(data: Float32Array): boolean {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) return false;
  }
  return true;
}

function product(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
