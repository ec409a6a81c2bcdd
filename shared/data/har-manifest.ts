/**
 * `<dataset>/manifest.json`: class and channel names, sampling rate and one entry per file (domain, split, n, shape,
 * file names, optional SHA-256). Read and checked here, before any data file is touched, so a bad manifest is reported
 * as such rather than as a confusing size mismatch later.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { ErrorCode, SitekdError } from '../errors';
import { MANIFEST_FILE, resolveDataDir } from './data-dir';

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
type RawManifest = z.infer<typeof manifestSchema>;

/** DATA_MANIFEST_INVALID for a dataset JSON file (manifest.json, scenarios.json). */
export function invalidDataFile(where: string, why: string): SitekdError {
  return new SitekdError(ErrorCode.DATA_MANIFEST_INVALID, `${where}: ${why}`);
}

/** Parses a dataset JSON file; DATA_MANIFEST_INVALID when it cannot be read or is not JSON. */
export function readJsonFile(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new SitekdError(ErrorCode.DATA_MANIFEST_INVALID, `${file}: not readable JSON`, { cause: err });
  }
}

/** Reads and validates `manifest.json`; `dir` as in {@link resolveDataDir}. */
export function loadManifest(dir: string): DatasetManifest {
  const dataDir = resolveDataDir(dir);
  const file = path.join(dataDir, MANIFEST_FILE);
  const parsed = manifestSchema.safeParse(readJsonFile(file));
  if (!parsed.success) throw invalidDataFile(file, z.prettifyError(parsed.error));
  const m = parsed.data;
  if (m.num_classes !== undefined && m.num_classes !== m.class_names.length) {
    throw invalidDataFile(file, `num_classes ${m.num_classes} != ${m.class_names.length} class_names`);
  }
  const { channels, length } = checkFiles(file, m);
  return {
    dir: dataDir,
    ...(m.dataset !== undefined && { dataset: m.dataset }),
    classNames: m.class_names,
    ...(m.channel_names !== undefined && { channelNames: m.channel_names }),
    ...(m.sampling_rate_hz !== undefined && { samplingRateHz: m.sampling_rate_hz }),
    channels,
    length,
    files: m.files.map(toManifestFile),
  };
}

/** The dataset's one [channels, length], after checking every file has it and every domain has both splits once. */
function checkFiles(file: string, m: RawManifest): { channels: number; length: number } {
  // One input shape for the whole dataset: models are built once and applied to every domain.
  const first = m.files[0] as (typeof m.files)[number];
  const channels = m.channels ?? m.channel_names?.length ?? first.channels;
  const length = m.length ?? first.length;
  if (m.channel_names !== undefined && m.channel_names.length !== channels) {
    throw invalidDataFile(file, `${m.channel_names.length} channel_names but ${channels} channels`);
  }
  const seen = new Set<string>();
  const splits = new Map<string, Set<string>>();
  for (const f of m.files) {
    const where = `files entry ${f.domain}/${f.split}`;
    if (f.channels !== channels || f.length !== length) {
      throw invalidDataFile(file, `${where} has shape [${f.channels}, ${f.length}], expected [${channels}, ${length}]`);
    }
    const key = `${f.domain}\u0000${f.split}`;
    if (seen.has(key)) throw invalidDataFile(file, `${where} listed twice`);
    seen.add(key);
    const s = splits.get(f.domain) ?? new Set<string>();
    s.add(f.split);
    splits.set(f.domain, s);
  }
  for (const [domain, s] of splits) {
    if (s.size !== 2) throw invalidDataFile(file, `domain ${domain} lacks a ${s.has('train') ? 'test' : 'train'} split`);
  }
  return { channels, length };
}

function toManifestFile(f: RawManifest['files'][number]): ManifestFile {
  return {
    domain: f.domain,
    split: f.split,
    n: f.n,
    channels: f.channels,
    length: f.length,
    samplesFile: f.samples_file,
    labelsFile: f.labels_file,
    ...(f.sha256_samples !== undefined && { sha256Samples: f.sha256_samples.toLowerCase() }),
    ...(f.sha256_labels !== undefined && { sha256Labels: f.sha256_labels.toLowerCase() }),
  };
}

/** A manifest as given, or loaded from a directory. */
export function manifestOf(dirOrManifest: string | DatasetManifest): DatasetManifest {
  return typeof dirOrManifest === 'string' ? loadManifest(dirOrManifest) : dirOrManifest;
}

/** Domain ids in manifest order. */
export function listDomains(dirOrManifest: string | DatasetManifest): string[] {
  return [...new Set(manifestOf(dirOrManifest).files.map((f) => f.domain))];
}
