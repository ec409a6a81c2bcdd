/**
 * Reader and writer for the plain binary dataset layout of ../shared/data (see its README.md):
 *
 *   <root>/scenarios.json                 { "<DATASET>": { data_dir, scenarios: [{source, target}] } }
 *   <root>/<DATASET>/manifest.json        class_names, channel_names, sampling_rate_hz, files[]
 *   <root>/<DATASET>/<d>_<s>.f32          little-endian float32, row-major [n, channels, length]
 *   <root>/<DATASET>/<d>_<s>.labels.u8    one 0-based class byte per window
 *
 * Every file is checked against the manifest before use (size, finiteness, label range) because a
 * silently truncated or NaN-laden domain would only show up much later as a bad accuracy number.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { ErrorCode, SitekdError } from '../errors';
import type { Domain, WindowSet } from '../ml/types';

export const MANIFEST_FILE = 'manifest.json';
export const SCENARIOS_FILE = 'scenarios.json';
export const DEFAULT_DATASET = 'HAR';

// Float32Array uses the platform byte order; the files are little-endian. Every common platform is
// LE, but a big-endian one falls back to an explicit DataView conversion instead of reading garbage.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export interface ManifestFile {
  readonly domain: string;
  readonly split: 'train' | 'test';
  readonly n: number;
  readonly channels: number;
  readonly length: number;
  readonly samplesFile: string;
  readonly labelsFile: string;
  readonly sha256Samples?: string;
  readonly sha256Labels?: string;
}

export interface DatasetManifest {
  /** Absolute dataset directory the manifest was read from (file names are relative to it). */
  readonly dir: string;
  readonly dataset?: string;
  readonly classNames: readonly string[];
  readonly channelNames?: readonly string[];
  readonly samplingRateHz?: number;
  /** Shared by every file (checked). */
  readonly channels: number;
  readonly length: number;
  readonly files: readonly ManifestFile[];
}

export interface Scenario {
  readonly source: string;
  readonly target: string;
}

export interface LoadOptions {
  /** Also compare the SHA-256 of each file with the manifest when it has one (slower; off by default). */
  readonly verifyChecksums?: boolean;
}

// Only the fields we use; the real manifest carries much more (provenance, stats) which we ignore.
const sha256Schema = z.string().regex(/^[0-9a-f]{64}$/i);
// A bare file name: the manifest must not be able to point outside its own directory.
const fileNameSchema = z
  .string()
  .min(1)
  .refine((f) => path.basename(f) === f && f !== '.' && f !== '..', 'must be a plain file name in the dataset directory');
const fileEntrySchema = z.looseObject({
  domain: z.union([z.string().min(1), z.number().int()]).transform(String),
  split: z.enum(['train', 'test']),
  n: z.number().int().nonnegative(),
  channels: z.number().int().positive(),
  length: z.number().int().positive(),
  samples_file: fileNameSchema,
  labels_file: fileNameSchema,
  sha256_samples: sha256Schema.optional(),
  sha256_labels: sha256Schema.optional(),
});
const manifestSchema = z.looseObject({
  dataset: z.string().optional(),
  // Labels are stored as uint8, so at most 256 classes.
  class_names: z.array(z.string()).min(1).max(256),
  num_classes: z.number().int().positive().optional(),
  channel_names: z.array(z.string()).min(1).optional(),
  channels: z.number().int().positive().optional(),
  length: z.number().int().positive().optional(),
  sampling_rate_hz: z.number().positive().optional(),
  files: z.array(fileEntrySchema).min(1),
});

function exists(p: string): boolean {
  return fs.existsSync(p);
}

