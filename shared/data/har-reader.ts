/**
 * Loads a domain's windows from `<d>_<split>.f32` and `<d>_<split>.labels.u8`. Every file is checked against the
 * manifest before use (size, finiteness, label range) because a silently truncated or NaN-laden domain would only
 * show up much later as a bad accuracy number.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ErrorCode, SitekdError } from '../errors';
import type { Domain, WindowSet } from '../ml/types';
import { float32FromLeBytes } from '../float32-le';
import { listDomains, manifestOf, type DatasetManifest, type ManifestFile } from './har-manifest';

export interface LoadOptions {
  /** Also compare the SHA-256 of each file with the manifest when it has one (slower; off by default). */
  readonly verifyChecksums?: boolean;
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

function loadWindowSet(m: DatasetManifest, f: ManifestFile, opts: LoadOptions): WindowSet {
  const { n, channels, length } = f;
  const samplesPath = path.join(m.dir, f.samplesFile);
  const labelsPath = path.join(m.dir, f.labelsFile);
  const x = float32FromLeBytes(readExact(samplesPath, n * channels * length * 4, opts, f.sha256Samples));
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
