/**
 * What the sample store (hub/store/sample-store.ts) does at open to rebuild its per-site state from disk: read each
 * `sites/<site>/` directory (meta.json and the segment files of stores written before packs), then the segments of
 * `packs/`, quarantining whatever is corrupt, foreign or repeated, and finally add to the seen log the ids of segments
 * it lacks (a crash between a segment's write and its id's append). Kept apart from the store's running code (commits,
 * reads, eviction) because it runs once, before any of that, and only fills the state in.
 */
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { TMP_SUFFIX, writeFileAtomic } from './atomic-file';
import { decodeSegment } from './sample-segment';
import { loadPacks, readPackSegment, SAME_BATCH, type PackBook, type PackSegment } from './sample-packs';
import type { SegmentRef } from './group-commit';
import type { SeenIds } from './seen-ids';
import { encodeSiteDir, isSiteDir, metaJson, parseMeta } from './sample-store-checks';
import type { Shape } from './sample-set';
import { attachSegment, newSite, segmentProblem, type SiteState } from './sample-site';

/** What loading needs of the store. */
export interface OpenHost {
  readonly dir: string;
  readonly bySite: Map<string, SiteState>;
  readonly packs: PackBook;
  /** Renames a file to `.bad` and records why. */
  quarantine(file: string, reason: string): Promise<void>;
  /** Keeps a copy of a packed segment and tombstones it (`held`: the pack still counts it as live). */
  quarantinePacked(x: PackSegment, reason: string, held: boolean): Promise<void>;
  /** The site's state, created by its first batch; throws `INPUT_SHAPE` if the site stores another shape. */
  siteFor(site: string, dirName: string, shape: Shape): Promise<SiteState>;
}

/** Loads every site directory, then the packs, then repairs the seen log (module comment). */
export async function loadAtOpen(host: OpenHost, seen: SeenIds): Promise<void> {
  for (const e of await fs.readdir(join(host.dir, 'sites'), { withFileTypes: true })) if (e.isDirectory()) await loadSite(host, e.name);
  await loadPackedSegments(host);
  let repaired = false;
  for (const st of host.bySite.values()) {
    for (const s of st.segments.filter((s) => !seen.has(st.site, s.batchId))) {
      seen.remember({ site: st.site, batchId: s.batchId, seq: s.seq, n: s.n });
      repaired = true;
    }
  }
  if (repaired) await seen.compact();
}

async function loadSite(host: OpenHost, dirName: string): Promise<void> {
  const dir = join(host.dir, 'sites', dirName);
  const metaFile = join(dir, 'meta.json');
  const metaText = await fs.readFile(metaFile, 'utf8').catch(() => undefined);
  const meta = metaText === undefined ? undefined : parseMeta(metaText, dirName);
  if (metaText !== undefined && meta === undefined) await host.quarantine(metaFile, 'meta.json is not valid');
  let st: SiteState | undefined = meta === undefined ? undefined : newSite(meta.site, dir, meta);
  for (const name of (await fs.readdir(dir)).sort()) {
    const file = join(dir, name);
    if (name.endsWith(TMP_SUFFIX)) await fs.rm(file, { force: true }); // an interrupted write, never acknowledged
    if (!name.endsWith('.seg')) continue;
    const bytes = await fs.readFile(file).catch(() => new Uint8Array(0)); // unreadable: quarantined as too short
    const res = decodeSegment(bytes);
    if (!res.ok) {
      await host.quarantine(file, res.reason);
      continue;
    }
    const h = res.segment.header;
    const mine = isSiteDir(h.site, dirName);
    if (st === undefined && mine) st = newSite(h.site, dir, h); // no usable meta.json: the oldest segment fixes the shape
    const problem = st === undefined || !mine ? `segment belongs to site ${h.site}` : segmentProblem(st, h);
    if (problem !== undefined || st === undefined) await host.quarantine(file, problem ?? 'no site');
    else attachSegment(st, { file, batchId: h.batchId, seq: h.seq, n: h.n, bytes: bytes.length });
  }
  if (st === undefined) return; // nothing usable in this directory
  if (meta === undefined) await writeFileAtomic(metaFile, metaJson(st.site, st.shape));
  host.bySite.set(st.site, st);
}

/**
 * The segments of `packs/`, checked like segment files: corrupt, foreign or repeated ones are quarantined, except a
 * byte-for-byte copy of a batch already loaded: a compaction stopped between writing its pack and deleting the old
 * ones (hub/store/pack-compaction.ts) left it, and it is tombstoned quietly.
 */
async function loadPackedSegments(host: OpenHost): Promise<void> {
  await loadPacks(host.packs, (x, reason) => host.quarantinePacked(x, reason, false), async (h, x) => {
    let st = host.bySite.get(h.site);
    try {
      st ??= await host.siteFor(h.site, encodeSiteDir(h.site), h);
    } catch (err) {
      return (err as Error).message;
    }
    const twin = st.byBatch.get(h.batchId);
    if (twin !== undefined && (await sameBytes(twin, x.bytes))) return SAME_BATCH;
    const problem = segmentProblem(st, h);
    if (problem === undefined) attachSegment(st, { file: x.file, pack: x.pack, offset: x.offset, batchId: h.batchId, seq: h.seq, n: h.n, bytes: x.bytes.length });
    return problem;
  });
}

async function sameBytes(ref: SegmentRef, bytes: Uint8Array): Promise<boolean> {
  if (ref.bytes !== bytes.length) return false;
  const held = ref.offset === undefined ? await fs.readFile(ref.file).catch(() => undefined) : await readPackSegment(ref.file, ref.offset, ref.bytes);
  return held !== undefined && Buffer.from(held).equals(bytes);
}