/** Walks up from `start` to the first directory holding a package.json (the repo root), if any. */
export function findRepoRoot(start: string = __dirname): string | undefined {
  let dir = path.resolve(start);
  for (;;) {
    if (exists(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** `<repo>/../shared/data`: where the shared real data sits next to the repo checkout. */
export function defaultDataRoot(): string {
  const root = findRepoRoot() ?? process.cwd();
  return path.resolve(root, '..', 'shared', 'data');
}

/**
 * Accepts either a dataset directory (holding manifest.json) or a data root with `<dataset>/`
 * inside; default: {@link defaultDataRoot}. Returns the absolute dataset directory.
 */
export function resolveDataDir(arg?: string, dataset: string = DEFAULT_DATASET): string {
  const base = path.resolve(arg ?? defaultDataRoot());
  const candidates = [base, path.join(base, dataset)];
  for (const dir of candidates) {
    if (exists(path.join(dir, MANIFEST_FILE))) return dir;
  }
  throw new SitekdError(
    ErrorCode.DATA_NOT_FOUND,
    `no ${MANIFEST_FILE} in ${candidates.join(' or ')} (pass a dataset directory or a data root containing ${dataset}/)`,
    { details: { tried: candidates } },
  );
}

function invalid(where: string, why: string): SitekdError {
  return new SitekdError(ErrorCode.DATA_MANIFEST_INVALID, `${where}: ${why}`);
}

/** Reads and validates `manifest.json`; `dir` as in {@link resolveDataDir}. */
export function loadManifest(dir: string): DatasetManifest {
  const dataDir = resolveDataDir(dir);
  const file = path.join(dataDir, MANIFEST_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new SitekdError(ErrorCode.DATA_MANIFEST_INVALID, `${file}: not readable JSON`, { cause: err });
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) throw invalid(file, z.prettifyError(parsed.error));
  const m = parsed.data;

  if (m.num_classes !== undefined && m.num_classes !== m.class_names.length) {
    throw invalid(file, `num_classes ${m.num_classes} != ${m.class_names.length} class_names`);
  }
  // One input shape for the whole dataset: models are built once and applied to every domain.
  const first = m.files[0] as (typeof m.files)[number];
  const channels = m.channels ?? m.channel_names?.length ?? first.channels;
  const length = m.length ?? first.length;
  if (m.channel_names !== undefined && m.channel_names.length !== channels) {
    throw invalid(file, `${m.channel_names.length} channel_names but ${channels} channels`);
  }
  const seen = new Set<string>();
  const splits = new Map<string, Set<string>>();
  for (const f of m.files) {
    const where = `files entry ${f.domain}/${f.split}`;
    if (f.channels !== channels || f.length !== length) {
      throw invalid(file, `${where} has shape [${f.channels}, ${f.length}], expected [${channels}, ${length}]`);
    }
    const key = `${f.domain}\u0000${f.split}`;
    if (seen.has(key)) throw invalid(file, `${where} listed twice`);
    seen.add(key);
    const s = splits.get(f.domain) ?? new Set<string>();
    s.add(f.split);
    splits.set(f.domain, s);
  }
  for (const [domain, s] of splits) {
    if (s.size !== 2) throw invalid(file, `domain ${domain} lacks a ${s.has('train') ? 'test' : 'train'} split`);
  }

  return {
    dir: dataDir,
    ...(m.dataset !== undefined && { dataset: m.dataset }),
    classNames: m.class_names,
    ...(m.channel_names !== undefined && { channelNames: m.channel_names }),
    ...(m.sampling_rate_hz !== undefined && { samplingRateHz: m.sampling_rate_hz }),
    channels,
    length,
    files: m.files.map(
      (f): ManifestFile => ({
        domain: f.domain,
        split: f.split,
        n: f.n,
        channels: f.channels,
        length: f.length,
        samplesFile: f.samples_file,
        labelsFile: f.labels_file,
        ...(f.sha256_samples !== undefined && { sha256Samples: f.sha256_samples.toLowerCase() }),
        ...(f.sha256_labels !== undefined && { sha256Labels: f.sha256_labels.toLowerCase() }),
      }),
    ),
  };
}

function manifestOf(dirOrManifest: string | DatasetManifest): DatasetManifest {
  return typeof dirOrManifest === 'string' ? loadManifest(dirOrManifest) : dirOrManifest;
}

/** Domain ids in manifest order. */
export function listDomains(dirOrManifest: string | DatasetManifest): string[] {
  return [...new Set(manifestOf(dirOrManifest).files.map((f) => f.domain))];
}

/** Reads a file whose size must be exactly `bytes` (checked via stat before reading it whole). */
function readExact(file: string, bytes: number, opts: LoadOptions, sha256: string | undefined): Buffer {
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch (err) {
    throw new SitekdError(ErrorCode.DATA_NOT_FOUND, `${file} is missing`, { cause: err });
  }
  if (size !== bytes) {
    throw new SitekdError(ErrorCode.DATA_TRUNCATED, `${file} has ${size} bytes, the manifest implies ${bytes}`, {
      details: { file, size, expected: bytes },
    });
  }
  const buf = fs.readFileSync(file);
  if (opts.verifyChecksums === true && sha256 !== undefined) {
    const actual = createHash('sha256').update(buf).digest('hex');
    // No dedicated checksum code for data files: a content mismatch is reported like a damaged file.
    if (actual !== sha256) {
      throw new SitekdError(ErrorCode.DATA_TRUNCATED, `${file}: SHA-256 ${actual} does not match the manifest`, {
        details: { file, reason: 'checksum', expected: sha256, actual },
      });
    }
  }
  return buf;
}

/** Copies little-endian float32 bytes into a fresh (hence aligned) Float32Array. */
function toFloat32(buf: Buffer): Float32Array {
  const x = new Float32Array(buf.byteLength / 4);
  if (LITTLE_ENDIAN) {
    new Uint8Array(x.buffer).set(buf);
  } else {
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    for (let i = 0; i < x.length; i++) x[i] = dv.getFloat32(i * 4, true);
  }
  return x;
}

function loadWindowSet(m: DatasetManifest, f: ManifestFile, opts: LoadOptions): WindowSet {
  const { n, channels, length } = f;
  const samplesPath = path.join(m.dir, f.samplesFile);
  const labelsPath = path.join(m.dir, f.labelsFile);
  const x = toFloat32(readExact(samplesPath, n * channels * length * 4, opts, f.sha256Samples));
  const y = new Uint8Array(readExact(labelsPath, n, opts, f.sha256Labels));

  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i] as number)) {
      const w = Math.floor(i / (channels * length));
      const c = Math.floor(i / length) % channels;
      throw new SitekdError(ErrorCode.DATA_NONFINITE, `${samplesPath}: value ${x[i]} at window ${w}, channel ${c}, t ${i % length}`, {
        details: { file: samplesPath, window: w, channel: c, t: i % length },
      });
    }
  }
  const k = m.classNames.length;
  for (let i = 0; i < n; i++) {
    if ((y[i] as number) >= k) {
      throw new SitekdError(ErrorCode.DATA_MANIFEST_INVALID, `${labelsPath}: label ${y[i]} at window ${i} but only ${k} class_names`, {
        details: { file: labelsPath, window: i, label: y[i] },
      });
    }
  }
  return { n, channels, length, x, y };
}

