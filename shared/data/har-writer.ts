/**
 * Writes domains in the dataset layout (the UCI import, test fixtures, the synthetic fallback of `npm start`), with a
 * manifest that the reader accepts: same checks on the way out as on the way in.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ErrorCode, SitekdError } from '../errors';
import type { Domain, WindowSet } from '../ml/types';
import { MANIFEST_FILE } from './data-dir';
import { float32ToLeBytes } from '../float32-le';
import { loadManifest, type DatasetManifest } from './har-manifest';

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

/**
 * Writes `domains` in the layout of shared/data/har.ts (manifest.json written last, via rename, so an
 * interrupted write leaves no manifest rather than one that describes missing files). Returns the manifest as
 * read back, which also proves the output loads.
 */
export function writeDataset(dir: string, spec: DatasetSpec): DatasetManifest {
  const { channels, length } = checkSpec(spec);
  const k = spec.classNames.length;
  fs.mkdirSync(dir, { recursive: true });
  const files: Record<string, unknown>[] = [];
  for (const d of spec.domains) {
    for (const split of ['train', 'test'] as const) {
      files.push(writeWindowSet(dir, d.id, split, d[split], { channels, length, k }));
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

/** Checks what can be checked before writing anything; returns the dataset's [channels, length]. */
function checkSpec(spec: DatasetSpec): { channels: number; length: number } {
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
  return { channels, length };
}

/** Writes one split's samples and labels; returns its manifest `files` entry. */
function writeWindowSet(
  dir: string,
  id: string,
  split: 'train' | 'test',
  ws: WindowSet,
  shape: { channels: number; length: number; k: number },
): Record<string, unknown> {
  const { channels, length, k } = shape;
  const y = checkWindowSet(ws, `domain ${id} ${split}`, channels, length, k);
  const samplesFile = `${id}_${split}.f32`;
  const labelsFile = `${id}_${split}.labels.u8`;
  const xb = float32ToLeBytes(ws.x);
  fs.writeFileSync(path.join(dir, samplesFile), xb);
  fs.writeFileSync(path.join(dir, labelsFile), y);
  const labelCounts = new Array<number>(k).fill(0);
  for (const label of y) labelCounts[label] = (labelCounts[label] as number) + 1;
  return {
    domain: id,
    split,
    samples_file: samplesFile,
    labels_file: labelsFile,
    n: ws.n,
    channels,
    length,
    label_counts: labelCounts,
    sha256_samples: sha256Hex(xb),
    sha256_labels: sha256Hex(y),
  };
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
