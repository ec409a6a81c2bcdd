/**
 * Argument checks for hub/store/sample-store.ts, kept apart so the store reads as storage logic. A batch reaches the
 * store from an MQTT payload that the protocol decoder already validated, but the store is the last line before
 * bytes hit the disk for good, so it checks again what would poison training: sizes and finiteness. Also the
 * check of a site's `meta.json` when it is read back.
 */
import { z } from 'zod';
import { ErrorCode, SitekdError } from '../../shared/errors';
import { SELECTED_BY } from '../../shared/protocol/messages';
import type { SampleStoreOptions } from './sample-store';
import type { SampleBatch, Shape } from './sample-set';

const MAX_ID_CHARS = 256;
/** Leaves room under the usual 255-byte file-name limit. */
const MAX_SITE_DIR_CHARS = 200;

export const DEFAULT_MAX_WINDOWS_PER_SITE = 50_000;
export const DEFAULT_MAX_BYTES_TOTAL = 1024 ** 3; // 1 GiB
export const DEFAULT_MAX_SEEN_IDS = 100_000;

/**
 * A site id as a directory name: percent-encoding with `.` and the other characters encodeURIComponent keeps also
 * escaped, so any id maps to a safe, reversible name made of `[A-Za-z0-9_%-]` (never `.` or `..`).
 * Throws `INPUT_SHAPE` for an empty id, a lone surrogate, or an id too long for a file name.
 */
export function encodeSiteDir(site: string): string {
  let enc: string;
  try {
    enc = encodeURIComponent(site).replace(/[!'()*.~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  } catch {
    throw new SitekdError(ErrorCode.INPUT_SHAPE, 'site id is not valid UTF-16', { details: { site } });
  }
  if (site.length === 0 || enc.length > MAX_SITE_DIR_CHARS) {
    throw new SitekdError(ErrorCode.INPUT_SHAPE, `site id must have 1 to ${MAX_SITE_DIR_CHARS} (encoded) characters`, { details: { site } });
  }
  return enc;
}

/** Whether `dirName` is the directory of `site` (false, not a throw, for ids no directory can have). */
export function isSiteDir(site: string, dirName: string): boolean {
  try {
    return encodeSiteDir(site) === dirName;
  } catch {
    return false;
  }
}

/** Checks a batch; returns the site's directory name. Throws `INPUT_SHAPE` or `INPUT_NONFINITE`. */
export function checkBatch(site: string, b: SampleBatch): string {
  const dir = encodeSiteDir(site);
  const shapeError = (what: string): SitekdError =>
    new SitekdError(ErrorCode.INPUT_SHAPE, `sample batch ${b.batchId} for site ${site}: ${what}`, { details: { site, batchId: b.batchId } });
  for (const [name, id] of [['batchId', b.batchId], ['agent', b.agent], ['modelVersion', b.modelVersion]] as const) {
    if (typeof id !== 'string' || id.length > MAX_ID_CHARS || (name === 'batchId' && id.length === 0)) {
      throw shapeError(`${name} must be a string of ${name === 'batchId' ? 1 : 0} to ${MAX_ID_CHARS} characters`);
    }
  }
  for (const [name, v] of [['n', b.n], ['channels', b.channels], ['windowLength', b.windowLength], ['numClasses', b.numClasses]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw shapeError(`${name} must be a positive integer, got ${v}`);
  }
  const expectWindows = b.n * b.windowLength * b.channels;
  if (b.windows.length !== expectWindows) throw shapeError(`windows has ${b.windows.length} values, expected n·L·C = ${expectWindows}`);
  if (b.logits.length !== b.n * b.numClasses) throw shapeError(`logits has ${b.logits.length} values, expected n·K = ${b.n * b.numClasses}`);
  if (b.windowStarts.length !== b.n) throw shapeError(`windowStarts has ${b.windowStarts.length} entries, expected n = ${b.n}`);
  if (b.selectedBy !== undefined) {
    if (b.selectedBy.length !== b.n) throw shapeError(`selectedBy has ${b.selectedBy.length} entries, expected n = ${b.n}`);
    const bad = b.selectedBy.findIndex((x) => !(SELECTED_BY as readonly string[]).includes(x));
    if (bad >= 0) throw shapeError(`selectedBy[${bad}] must be one of ${SELECTED_BY.join(', ')}`);
  }
  for (const [name, arr] of [['windows', b.windows], ['logits', b.logits], ['windowStarts', b.windowStarts]] as const) {
    const at = findNonFinite(arr);
    if (at >= 0) {
      throw new SitekdError(ErrorCode.INPUT_NONFINITE, `sample batch ${b.batchId} for site ${site}: ${name}[${at}] is not finite`, {
        details: { site, batchId: b.batchId, field: name, index: at },
      });
    }
  }
  return dir;
}

function findNonFinite(arr: ArrayLike<number>): number {
  for (let i = 0; i < arr.length; i++) if (!Number.isFinite(arr[i])) return i;
  return -1;
}

/** Fills defaults and checks bounds. Throws `CONFIG_INVALID`. */
export function checkOptions(o: SampleStoreOptions): Required<SampleStoreOptions> {
  const full: Required<SampleStoreOptions> = {
    now: o.now,
    maxWindowsPerSite: o.maxWindowsPerSite ?? DEFAULT_MAX_WINDOWS_PER_SITE,
    maxBytesTotal: o.maxBytesTotal ?? DEFAULT_MAX_BYTES_TOTAL,
    maxSeenIds: o.maxSeenIds ?? DEFAULT_MAX_SEEN_IDS,
    hygiene: o.hygiene ?? {},
    onImplausible: o.onImplausible ?? (() => undefined),
  };
  for (const key of ['maxWindowsPerSite', 'maxBytesTotal', 'maxSeenIds'] as const) {
    if (!Number.isSafeInteger(full[key]) || full[key] < 1) {
      throw new SitekdError(ErrorCode.CONFIG_INVALID, `sample store option ${key} must be a positive integer, got ${full[key]}`);
    }
  }
  return full;
}

/** `limit` and `afterSeq` of a read. Throws `CONFIG_INVALID`. */
export function checkReadOptions(o: { readonly limit?: number; readonly afterSeq?: number; readonly upToSeq?: number }): void {
  for (const [name, v] of [['limit', o.limit], ['afterSeq', o.afterSeq], ['upToSeq', o.upToSeq]] as const) {
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) {
      throw new SitekdError(ErrorCode.CONFIG_INVALID, `read option ${name} must be a non-negative integer, got ${v}`);
    }
  }
}

const MetaSchema = z.strictObject({
  version: z.literal(1),
  site: z.string().min(1),
  channels: z.number().int().min(1),
  windowLength: z.number().int().min(1),
  numClasses: z.number().int().min(1),
});

/** A site's `meta.json`: the site id and the shape its first batch fixed. */
export function metaJson(site: string, shape: Shape): string {
  return JSON.stringify({ version: 1, site, channels: shape.channels, windowLength: shape.windowLength, numClasses: shape.numClasses });
}

/** Parses `meta.json` of the directory `dirName`; undefined if it is not valid or names another site. */
export function parseMeta(text: string, dirName: string): (Shape & { readonly site: string }) | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = MetaSchema.safeParse(json);
  return parsed.success && isSiteDir(parsed.data.site, dirName) ? parsed.data : undefined;
}