/** Loads one domain's train and test windows. Unknown id → DATA_UNKNOWN_DOMAIN. */
export function loadDomain(dirOrManifest: string | DatasetManifest, id: string, opts: LoadOptions = {}): Domain {
  const m = manifestOf(dirOrManifest);
  const train = m.files.find((f) => f.domain === id && f.split === 'train');
  const test = m.files.find((f) => f.domain === id && f.split === 'test');
  if (train === undefined || test === undefined) {
    const known = listDomains(m);
    throw new SitekdError(ErrorCode.DATA_UNKNOWN_DOMAIN, `unknown domain "${id}" in ${m.dir}; known: ${known.join(', ')}`, {
      details: { id, known },
    });
  }
  return { id, train: loadWindowSet(m, train, opts), test: loadWindowSet(m, test, opts) };
}

/** Loads several domains (default: all, in manifest order) reading the manifest once. */
export function loadDomains(dirOrManifest: string | DatasetManifest, ids?: readonly string[], opts: LoadOptions = {}): Domain[] {
  const m = manifestOf(dirOrManifest);
  return (ids ?? listDomains(m)).map((id) => loadDomain(m, id, opts));
}

const scenarioIdSchema = z.union([z.string().min(1), z.number().int()]).transform(String);
const scenarioEntrySchema = z.looseObject({
  data_dir: z.string().optional(),
  scenarios: z.array(z.looseObject({ source: scenarioIdSchema, target: scenarioIdSchema })),
});

/**
 * Source→target pairs from the data root's scenarios.json. The real file is keyed by dataset name:
 * `{ "source_of_scenarios": "...", "HAR": { "data_dir": "HAR", "scenarios": [{ "source": "2",
 * "target": "11", "complete": true, "missing": [] }, ...] } }`. `dir` may be the root or the
 * dataset directory; scenarios.json is looked for in the dataset directory, then its parent.
 */
export function loadScenarios(dir: string, dataset: string = DEFAULT_DATASET): Scenario[] {
  const dataDir = resolveDataDir(dir, dataset);
  const files = [path.join(dataDir, SCENARIOS_FILE), path.join(path.dirname(dataDir), SCENARIOS_FILE)];
  const file = files.find(exists);
  if (file === undefined) {
    throw new SitekdError(ErrorCode.DATA_NOT_FOUND, `no ${SCENARIOS_FILE} in ${files.join(' or ')}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new SitekdError(ErrorCode.DATA_MANIFEST_INVALID, `${file}: not readable JSON`, { cause: err });
  }
  const root = z.record(z.string(), z.unknown()).safeParse(raw);
  if (!root.success) throw invalid(file, 'expected an object keyed by dataset name');
  // Key by the dataset name, else by the directory name, else by a matching data_dir.
  const dirName = path.basename(dataDir);
  const byDataDir = Object.values(root.data).find((v) => scenarioEntrySchema.safeParse(v).data?.data_dir === dirName);
  const entry = root.data[dataset] ?? root.data[dirName] ?? byDataDir;
  if (entry === undefined) {
    throw new SitekdError(ErrorCode.DATA_NOT_FOUND, `${file} has no scenarios for dataset ${dataset}`);
  }
  const parsed = scenarioEntrySchema.safeParse(entry);
  if (!parsed.success) throw invalid(file, z.prettifyError(parsed.error));
  return parsed.data.scenarios.map((s) => ({ source: s.source, target: s.target }));
}

export interface DatasetSpec {
  /** Stored as the manifest's `dataset`. */
  readonly name?: string;
  readonly classNames: readonly string[];
  readonly channelNames?: readonly string[];
  readonly samplingRateHz?: number;
  /** Every window set must be labelled and share one [channels, length]. */
  readonly domains: readonly Domain[];
  /** Extra top-level manifest fields (provenance, notes); cannot override the ones we write. */
  readonly extra?: Record<string, unknown>;
}

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function sha256Hex(buf: Uint8Array): string {
  return createHash('sha256').update(buf).digest('hex');
}

function float32ToLeBytes(x: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  const out = new Uint8Array(x.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < x.length; i++) dv.setFloat32(i * 4, x[i] as number, true);
  return out;
}

function checkWindowSet(ws: WindowSet, where: string, channels: number, length: number, k: number): Uint8Array {
  if (ws.channels !== channels || ws.length !== length) {
    throw new SitekdError(ErrorCode.INPUT_SHAPE, `${where}: shape [${ws.channels}, ${ws.length}], expected [${channels}, ${length}]`);
  }
  if (!Number.isInteger(ws.n) || ws.n < 0 || ws.x.length !== ws.n * channels * length) {
    throw new SitekdError(ErrorCode.INPUT_SHAPE, `${where}: x has ${ws.x.length} values, expected n·C·L = ${ws.n * channels * length}`);
  }
  if (ws.y === undefined || ws.y.length !== ws.n) {
    throw new SitekdError(ErrorCode.INPUT_SHAPE, `${where}: needs ${ws.n} labels, got ${ws.y?.length ?? 'none'}`);
  }
  for (let i = 0; i < ws.x.length; i++) {
    if (!Number.isFinite(ws.x[i] as number)) throw new SitekdError(ErrorCode.DATA_NONFINITE, `${where}: non-finite value at index ${i}`);
  }
  for (let i = 0; i < ws.n; i++) {
    if ((ws.y[i] as number) >= k) throw new SitekdError(ErrorCode.DATA_MANIFEST_INVALID, `${where}: label ${ws.y[i]} ≥ ${k} classes`);
  }
  return ws.y;
}

/**
 * Writes `domains` in the layout above (manifest.json written last, via rename, so an interrupted
 * write leaves no manifest rather than one that describes missing files). Returns the manifest as
 * read back, which also proves the output loads.
 */
export function writeDataset(dir: string, spec: DatasetSpec): DatasetManifest {
  const k = spec.classNames.length;
  if (k === 0 || k > 256) throw new SitekdError(ErrorCode.INPUT_SHAPE, `need 1..256 class names, got ${k}`);
  const first = spec.domains[0];
  if (first === undefined) throw new SitekdError(ErrorCode.INPUT_SHAPE, 'writeDataset needs at least one domain');
  const { channels, length } = first.train;
  if (spec.channelNames !== undefined && spec.channelNames.length !== channels) {
    throw new SitekdError(ErrorCode.INPUT_SHAPE, `${spec.channelNames.length} channel names for ${channels} channels`);
  }
  const ids = new Set<string>();
  for (const d of spec.domains) {
    // Ids become file names: keep them portable and unable to escape the directory.
    if (!SAFE_ID.test(d.id)) throw new SitekdError(ErrorCode.INPUT_SHAPE, `domain id "${d.id}" must match ${SAFE_ID}`);
    if (ids.has(d.id)) throw new SitekdError(ErrorCode.INPUT_SHAPE, `domain id "${d.id}" appears twice`);
    ids.add(d.id);
  }

  fs.mkdirSync(dir, { recursive: true });
  const files: Record<string, unknown>[] = [];
  for (const d of spec.domains) {
    for (const split of ['train', 'test'] as const) {
      const ws = d[split];
      const y = checkWindowSet(ws, `domain ${d.id} ${split}`, channels, length, k);
      const samplesFile = `${d.id}_${split}.f32`;
      const labelsFile = `${d.id}_${split}.labels.u8`;
      const xb = float32ToLeBytes(ws.x);
      fs.writeFileSync(path.join(dir, samplesFile), xb);
      fs.writeFileSync(path.join(dir, labelsFile), y);
      const labelCounts = new Array<number>(k).fill(0);
      for (const label of y) labelCounts[label] = (labelCounts[label] as number) + 1;
      files.push({
        domain: d.id,
        split,
        samples_file: samplesFile,
        labels_file: labelsFile,
        n: ws.n,
        channels,
        length,
        label_counts: labelCounts,
        sha256_samples: sha256Hex(xb),
        sha256_labels: sha256Hex(y),
      });
    }
  }
  const manifest = {
    ...spec.extra,
    ...(spec.name !== undefined && { dataset: spec.name }),
    channels,
    ...(spec.channelNames !== undefined && { channel_names: spec.channelNames }),
    length,
    ...(spec.samplingRateHz !== undefined && { sampling_rate_hz: spec.samplingRateHz }),
    num_classes: k,
    class_names: spec.classNames,
    format: {
      samples_file: '<domain>_<split>.f32: raw little-endian float32, row-major [n, channels, length]',
      labels_file: '<domain>_<split>.labels.u8: raw uint8, one 0-based class index per window',
    },
    files,
  };
  const tmp = path.join(dir, `.${MANIFEST_FILE}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, `${JSON.stringify(manifest, null, 1)}\n`);
  fs.renameSync(tmp, path.join(dir, MANIFEST_FILE));
  return loadManifest(dir);
}
